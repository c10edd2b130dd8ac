"""SQLite and requests that read, then write, while someone else saves.

In WAL mode a transaction's first read fixes what it sees; once another connection commits, the
transaction can no longer write ("database is locked" at once, whatever the busy timeout). A
page that only read writes its audit row in a transaction begun for writing (audit.record_view,
db.begin_writing); a form whose save meets that error is run again, once, in such a transaction
(web.App). These run on both backends (PostgreSQL has no such failure, and must not be affected).
"""
from __future__ import annotations

from flask import flash
from sqlalchemy import text

from school_prevention.extensions import db
from tests.conftest import sign_in, someone_saves
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
        someone_saves(db.engine, NOW)  # a reading page holds no lock: this does not wait
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
        someone_saves(db.engine, NOW)
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

    real, calls = views.create_flag, []

    def create_after_someone_saved(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            flash("Said by the first run.")  # if that run fails, this is not shown
            someone_saves(db.engine, NOW)  # between the form's reads and its first write
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
    assert len(calls) == (2 if sqlite else 1)
