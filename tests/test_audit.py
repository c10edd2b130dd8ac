"""The audit table is append-only in the database itself."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from school_prevention import audit
from school_prevention.db import begin_afresh
from school_prevention.extensions import db
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests.factories import make_school, make_student, make_user


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET action = 'tampered'",
    "DELETE FROM audit_event",
])
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
    assert (event.actor_id, event.object_type, event.object_id, event.ip) == (user.id, "user_account", str(user.id), "10.0.0.1")
    assert event.at.tzinfo is not None


@pytest.mark.parametrize("change", ["pending", "flushed insert", "modified", "flushed update", "statement",
                                    "text statement"])
def test_a_transaction_with_a_change_is_never_ended_early_for_a_view_row(db_session, change):
    """begin_afresh (under record_view) ends a transaction only if it has read; a change stays with
    what it was based on, and goes with it if the request fails after."""
    school = make_school(name="North")
    user = make_user("counselor", schools=[school])
    student = make_student(school, grade="06")
    db_session.commit()
    assert student.grade == "06"  # loaded again after the commit: an assignment below is a real change
    if change == "pending":
        with db_session.no_autoflush:
            db_session.add(School(sourced_id="half-made", name="Half-made", level="middle"))
    elif change == "flushed insert":
        make_school(name="Half-made")  # the factory flushes
    elif change == "modified":
        student.grade = "07"
    elif change == "flushed update":
        student.grade = "07"
        db_session.flush()
    elif change == "statement":
        db_session.execute(update(Student).where(Student.id == student.id).values(grade="07"))
    else:
        db_session.execute(text("UPDATE student SET grade = '07'"))
    with db_session.no_autoflush:
        assert begin_afresh(db_session) is False
        audit.record_view("student.view", actor=user, student=student)
    db_session.rollback()  # the request fails after its audit row
    assert db_session.scalars(select(Student.grade)).all() == ["06"]
    assert db_session.scalars(select(School.name).order_by(School.name)).all() == ["North"]
    assert db_session.scalars(select(audit.AuditEvent.action)).all() == []


def test_rows_of_reads_are_carried_into_the_transaction_begun_afresh(db_session):
    school = make_school(name="North")
    user = make_user("counselor", schools=[school])
    student = make_student(school, grade="06")
    db_session.commit()
    student.grade = student.grade  # assigned, not changed
    note_read = audit.record_read("flag.note.read", actor=user, student=student)
    assert begin_afresh(db_session) is True
    assert list(db_session.new) == [note_read]  # still to be written, in the new transaction
    view = audit.record_view("student.view", actor=user, student=student)
    db_session.commit()
    rows = db_session.execute(select(audit.AuditEvent.action, audit.AuditEvent.student_id)
                              .order_by(audit.AuditEvent.id)).all()
    assert rows == [("flag.note.read", student.id), ("student.view", student.id)] and view.id is not None
