"""second factors and single sign-on: recovery codes, the TOTP replay guard, how a session signed in

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 17:00:00

- user_account.mfa_enrolled_at, user_account.mfa_last_step: when the person set up an authenticator
  app, and the last time step accepted (a code is good once). mfa_secret (from 0001, unused until
  now) holds the secret encrypted with SP_DATA_KEY.
- recovery_code: one-time codes, argon2 hashes only.
- user_session.sign_in_method: password, sso, with which second factor (the sessions page).
"""
import sqlalchemy as sa
from alembic import op

from school_prevention.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('user_account', sa.Column('mfa_enrolled_at', UTCDateTime(), nullable=True))
    op.add_column('user_account', sa.Column('mfa_last_step', sa.Integer(), nullable=True))
    op.add_column('user_session', sa.Column('sign_in_method', sa.String(length=40), nullable=True))
    op.create_table(
        'recovery_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=255), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('used_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_recovery_code_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code')),
    )
    op.create_index(op.f('ix_recovery_code_user_id'), 'recovery_code', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_recovery_code_user_id'), table_name='recovery_code')
    op.drop_table('recovery_code')
    # Plain ALTER TABLE (SQLite 3.35+ drops columns in place: no copy of tables others refer to).
    op.execute("ALTER TABLE user_session DROP COLUMN sign_in_method")
    op.execute("ALTER TABLE user_account DROP COLUMN mfa_last_step")
    op.execute("ALTER TABLE user_account DROP COLUMN mfa_enrolled_at")
