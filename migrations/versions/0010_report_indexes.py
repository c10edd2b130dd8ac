"""report indexes: current flags only (partial), where a flagged student is, seats per week

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 13:00:00

"""
import sqlalchemy as sa
from alembic import op

# measures.is_current() repeats this condition literally: SQLite uses a partial index only then.
CURRENT_FLAG_WHERE = "status IN ('open', 'monitoring')"


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_risk_flag_status_student_id', table_name='risk_flag')
    op.create_index('ix_risk_flag_current', 'risk_flag', ['student_id', 'category_id', 'severity', 'status'],
                    sqlite_where=sa.text(CURRENT_FLAG_WHERE), postgresql_where=sa.text(CURRENT_FLAG_WHERE))
    op.create_index('ix_student_id_is_active_school_id_grade', 'student', ['id', 'is_active', 'school_id', 'grade'])
    op.create_index('ix_enrollment_program_id_started_at', 'enrollment', ['program_id', 'started_at', 'status'])


def downgrade():
    op.drop_index('ix_enrollment_program_id_started_at', table_name='enrollment')
    op.drop_index('ix_student_id_is_active_school_id_grade', table_name='student')
    op.drop_index('ix_risk_flag_current', table_name='risk_flag')
    op.create_index('ix_risk_flag_status_student_id', 'risk_flag', ['status', 'student_id', 'severity', 'category_id'])
