"""caseload: each student's assigned counselor, and users' saved views of the student list

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 16:45:00

- counselor_assignment: at most one counselor per student (the student's row is the key), who
  assigned them and when; removed with the student;
- saved_view: a user's named filter of /students (the query string without a name search), one
  name per user (unique index: a double click saves it once).
"""
import sqlalchemy as sa
from alembic import op

from school_prevention.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'counselor_assignment',
        sa.Column('student_id', sa.Integer(), nullable=False),
        sa.Column('counselor_id', sa.Integer(), nullable=False),
        sa.Column('assigned_by_id', sa.Integer(), nullable=True),
        sa.Column('assigned_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['student_id'], ['student.id'],
                                name=op.f('fk_counselor_assignment_student_id_student'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['counselor_id'], ['user_account.id'],
                                name=op.f('fk_counselor_assignment_counselor_id_user_account')),
        sa.ForeignKeyConstraint(['assigned_by_id'], ['user_account.id'],
                                name=op.f('fk_counselor_assignment_assigned_by_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('student_id', name=op.f('pk_counselor_assignment')),
    )
    op.create_index(op.f('ix_counselor_assignment_counselor_id'), 'counselor_assignment', ['counselor_id'],
                    unique=False)
    op.create_table(
        'saved_view',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('query', sa.String(length=1000), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_saved_view_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_view')),
        sa.UniqueConstraint('user_id', 'name', name='uq_saved_view_user_id_name'),
    )
    op.create_index(op.f('ix_saved_view_user_id'), 'saved_view', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_saved_view_user_id'), table_name='saved_view')
    op.drop_table('saved_view')
    op.drop_index(op.f('ix_counselor_assignment_counselor_id'), table_name='counselor_assignment')
    op.drop_table('counselor_assignment')
