"""SQLite and requests that read, then write, while someone else saves.

In WAL mode a transaction's first read fixes what it sees; once another connection commits, the
transaction can no longer write ("database is locked" at once, whatever the busy timeout). A
page that only read writes its audit row in a transaction begun for writing (audit.record_view,
db.begin_writing); a form whose save meets that error is run again, once, in such a transaction
(web.App). These run on both backends (PostgreSQL has no such failure, and must not be affected).
"""
from __future__ import annotations

import io
import sqlite3
import threading
import zipfile
from datetime import timedelta

import pytest
from flask import flash
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from school_prevention.extensions import db
from tests.conftest import sign_in, someone_saves
from tests.factories import PASSWORD
from tests.test_reports import NOW


def _last_actions(app, n: int) -> list[str]:
    with app.app_context():
        return db.session.scalars(text(f"SELECT action FROM audit_event ORDER BY id DESC LIMIT {n}")).all()


def test_a_page_that_only_read_writes_its_audit_row_after_someone_saved(committed_world, monkeypatch):
    app, ids = committed_world
    import school_prevention.students.views as views

    real = views.build_student_page

    def build_while_someone_saves(*args, **kwargs):
        page = real(*args, **kwargs)
        someone_saves(db.engine, NOW, wait_ms=500)  # a reading page holds no lock: this does not wait
        return page

    monkeypatch.setattr(views, "build_student_page", build_while_someone_saves)
    client = sign_in(app, ids["counselor"])
    with app.app_context():
        response = client.get(f"/students/{ids['student']}")
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert _last_actions(app, 2) == ["student.view", "student.view"]  # the page's row, then the other one


def test_a_page_that_read_a_restricted_note_writes_both_audit_rows_after_someone_saved(committed_world, monkeypatch):
    """The note read's audit row is added while the page reads; it goes into the writing
    transaction with the page's own row instead of failing with it."""
    app, ids = committed_world
    import school_prevention.flags.views as views

    real = views.read_note

    def read_while_someone_saves(*args, **kwargs):
        notes = real(*args, **kwargs)
        someone_saves(db.engine, NOW, wait_ms=500)
        return notes

    monkeypatch.setattr(views, "read_note", read_while_someone_saves)
    with app.app_context():
        flag_id = db.session.scalar(text("SELECT id FROM risk_flag WHERE student_id = :s"), {"s": ids["student"]})
    client = sign_in(app, ids["counselor"])
    with app.app_context():
        response = client.get(f"/flags/{flag_id}")
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        assert "Sits alone at lunch." in response.get_data(as_text=True)
    assert sorted(_last_actions(app, 2)) == ["flag.note.read", "flag.view"]
    assert _last_actions(app, 3)[2] == "student.view"  # the other connection's row came first


def test_a_save_that_meets_someone_elses_save_is_run_again_and_saved_once(committed_world, monkeypatch):
    """A form read the database, then another connection committed, then the form wrote: on SQLite
    that write fails at once (a stale snapshot). The request runs again, once, and saves once."""
    app, ids = committed_world
    import school_prevention.flags.views as views

    real, calls, blocked = views.create_flag, [], []

    def create_after_someone_saved(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            flash("Said by the first run.")  # if that run fails, this is not shown
            someone_saves(db.engine, NOW, wait_ms=500)  # between the form's reads and its first write
        else:  # the second run holds the write lock from its start: nobody can save in between
            try:
                someone_saves(db.engine, NOW, wait_ms=50)
            except OperationalError:
                blocked.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "create_flag", create_after_someone_saved)
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    with app.app_context():
        category_id = db.session.scalar(text("SELECT id FROM flag_category WHERE name LIKE 'Bullying%' LIMIT 1"))
        before = db.session.scalar(text("SELECT count(*) FROM risk_flag WHERE student_id = :s"), {"s": ids["student"]})
    client = sign_in(app, ids["counselor"])
    with app.app_context():
        response = client.post(f"/students/{ids['student']}/flags/new", data={
            "category": category_id, "severity": "moderate", "source": "counselor_observation",
            "note": "Pushed in the corridor."}, follow_redirects=True)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        page = response.get_data(as_text=True)
        assert page.count("Flag opened: Bullying") == 1  # said once
        assert ("Said by the first run." in page) is not sqlite  # PostgreSQL: the first run is the only one
        after = db.session.scalar(text("SELECT count(*) FROM risk_flag WHERE student_id = :s"), {"s": ids["student"]})
    assert after == before + 1
    assert (len(calls), len(blocked)) == ((2, 1) if sqlite else (1, 0))


