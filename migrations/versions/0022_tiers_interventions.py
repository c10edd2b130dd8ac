"""tiers and intervention plans: a student's MTSS tier with its history, plans with progress data points

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 16:45:00

- student_tier: a student's current tier (no row: tier 1) and how many times it changed (version);
- tier_change: every move (tier, previous tier, reason, who, when); unique (student_id, version), so
  two counselors moving one student at the same moment write one change;
- intervention_plan: goal, measure, baseline and target, start and review dates, status, the
  counselor responsible; intervention_plan_program: the programs that deliver it (fidelity);
- plan_progress: progress-monitoring data points, one per plan and day (unique index).
"""
import sqlalchemy as sa
from alembic import op

from school_prevention.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

PLAN_STATUSES = "status IN ('active', 'met', 'not_met', 'discontinued')"


def upgrade():
    op.create_table(
        'student_tier',
        sa.Column('student_id', sa.Integer(), nullable=False),
        sa.Column('tier', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('changed_at', UTCDateTime(), nullable=False),
        sa.Column('changed_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('tier IN (1, 2, 3)', name=op.f('ck_student_tier_tier_known')),
        sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_student_tier_student_id_student'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['changed_by_id'], ['user_account.id'],
                                name=op.f('fk_student_tier_changed_by_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('student_id', name=op.f('pk_student_tier')),
    )
    op.create_index('ix_student_tier_tier', 'student_tier', ['tier'], unique=False)
    op.create_table(
        'tier_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('student_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('tier', sa.Integer(), nullable=False),
        sa.Column('previous_tier', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('changed_at', UTCDateTime(), nullable=False),
        sa.Column('changed_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('tier IN (1, 2, 3)', name=op.f('ck_tier_change_tier_known')),
        sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_tier_change_student_id_student'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['changed_by_id'], ['user_account.id'],
                                name=op.f('fk_tier_change_changed_by_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tier_change')),
    )
    op.create_index('uq_tier_change_student_id_version', 'tier_change', ['student_id', 'version'], unique=True)
    op.create_table(
        'intervention_plan',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('student_id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('counselor_id', sa.Integer(), nullable=True),
        sa.Column('tier', sa.Integer(), nullable=False),
        sa.Column('goal', sa.Text(), nullable=False),
        sa.Column('measure', sa.String(length=200), nullable=False),
        sa.Column('baseline', sa.Float(), nullable=False),
        sa.Column('target', sa.Float(), nullable=False),
        sa.Column('started_on', sa.Date(), nullable=False),
        sa.Column('review_on', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('closed_at', UTCDateTime(), nullable=True),
        sa.Column('closed_by_id', sa.Integer(), nullable=True),
        sa.Column('review_note', sa.Text(), nullable=True),
        sa.CheckConstraint(PLAN_STATUSES, name=op.f('ck_intervention_plan_status_known')),
        sa.CheckConstraint('review_on >= started_on', name=op.f('ck_intervention_plan_review_after_start')),
        sa.CheckConstraint('baseline <> target', name=op.f('ck_intervention_plan_target_differs')),
        sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_intervention_plan_student_id_student')),
        sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_intervention_plan_school_id_school')),
        sa.ForeignKeyConstraint(['counselor_id'], ['user_account.id'],
                                name=op.f('fk_intervention_plan_counselor_id_user_account'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['closed_by_id'], ['user_account.id'],
                                name=op.f('fk_intervention_plan_closed_by_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_intervention_plan')),
    )
    op.create_index('ix_intervention_plan_student_id', 'intervention_plan', ['student_id'], unique=False)
    op.create_index('ix_intervention_plan_status_review_on', 'intervention_plan', ['status', 'review_on'], unique=False)
    op.create_table(
        'intervention_plan_program',
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['intervention_plan.id'],
                                name=op.f('fk_intervention_plan_program_plan_id_intervention_plan'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['program_id'], ['program.id'],
                                name=op.f('fk_intervention_plan_program_program_id_program'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('plan_id', 'program_id', name=op.f('pk_intervention_plan_program')),
    )
    op.create_table(
        'plan_progress',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('measured_on', sa.Date(), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['intervention_plan.id'],
                                name=op.f('fk_plan_progress_plan_id_intervention_plan'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'],
                                name=op.f('fk_plan_progress_recorded_by_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_progress')),
    )
    op.create_index('uq_plan_progress_plan_id_measured_on', 'plan_progress', ['plan_id', 'measured_on'], unique=True)


def downgrade():
    op.drop_index('uq_plan_progress_plan_id_measured_on', table_name='plan_progress')
    op.drop_table('plan_progress')
    op.drop_table('intervention_plan_program')
    op.drop_index('ix_intervention_plan_status_review_on', table_name='intervention_plan')
    op.drop_index('ix_intervention_plan_student_id', table_name='intervention_plan')
    op.drop_table('intervention_plan')
    op.drop_index('uq_tier_change_student_id_version', table_name='tier_change')
    op.drop_table('tier_change')
    op.drop_index('ix_student_tier_tier', table_name='student_tier')
    op.drop_table('student_tier')
