"""case work guards: a student is screened with an instrument at most once a day

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 15:00:00

The services refuse a second identical screening under the student's row lock; this unique index
is the backstop. Before it, two identical requests at the same moment on PostgreSQL could both
save: such copies must be looked at by a person (which one was meant?), so the upgrade stops and
names them instead of choosing.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

COLUMNS = ['student_id', 'instrument_id', 'screened_on']


def upgrade():
    copies = op.get_bind().execute(sa.text(
        "SELECT min(id), count(*) FROM screening GROUP BY student_id, instrument_id, screened_on "
        "HAVING count(*) > 1 ORDER BY min(id)")).all()
    if copies:
        listed = ", ".join(f"#{first} ({n} copies)" for first, n in copies[:20])
        raise RuntimeError(
            f"{len(copies)} screening(s) were recorded more than once for the same student, instrument and day: "
            f"{listed}{' …' if len(copies) > 20 else ''}. Delete the copies that were not meant (keep one of each), "
            "then run the upgrade again.")
    op.create_index('uq_screening_student_id_instrument_id_screened_on', 'screening', COLUMNS, unique=True)


def downgrade():
    op.drop_index('uq_screening_student_id_instrument_id_screened_on', table_name='screening')
