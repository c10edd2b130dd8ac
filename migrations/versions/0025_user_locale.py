"""a person's chosen language

Revision ID: 0025
Revises: 0023 (the brief names 0024: the lead relinks the chain at merge time)
Create Date: 2026-12-03 18:00:00

- user_account.locale: "en" or "es" when the person chose a language; NULL follows the browser.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('user_account', sa.Column('locale', sa.String(length=10), nullable=True))


def downgrade():
    with op.batch_alter_table('user_account') as batch:
        batch.drop_column('locale')
