"""reports: indexes for the coverage aggregates

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 12:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_student_school_id_grade_is_active', 'student', ['school_id', 'grade', 'is_active'])
    op.create_index('ix_risk_flag_status_student_id', 'risk_flag', ['status', 'student_id', 'severity', 'category_id'])
    op.create_index('ix_checkin_plan_id_status_due_at', 'checkin', ['plan_id', 'status', 'due_at'])
    op.create_index('ix_checkin_school_id_due_at', 'checkin',
                    ['school_id', 'due_at', 'status', 'completed_at', 'outcome', 'updated_at'])


def downgrade():
    op.drop_index('ix_checkin_school_id_due_at', table_name='checkin')
    op.drop_index('ix_checkin_plan_id_status_due_at', table_name='checkin')
    op.drop_index('ix_risk_flag_status_student_id', table_name='risk_flag')
    op.drop_index('ix_student_school_id_grade_is_active', table_name='student')
