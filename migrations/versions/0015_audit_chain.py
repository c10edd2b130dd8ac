"""audit chain: each row's seal and its predecessor's; INSERT OR REPLACE refused on SQLite; privacy officers

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 14:00:00

Rows written before this migration are sealed here, in id order, with the key the app runs with
(SP_AUDIT_KEY, or one derived from SECRET_KEY): run it with the production configuration.
"""
import sqlalchemy as sa
from alembic import op

from school_prevention.db import UTCDateTime

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

AUDIT = sa.table(
    "audit_event", sa.column("id", sa.Integer), sa.column("at", UTCDateTime()), sa.column("actor_id", sa.Integer),
    sa.column("action", sa.String), sa.column("object_type", sa.String), sa.column("object_id", sa.String),
    sa.column("student_id", sa.Integer), sa.column("school_id", sa.Integer), sa.column("purpose", sa.Text),
    sa.column("ip", sa.String), sa.column("detail", sa.JSON), sa.column("chain", sa.Integer), sa.column("prev_hash", sa.String),
    sa.column("row_hash", sa.String),
)
SQLITE_GUARDS = {
    verb: f"""CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event
              BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: {verb} is not allowed'); END"""
    for verb in ("UPDATE", "DELETE")
}


def _seal_existing_rows(bind) -> None:
    """Seal the rows already written; the append-only guard is lifted for this migration only."""
    from school_prevention.audit_chain import GENESIS, _key, seal_of

    rows = bind.execute(sa.select(AUDIT).order_by(AUDIT.c.id)).all()
    if not rows:
        return
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER audit_event_no_update")
    else:
        op.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete")
    key, prev = _key(), GENESIS
    for row in rows:
        seal = seal_of(key, prev, row)
        bind.execute(AUDIT.update().where(AUDIT.c.id == row.id).values(prev_hash=prev, row_hash=seal))
        prev = seal
    if sqlite:
        op.execute(SQLITE_GUARDS["UPDATE"])
    else:
        op.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete")


def upgrade():
    op.add_column('audit_event', sa.Column('chain', sa.Integer(), nullable=False, server_default='0'))
    op.create_index('ix_audit_event_chain_id', 'audit_event', ['chain', 'id'])
    op.add_column('audit_event', sa.Column('prev_hash', sa.String(length=64), nullable=True))
    op.add_column('audit_event', sa.Column('row_hash', sa.String(length=64), nullable=True))
    op.add_column('user_account', sa.Column('is_privacy_officer', sa.Boolean(), nullable=False,
                                            server_default=sa.false()))
    _seal_existing_rows(op.get_bind())
    if op.get_bind().dialect.name == "sqlite":
        # INSERT OR REPLACE deletes the row it replaces without firing DELETE triggers (unless
        # recursive_triggers is on): refuse an insert whose id is taken before that can happen.
        op.execute("""
            CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event
            WHEN EXISTS (SELECT 1 FROM audit_event WHERE id = NEW.id)
            BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: REPLACE is not allowed'); END
        """)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_replace")
    op.execute("ALTER TABLE user_account DROP COLUMN is_privacy_officer")
    # Plain ALTER TABLE (SQLite 3.35+ drops columns in place, keeping the table's triggers).
    op.execute("ALTER TABLE audit_event DROP COLUMN row_hash")
    op.execute("ALTER TABLE audit_event DROP COLUMN prev_hash")
    op.drop_index('ix_audit_event_chain_id', table_name='audit_event')
    op.execute("ALTER TABLE audit_event DROP COLUMN chain")
