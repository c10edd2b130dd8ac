"""PostgreSQL: the app's role owns nothing, so it cannot switch the audit trail's guard off."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from school_prevention.db_roles import grant_app_role
from school_prevention.extensions import db


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE audit_event DISABLE TRIGGER USER",
        "ALTER TABLE audit_event DISABLE TRIGGER ALL",
        "TRUNCATE audit_event",
        "UPDATE audit_event SET action = 'tampered'",
        "DELETE FROM audit_event",
        "DROP TABLE audit_event",
        "ALTER TABLE student ADD COLUMN sneaky text",
        "UPDATE alembic_version SET version_num = '0001'",
    ],
)
def test_the_app_role_is_refused(app_role, statement):
    with app_role.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError) as refused:
            conn.execute(text(statement))
        assert any(words in str(refused.value) for words in ("permission denied", "must be owner", "append-only"))


def test_the_app_role_can_do_the_apps_work(app_role):
    with app_role.connect() as conn:  # rolled back at the end: other tests share this database
        conn.execute(text("INSERT INTO audit_event (at, action) VALUES (now(), 'test.app_role')"))
        assert conn.execute(text("SELECT count(*) FROM audit_event WHERE action = 'test.app_role'")).scalar() == 1
        conn.execute(text("SELECT pg_advisory_xact_lock(1)"))  # what sealing an audit row takes
        conn.execute(text("UPDATE school SET name = name"))  # rows of other tables may change
        conn.rollback()


def test_a_role_that_owns_tables_is_refused(app, backend):
    if backend != "postgresql":
        pytest.skip("roles and grants are PostgreSQL's")
    with app.app_context(), db.engine.connect() as conn:
        owner = conn.execute(text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_event'")).scalar()
        with pytest.raises(ValueError, match="must own none"):
            grant_app_role(conn, owner)
