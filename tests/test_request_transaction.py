"""One transaction per request, committed in one place after the response is built (web.App).

These use a database of their own with committed rows (committed_world), so that other
connections, and a failing commit, behave as they do in production.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from school_prevention.extensions import db
from tests.support.apps import sign_in


def _count(app, sql: str, **params) -> int:
    with app.app_context():
        return db.session.scalar(text(sql), params)


def _flag_form(app) -> dict:
    with app.app_context():
        category_id = db.session.scalar(
            text("SELECT id FROM flag_category WHERE is_active = :yes ORDER BY id LIMIT 1"), {"yes": True}
        )
    return {"category": category_id, "severity": "low", "source": "counselor_observation", "note": "Quiet at lunch."}


@pytest.fixture
def commits_fail(committed_world, monkeypatch):
    """Call it to make every commit fail from then on, as a full disk or a lost connection would;
    the error page is then shown instead of the exception reaching the test (as in production)."""
    app, _ = committed_world
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)

    def refuse(session):
        raise RuntimeError("the disk is full")

    def switch_on():
        event.listen(Session, "before_commit", refuse)

    yield switch_on
    if event.contains(Session, "before_commit", refuse):
        event.remove(Session, "before_commit", refuse)


def test_a_save_whose_commit_fails_shows_the_error_page_and_saves_nothing(committed_world, commits_fail):
    app, ids = committed_world
    student = ids["student"]
    client = sign_in(app, ids["counselor"])
    form = _flag_form(app)
    flags = _count(app, "SELECT count(*) FROM risk_flag WHERE student_id = :s", s=student)
    rows = _count(app, "SELECT count(*) FROM audit_event")
    commits_fail()
    with app.app_context():
        response = client.post(f"/students/{student}/flags/new", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Nothing you entered was saved" in page and "Flag opened" not in page
    # Neither the flag, nor its history, nor its audit row: nothing half saved.
    assert _count(app, "SELECT count(*) FROM risk_flag WHERE student_id = :s", s=student) == flags
    assert _count(app, "SELECT count(*) FROM audit_event") == rows


def test_a_page_whose_audit_row_cannot_be_saved_is_not_shown(committed_world, commits_fail):
    """Every read of a child's record leaves an audit row: without its row, the page is withheld."""
    app, ids = committed_world
    client = sign_in(app, ids["counselor"])
    with app.app_context():
        family_name = db.session.scalar(text("SELECT family_name FROM student WHERE id = :s"), {"s": ids["student"]})
    commits_fail()
    with app.app_context():
        response = client.get(f"/students/{ids['student']}")
    assert response.status_code == 500
    assert family_name not in response.get_data(as_text=True)


def test_a_page_and_its_audit_row_are_saved_together(committed_world):
    app, ids = committed_world
    client = sign_in(app, ids["counselor"])
    before = _count(
        app, "SELECT count(*) FROM audit_event WHERE action = 'student.view' AND student_id = :s", s=ids["student"]
    )
    with app.app_context():
        assert client.get(f"/students/{ids['student']}").status_code == 200
    assert (
        _count(
            app, "SELECT count(*) FROM audit_event WHERE action = 'student.view' AND student_id = :s", s=ids["student"]
        )
        == before + 1
    )


def test_a_save_while_someone_else_is_saving_runs_once_and_keeps_both(committed_world, monkeypatch):
    """Another connection (the scheduler, a roster import) holds an open write for a moment. On
    SQLite the request waits for the write lock before it reads anything, then runs its view once;
    on PostgreSQL it does not wait. Both saves are kept."""
    app, ids = committed_world
    import school_prevention.flags.views as views

    real, calls = views.create_flag, []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "create_flag", counted)
    client = sign_in(app, ids["counselor"])
    form = _flag_form(app)
    flags = _count(app, "SELECT count(*) FROM risk_flag")
    marker = "other.save"
    with app.app_context():
        other = db.engine.connect()
        other.begin()  # BEGIN IMMEDIATE on SQLite: it holds the write lock
        other.execute(text("INSERT INTO audit_event (at, action) VALUES (CURRENT_TIMESTAMP, :a)"), {"a": marker})
        done = threading.Timer(0.3, other.commit)
        done.start()
        try:
            response = client.post(f"/students/{ids['student']}/flags/new", data=form)
        finally:
            done.join()
            other.close()
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert calls == [1]  # no view ever runs twice
    assert _count(app, "SELECT count(*) FROM risk_flag") == flags + 1
    assert _count(app, "SELECT count(*) FROM audit_event WHERE action = :a", a=marker) == 1


def test_every_sqlite_transaction_holds_the_write_lock_from_its_start(committed_world):
    """SQLite: a request's first statement takes the write lock (BEGIN IMMEDIATE), so a save can
    never meet "database is locked" halfway through; PostgreSQL's transactions lock rows instead."""
    app, _ = committed_world
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        with db.engine.connect() as other:
            sqlite = other.dialect.name == "sqlite"
            if sqlite:
                other.connection.dbapi_connection.execute("PRAGMA busy_timeout=50")
            try:
                other.begin()
                other.execute(text("INSERT INTO audit_event (at, action) VALUES (CURRENT_TIMESTAMP, 'x')"))
                wrote = True
            except Exception as exc:  # sqlite3's "database is locked"
                assert "locked" in str(exc)
                wrote = False
            finally:
                other.rollback()
                if sqlite:
                    other.connection.dbapi_connection.execute("PRAGMA busy_timeout=10000")
        db.session.rollback()
    assert wrote is not sqlite