def _once_then(real, before_first):
    """real, with before_first() run before its first call only."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            before_first()
        return real(*args, **kwargs)

    wrapped.calls = calls
    return wrapped


def _email_of(app, user_id: int) -> str:
    with app.app_context():
        return db.session.scalar(text("SELECT email FROM user_account WHERE id = :u"), {"u": user_id})


def test_a_sign_in_run_again_keeps_its_session(committed_world, monkeypatch):
    """The first run signed the user in (cookie, signed-in user) before its save failed: the second
    run starts from the request as it came, signs in again and saves once."""
    app, ids = committed_world
    import school_prevention.auth.services as services

    check = _once_then(services.verify_password, lambda: someone_saves(db.engine, NOW, wait_ms=500))
    monkeypatch.setattr(services, "verify_password", check)
    client = app.test_client()
    with app.app_context():
        signed_in = db.session.scalar(text("SELECT count(*) FROM audit_event WHERE action = 'auth.signin'"))
        response = client.post("/login", data={"email": _email_of(app, ids["counselor"]), "password": PASSWORD})
        assert response.status_code == 302 and response.headers["Location"].endswith("/")
        assert client.get("/").status_code == 200  # signed in, not sent back to the sign-in page
        assert db.session.scalar(text("SELECT count(*) FROM audit_event WHERE action = 'auth.signin'")) == signed_in + 1
    assert len(check.calls) == (2 if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") else 1)


def test_a_failed_sign_in_run_again_counts_once_against_the_limit(committed_world, monkeypatch):
    app, ids = committed_world
    import school_prevention.auth.services as services
    from school_prevention.extensions import limiter

    check = _once_then(services.verify_password, lambda: someone_saves(db.engine, NOW, wait_ms=500))
    monkeypatch.setattr(services, "verify_password", check)
    email = _email_of(app, ids["counselor"])
    client = app.test_client()
    with app.test_request_context():
        limiter.reset()
        response = client.post("/login", data={"email": email, "password": "not-the-password"})
        assert response.status_code == 401
        limit = services._failure_limit()
        for key in services._failure_keys(email, "127.0.0.1"):
            assert limiter.limiter.get_window_stats(limit, *key).remaining == limit.amount - 1
        limiter.reset()


def test_a_page_whose_session_touch_meets_someone_elses_save_is_shown(committed_world, monkeypatch):
    """Noting when the user was last seen is bookkeeping: if SQLite refuses it, the page still comes."""
    app, ids = committed_world
    import school_prevention.auth.sessions as sessions

    client = sign_in(app, ids["counselor"])
    monkeypatch.setattr(sessions, "TOUCH_INTERVAL", timedelta(0))
    clock = _once_then(sessions.utcnow, lambda: someone_saves(db.engine, NOW, wait_ms=500))
    monkeypatch.setattr(sessions, "utcnow", clock)
    with app.app_context():
        response = client.get("/students")
        assert response.status_code == 200, response.get_data(as_text=True)[:300]


def test_an_upload_is_not_run_again(committed_world, monkeypatch, tmp_path):
    """Its file was read by the first run: a second run would keep an empty one. The upload takes
    the write lock before it saves anything; were it not to, the collision is an error, once."""
    app, ids = committed_world
    import school_prevention.roster.views as views
    from tests.factories import make_user

    monkeypatch.setitem(app.config, "ROSTER_UPLOAD_FOLDER", str(tmp_path))
    monkeypatch.setattr(views, "_launch", lambda run, **kwargs: None)  # no dry run in the background
    monkeypatch.setattr(views, "begin_writing", lambda session: None)
    start = _once_then(views.start_run, lambda: someone_saves(db.engine, NOW, wait_ms=500))
    monkeypatch.setattr(views, "start_run", start)
    with app.app_context():
        admin_id = make_user("admin").id
        db.session.commit()
    client = sign_in(app, admin_id)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("manifest.csv", "propertyName,value\n")
    archive.seek(0)
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    with app.app_context():
        if sqlite:
            with pytest.raises(OperationalError):
                client.post("/admin/roster", data={"archive": (archive, "roster.zip")})
        else:
            assert client.post("/admin/roster", data={"archive": (archive, "roster.zip")}).status_code == 302
    assert len(start.calls) == 1


def test_a_save_while_someone_else_is_saving_waits_for_them_and_saves_once(committed_world, monkeypatch):
    """SQLite refuses at once (SQLITE_BUSY, without waiting) a write from a transaction that has read
    while another connection holds the write lock. The request runs again, waits for the lock, saves."""
    app, ids = committed_world
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite"):
        pytest.skip("SQLite's write lock (PostgreSQL locks rows, and does not refuse this write)")
    import school_prevention.flags.views as views

    other = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)

    def someone_is_saving():
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO audit_event (at, action) VALUES ('2026-11-23 10:00:00', 'student.view')")
        threading.Timer(0.3, other.execute, ("COMMIT",)).start()  # done a moment later

    create = _once_then(views.create_flag, someone_is_saving)
    monkeypatch.setattr(views, "create_flag", create)
    with app.app_context():
        category_id = db.session.scalar(text("SELECT id FROM flag_category ORDER BY id LIMIT 1"))
        before = db.session.scalar(text("SELECT count(*) FROM risk_flag"))
    client = sign_in(app, ids["counselor"])
    try:
        with app.app_context():
            response = client.post(f"/students/{ids['student']}/flags/new", data={
                "category": category_id, "severity": "low", "source": "counselor_observation", "note": "Quiet."})
            assert response.status_code == 302, response.get_data(as_text=True)[:300]
            assert db.session.scalar(text("SELECT count(*) FROM risk_flag")) == before + 1
    finally:
        other.close()
    assert len(create.calls) == 2
