"""audit chain heads: where each chain ends, sealed, so removing its last rows is noticed

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 16:45:00

- audit_chain_head: one row per chain of the audit trail (row count, last row's id and seal, and
  its own seal with the audit key), advanced in the same transaction as each audit row. Triggers
  let it only advance: an UPDATE must add rows to its chain; DELETE, TRUNCATE and (SQLite) INSERT
  OR REPLACE of an existing chain are refused.
Chains that already have rows get their head here, sealed with the key the app runs with
(SP_AUDIT_KEY, or one derived from SECRET_KEY): run it with the production configuration, as 0015.
"""
import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

AUDIT = sa.table("audit_event", sa.column("id", sa.Integer), sa.column("chain", sa.Integer),
                 sa.column("row_hash", sa.String))
HEAD = sa.table("audit_chain_head", sa.column("chain", sa.Integer), sa.column("row_count", sa.BigInteger),
                sa.column("last_id", sa.Integer), sa.column("last_hash", sa.String), sa.column("seal", sa.String))


def _seed_heads(bind) -> None:
    """A head for every chain that has rows: its count and its last row (verify checks the rows themselves)."""
    from school_prevention.audit_chain import GENESIS, _key, head_seal

    counts = dict(bind.execute(sa.select(AUDIT.c.chain, sa.func.count()).group_by(AUDIT.c.chain)).all())
    if not counts:
        return
    key = _key()
    for chain, count in sorted(counts.items()):
        last = bind.execute(sa.select(AUDIT.c.id, AUDIT.c.row_hash).where(AUDIT.c.chain == chain)
                            .order_by(AUDIT.c.id.desc()).limit(1)).one()
        last_hash = last.row_hash or GENESIS
        bind.execute(HEAD.insert().values(chain=chain, row_count=count, last_id=last.id, last_hash=last_hash,
                                          seal=head_seal(key, chain, count, last.id, last_hash)))


def upgrade():
    op.create_table(
        'audit_chain_head',
        sa.Column('chain', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('row_count', sa.BigInteger(), nullable=False),
        sa.Column('last_id', sa.Integer(), nullable=False),
        sa.Column('last_hash', sa.String(length=64), nullable=False),
        sa.Column('seal', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('chain', name=op.f('pk_audit_chain_head')),
    )
    bind = op.get_bind()
    _seed_heads(bind)
    if bind.dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_chain_head_only_advances() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE' THEN
                    IF NEW.chain = OLD.chain AND NEW.row_count > OLD.row_count THEN
                        RETURN NEW;
                    END IF;
                END IF;
                RAISE EXCEPTION 'audit_chain_head only advances: % is not allowed', TG_OP;
            END;
            $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER audit_chain_head_only_advances BEFORE UPDATE OR DELETE ON audit_chain_head
            FOR EACH ROW EXECUTE FUNCTION audit_chain_head_only_advances()
        """)
        op.execute("""
            CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
            FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_head_only_advances()
        """)
    else:
        op.execute("""
            CREATE TRIGGER audit_chain_head_only_advances BEFORE UPDATE ON audit_chain_head
            WHEN NEW.chain <> OLD.chain OR NEW.row_count <= OLD.row_count
            BEGIN SELECT RAISE(ABORT, 'audit_chain_head only advances: UPDATE is not allowed'); END
        """)
        op.execute("""
            CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
            BEGIN SELECT RAISE(ABORT, 'audit_chain_head only advances: DELETE is not allowed'); END
        """)
        # INSERT OR REPLACE would delete the head it replaces without firing the DELETE trigger.
        op.execute("""
            CREATE TRIGGER audit_chain_head_no_replace BEFORE INSERT ON audit_chain_head
            WHEN EXISTS (SELECT 1 FROM audit_chain_head WHERE chain = NEW.chain)
            BEGIN SELECT RAISE(ABORT, 'audit_chain_head only advances: REPLACE is not allowed'); END
        """)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE audit_chain_head")
        op.execute("DROP FUNCTION IF EXISTS audit_chain_head_only_advances()")
    else:
        op.drop_table('audit_chain_head')
