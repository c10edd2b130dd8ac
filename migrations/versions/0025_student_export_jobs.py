"""student-level exports made by a job: the queue, progress and the encrypted file

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 18:00:00

- student_export: one row per export asked for (what, by whom, why), its claim and progress, and
  the finished file as Fernet ciphertext (SP_DATA_KEY) until it expires; the disclosure it made.
"""
import sqlalchemy as sa
from alembic import op

from school_prevention.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'student_export',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=False),
        sa.Column('dataset', sa.String(length=20), nullable=False),
        sa.Column('fmt', sa.String(length=8), nullable=False),
        sa.Column('level', sa.String(length=20), nullable=True),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('purpose', sa.Text(), nullable=False),
        sa.Column('requested_ip', sa.String(length=64), nullable=True),
        sa.Column('queued_at', UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('claimed_by', sa.String(length=255), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('heartbeat_at', UTCDateTime(), nullable=True),
        sa.Column('rows_done', sa.Integer(), nullable=False),
        sa.Column('rows_total', sa.Integer(), nullable=False),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.Column('expires_at', UTCDateTime(), nullable=True),
        sa.Column('content', sa.Text(), nullable=True),
        sa.Column('size_bytes', sa.Integer(), nullable=True),
        sa.Column('file_name', sa.String(length=120), nullable=True),
        sa.Column('disclosure_id', sa.Integer(), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'],
                                name=op.f('fk_student_export_requested_by_id_user_account')),
        sa.ForeignKeyConstraint(['disclosure_id'], ['disclosure.id'],
                                name=op.f('fk_student_export_disclosure_id_disclosure')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_student_export')),
    )
    op.create_index(op.f('ix_student_export_requested_by_id'), 'student_export', ['requested_by_id'], unique=False)
    op.create_index('ix_student_export_status_queued_at', 'student_export', ['status', 'queued_at'], unique=False)


def downgrade():
    op.drop_index('ix_student_export_status_queued_at', table_name='student_export')
    op.drop_index(op.f('ix_student_export_requested_by_id'), table_name='student_export')
    op.drop_table('student_export')
