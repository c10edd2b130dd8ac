"""SQLite and requests that read, then write, while someone else saves.

In WAL mode a transaction's first read fixes what it sees; once another connection commits, the
transaction can no longer write ("database is locked" at once, whatever the busy timeout). A
page that only read writes its audit row in a transaction begun for writing (audit.record_view,
db.begin_writing). These run on both backends (PostgreSQL has no such failure, and must not be
affected).
"""
from __future__ import annotations

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
