"""access requests: grants of access to case data proposed by an admin, decided by a district user

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 10:00:00

- access_request: one proposed change to an account (a counselor, principal or district role, a
  school, the student-level export or privacy-officer grant, a temporary password (its hash only, while
  pending), an emailed link, a second-factor reset, a reactivation), who proposed it and when, and its
  decision (approved / rejected / withdrawn) by whom, when and why; one pending proposal of a kind
  and value per account (partial unique index).
Accounts keep the access they have: it was given before two people were needed, and the audit trail
records by whom. No audit rows are written here.
"""
import sqlalchemy as sa
from alembic import op

from school_prevention.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"
KINDS = ('role', 'school', 'student_export', 'privacy_officer', 'password', 'reset_link', 'second_factor',
         'reactivate')


def upgrade():
    op.create_table(
        'access_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('value', sa.String(length=40), server_default='', nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=True),
        sa.Column('password_hash', sa.String(length=255), nullable=True),
        sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
        sa.Column('proposed_by_id', sa.Integer(), nullable=True),
        sa.Column('proposed_at', UTCDateTime(), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', UTCDateTime(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")",
                           name=op.f('ck_access_request_kind_known')),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'withdrawn')",
                           name=op.f('ck_access_request_status_known')),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_access_request_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_access_request_school_id_school'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['proposed_by_id'], ['user_account.id'],
                                name=op.f('fk_access_request_proposed_by_id_user_account'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'],
                                name=op.f('fk_access_request_decided_by_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_access_request')),
    )
    op.create_index(op.f('ix_access_request_user_id'), 'access_request', ['user_id'], unique=False)
    op.create_index('ix_access_request_status_proposed_at', 'access_request', ['status', 'proposed_at'], unique=False)
    op.create_index('uq_access_request_pending', 'access_request', ['user_id', 'kind', 'value'], unique=True,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))


def downgrade():
    op.drop_index('uq_access_request_pending', table_name='access_request')
    op.drop_index('ix_access_request_status_proposed_at', table_name='access_request')
    op.drop_index(op.f('ix_access_request_user_id'), table_name='access_request')
    op.drop_table('access_request')
