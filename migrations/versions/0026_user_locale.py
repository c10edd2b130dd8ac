"""a person's chosen language

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 18:00:00

- user_account.locale: "en" or "es" when the person chose a language; NULL follows the browser.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('user_account', sa.Column('locale', sa.String(length=10), nullable=True))


def downgrade():
    with op.batch_alter_table('user_account') as batch:
        batch.drop_column('locale')
