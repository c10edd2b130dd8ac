"""PostgreSQL: the role the app connects as owns nothing and may not rewrite the audit trail.

Migrations run as the owner of the tables. The app servers and the scheduler connect as another
role that may read and write rows, but not alter, disable triggers on, truncate or drop any
table (only an owner may), and may only read and add audit rows (and advance, never remove, the
audit chains' heads). So a compromised app server, or an insider with its password, cannot
switch the audit trail's guard off.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Tables the app may only read and append to.
APPEND_ONLY = ("audit_event",)
# Tables the app may read, add to and advance, never remove rows from (audit_chain: each chain's head).
ADVANCE_ONLY = ("audit_chain_head",)
READ_ONLY = ("alembic_version",)


def grant_app_role(connection: Connection, role: str) -> list[str]:
    """Give role what the app needs on every table now in the schema, and no more; returns the
    statements run. Run as the owner after every migration (new tables need their grants)."""
    if not _ROLE_NAME.match(role):
        raise ValueError("A role name is lower-case letters, digits and underscores.")
    if connection.dialect.name != "postgresql":
        raise ValueError("Roles are PostgreSQL's; SQLite has none.")
    owns = connection.execute(
        text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = :r"), {"r": role}
    ).scalar()
    if owns:
        raise ValueError(
            f"{role} owns {owns} table(s): the app's role must own none. "
            "Run the migrations as another role (the owner) and grant to this one."
        )
    statements = [
        f'GRANT USAGE ON SCHEMA public TO "{role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
        *(f'REVOKE UPDATE, DELETE, TRUNCATE ON "{t}" FROM "{role}"' for t in APPEND_ONLY),
        *(f'REVOKE DELETE, TRUNCATE ON "{t}" FROM "{role}"' for t in ADVANCE_ONLY),
        *(f'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON "{t}" FROM "{role}"' for t in READ_ONLY),
    ]
    for statement in statements:
        connection.execute(text(statement))
    return statements
