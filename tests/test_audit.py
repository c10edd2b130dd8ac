"""The audit table is append-only in the database itself."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from school_prevention import audit
from school_prevention.extensions import db
from tests.factories import make_user


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET action = 'tampered'",
        "DELETE FROM audit_event",
    ],
)
def test_update_and_delete_are_rejected_by_the_database(db_session, statement):
    user = make_user("admin")
    audit.record("test.event", actor=user, detail={"n": 1})
    db_session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        with db_session.begin_nested():
            db_session.execute(text(statement))
    assert db_session.execute(text("SELECT action FROM audit_event")).scalars().all() == ["test.event"]


def test_truncate_is_rejected_on_postgresql(db_session, backend):
    if backend != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    audit.record("test.event")
    db_session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        with db_session.begin_nested():
            db_session.execute(text("TRUNCATE audit_event"))


def test_record_keeps_actor_object_student_school_and_time(db_session):
    user = make_user("admin")
    event = audit.record("user.viewed", actor=user, obj=user, detail={"why": "test"}, ip="10.0.0.1")
    db.session.flush()
    assert (event.actor_id, event.object_type, event.object_id, event.ip) == (
        user.id,
        "user_account",
        str(user.id),
        "10.0.0.1",
    )
    assert event.at.tzinfo is not None
