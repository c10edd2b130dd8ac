"""sweeps: overdue episodes, queued re-planning, plans ended because the student left

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 17:00:00

- overdue_episode: a stretch in which a student's check-ins were overdue long enough to tell the
  principal; one open episode per student (partial unique index). Principals are told once per episode.
- replan_request: a re-placement of every active plan queued by a change to the non-school days and
  run by the checkins.replan job; at most one queued at a time (partial unique index).
- ix_notification_subject: what the reminder sweeps already made about a check-in or a match, so a
  sweep inserts only new rows.
- checkin_plan.ended_reason: "student_left" when the roster import deactivated the student.
No audit rows are written here.
"""
import sqlalchemy as sa
from alembic import op

from school_prevention.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

OPEN = "ended_at IS NULL"
QUEUED = "state = 'queued'"


def upgrade():
    op.create_index('ix_notification_subject', 'notification', ['subject_type', 'subject_id'], unique=False)
    op.add_column('checkin_plan', sa.Column('ended_reason', sa.String(length=20), nullable=True))
    op.create_table(
        'overdue_episode',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('student_id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('first_due_at', UTCDateTime(), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('ended_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_overdue_episode_student_id_student')),
        sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_overdue_episode_school_id_school')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_overdue_episode')),
    )
    op.create_index(op.f('ix_overdue_episode_student_id'), 'overdue_episode', ['student_id'], unique=False)
    op.create_index('uq_overdue_episode_open', 'overdue_episode', ['student_id'], unique=True,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.create_table(
        'replan_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('requested_at', UTCDateTime(), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=True),
        sa.Column('heartbeat_at', UTCDateTime(), nullable=True),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.Column('last_plan_id', sa.Integer(), nullable=False),
        sa.Column('plans_done', sa.Integer(), nullable=False),
        sa.Column('changed', sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('queued', 'running', 'done')", name=op.f('ck_replan_request_state_known')),
        sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'],
                                name=op.f('fk_replan_request_requested_by_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_replan_request')),
    )
    op.create_index('uq_replan_request_queued', 'replan_request', ['state'], unique=True,
                    postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))


def downgrade():
    op.drop_index('uq_replan_request_queued', table_name='replan_request')
    op.drop_table('replan_request')
    op.drop_index('uq_overdue_episode_open', table_name='overdue_episode')
    op.drop_index(op.f('ix_overdue_episode_student_id'), table_name='overdue_episode')
    op.drop_table('overdue_episode')
    with op.batch_alter_table('checkin_plan', schema=None) as batch_op:
        batch_op.drop_column('ended_reason')
    op.drop_index('ix_notification_subject', table_name='notification')
