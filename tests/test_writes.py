"""tests/support/writes.py, which the fuzz test trusts to say that a refused request changed nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.factories import make_school
from tests.support.writes import Writes, written_table


@pytest.mark.parametrize(
    "statement, table",
    [
        ("INSERT INTO school (name) VALUES ('x')", "school"),
        ('UPDATE "student" SET grade = 1', "student"),
        ("DELETE FROM flag WHERE id = 1", "flag"),
        ("INSERT OR REPLACE INTO audit_event (id) VALUES (1)", "audit_event"),
        ("WITH gone AS (SELECT 1) UPDATE enrollment SET status = 'x'", "enrollment"),
        ("  update checkin set status = 'missed'", "checkin"),
        ("SELECT * FROM school", None),
        ("WITH x AS (SELECT 1) SELECT * FROM x", None),
        ("SAVEPOINT sa_savepoint_1", None),
    ],
)
def test_the_table_a_statement_writes(statement, table):
    assert written_table(statement) == table


@pytest.fixture
def writes(db_session):
    tracker = Writes(db_session.get_bind().engine)
    school = make_school(name="Before")
    db_session.flush()
    tracker.reset()
    yield tracker, school
    tracker.close()


def test_a_change_that_stands_is_seen(db_session, writes):
    tracker, school = writes
    with db_session.begin_nested():  # released, as a request's commit is in the tests
        db_session.execute(text("UPDATE school SET name = 'After' WHERE id = :id"), {"id": school.id})
    assert [table for table, _ in tracker.changed()] == ["school"]
    assert tracker.changed(frozenset({"school"})) == []


def test_a_change_undone_with_its_savepoint_is_not(db_session, writes):
    tracker, school = writes
    with pytest.raises(RuntimeError), db_session.begin_nested():
        db_session.execute(text("UPDATE school SET name = 'After' WHERE id = :id"), {"id": school.id})
        with db_session.begin_nested():
            db_session.execute(text("DELETE FROM school WHERE id = :id"), {"id": school.id})
        raise RuntimeError("refused")
    assert tracker.changed() == []


def test_an_inner_savepoint_rolled_back_leaves_the_outer_ones_change(db_session, writes):
    tracker, school = writes
    with db_session.begin_nested():
        db_session.execute(text("UPDATE school SET name = 'After' WHERE id = :id"), {"id": school.id})
        inner = db_session.begin_nested()
        db_session.execute(text("DELETE FROM school WHERE id = :id"), {"id": school.id})
        inner.rollback()
    assert [sql.split()[0] for _, sql in tracker.changed()] == ["UPDATE"]


def test_a_guarded_update_that_matched_nothing_changed_nothing(db_session, writes):
    tracker, school = writes
    db_session.execute(text("UPDATE school SET name = 'After' WHERE id = :id AND name = 'Other'"), {"id": school.id})
    assert tracker.changed() == []
