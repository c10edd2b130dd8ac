"""The student-level export as a job: queued by the form, made by the export worker in batches,
kept encrypted for its requester only, purged when it expires, made once however many workers try."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.disclosures.models import Disclosure, disclosure_student
from school_prevention.exports import queue
from school_prevention.exports.jobs import purge
from school_prevention.exports.models import StudentExport
from school_prevention.exports.worker import work
from school_prevention.extensions import db
from school_prevention.programs.models import Enrollment
from school_prevention.scheduler import load_jobs
from tests.factories import make_program, make_school, make_student, make_user
from tests.support.concurrency import fire_each

PURPOSE = "State agency program evaluation, agreement 2026-14"
FORM = {"dataset": "programs", "fmt": "csv", "level": "", "purpose": PURPOSE}


def _enrolled(n: int):
    """A school with n students in one program; returns the counselor."""
    school = make_school()
    counselor = make_user("counselor", schools=[school])
    program = make_program(school, counselor, capacity=n + 1)
    for _ in range(n):
        student = make_student(school, given_name="Quorvel", family_name="Zyxwa")
        db.session.add(
            Enrollment(
                program_id=program.id, student_id=student.id, status="active", started_at=utcnow() - timedelta(days=3)
            )
        )
    db.session.flush()
    return counselor


@pytest.fixture
def exporter(db_session):
    _enrolled(5)
    user = make_user("district", can_export_student_level=True, name="Dana District")
    db_session.commit()
    return user


def _ask(client, data=None) -> str:
    response = client.post("/exports/students", data=data or FORM)
    assert response.status_code == 303, response.get_data(as_text=True)[:400]
    return response.headers["Location"]


def _export(url: str) -> StudentExport:
    return db.session.get(StudentExport, int(url.rsplit("/", 1)[1]), populate_existing=True)


def test_the_request_only_queues_and_the_worker_makes_it_in_batches(exporter, client, login_as):
    login_as(exporter)
    url = _ask(client)
    export = _export(url)
    assert (export.status, export.content) == ("queued", None)
    assert not db.session.scalars(select(Disclosure)).all()  # nothing shared until the file is made
    page = client.get(url).get_data(as_text=True)
    assert "Queued" in page and "<progress" in page and "progress.js" in page
    assert client.get(f"{url}/progress.json").get_json()["status"] == "queued"
    assert client.get(f"{url}/download").status_code == 410
    seen = []
    real = queue.beat

    def watching(owner, done, total, now=None):
        seen.append((done, total))
        return real(owner, done, total, now)

    queue.beat = watching
    try:
        assert work(batch=2) == 1
    finally:
        queue.beat = real
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]  # the progress bar's figures, batch after batch
    export = _export(url)
    assert (export.status, export.rows_done, export.rows_total) == ("done", 5, 5)
    assert export.expires_at - export.finished_at == timedelta(hours=24)
    body = client.get(f"{url}/download").get_data()
    assert body.count(b"\n") == 6 and b"stu-" in body
    assert b"stu-" not in export.content.encode() and export.content.startswith("gAAAAA")  # encrypted at rest
    assert work() == 0  # made once


def test_only_the_requester_downloads_and_each_download_is_audited(exporter, client, login_as):
    login_as(exporter)
    url = _ask(client)
    work()
    for _ in range(2):
        assert client.get(f"{url}/download").status_code == 200
    downloads = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.student_level.download")).all()
    assert [(e.actor_id, e.detail["rows"], e.purpose) for e in downloads] == [(exporter.id, 5, PURPOSE)] * 2
    assert len(db.session.scalars(select(Disclosure)).all()) == 1  # downloads add no disclosure
    colleague = make_user("district", can_export_student_level=True)
    db.session.commit()
    login_as(colleague)
    for suffix in ("", "/progress.json", "/download"):
        assert client.get(url + suffix).status_code == 404
    no_grant = make_user("district")
    db.session.commit()
    login_as(no_grant)
    assert client.get(f"{url}/download").status_code == 403


def test_the_file_expires_and_the_nightly_purge_deletes_it(exporter, client, login_as):
    login_as(exporter)
    url = _ask(client)
    work()
    export = _export(url)
    later = export.expires_at + timedelta(minutes=1)
    db.session.execute(
        update(StudentExport).where(StudentExport.id == export.id).values(expires_at=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    gone = client.get(f"{url}/download")
    assert gone.status_code == 410 and "has been deleted" in gone.get_data(as_text=True)
    assert "Deleted" in client.get("/exports/students").get_data(as_text=True)  # not "Ready" until the purge
    assert "exports.purge" in load_jobs()
    assert purge(later) == 1 and purge(later) == 0
    export = _export(url)
    assert (export.status, export.content) == ("expired", None)
    assert "has been deleted" in client.get(url).get_data(as_text=True)
    assert len(db.session.scalars(select(Disclosure)).all()) == 1  # the record of the sharing stays


def test_an_export_whose_requester_lost_the_grant_is_not_made(exporter, client, login_as):
    login_as(exporter)
    url = _ask(client)
    exporter.can_export_student_level = False
    db.session.commit()
    assert work() == 0
    export = _export(url)
    assert export.status == "failed" and "no longer holds" in export.error and export.content is None
    assert not db.session.scalars(select(Disclosure)).all()


def test_bad_input_and_too_many_at_once_change_nothing(exporter, client, login_as):
    login_as(exporter)
    bad = client.post("/exports/students", data={**FORM, "from": "2999-01-01"})
    assert bad.status_code == 400 and not db.session.scalars(select(StudentExport)).all()
    for _ in range(queue.MAX_WORKING):
        _ask(client)
    refused = client.post("/exports/students", data=FORM)
    assert refused.status_code == 400 and "Wait for one to finish" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(StudentExport)) == queue.MAX_WORKING
    page = client.get("/exports/students").get_data(as_text=True)
    assert page.count("Queued") == queue.MAX_WORKING  # listed under Your exports


def test_a_stopped_worker_is_taken_over_and_its_late_finish_keeps_nothing(exporter, client, login_as):
    login_as(exporter)
    url = _ask(client)
    now = utcnow()
    first = queue.claim_next("host-a:1", now)
    assert first is not None and queue.claim_next("host-b:2", now) is None  # running and beating: not takeable
    second = queue.claim_next("host-b:2", now + queue.STALE_AFTER + timedelta(seconds=1))
    assert second is not None and second.attempt == 2
    assert not queue.make(first)  # the first worker came back: its batches and its file are refused
    assert queue.make(second)
    assert _export(url).status == "done" and len(db.session.scalars(select(Disclosure)).all()) == 1
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.student_level")).all()
    assert len(events) == 1


def test_an_export_that_keeps_losing_its_worker_fails(exporter, client, login_as):
    login_as(exporter)
    url = _ask(client)
    now = utcnow()
    for n in range(queue.MAX_ATTEMPTS):
        assert queue.claim_next(f"host:{n}", now + n * (queue.STALE_AFTER + timedelta(seconds=1))) is not None
    assert queue.claim_next("host:last", now + 9 * queue.STALE_AFTER) is None
    export = _export(url)
    assert export.status == "failed" and "stopped 3 times" in export.error


def test_an_error_fails_the_export_and_logs_no_student(exporter, client, login_as, caplog, monkeypatch):
    login_as(exporter)
    url = _ask(client)

    def broken(*args, **kwargs):
        raise ValueError("stu-secret-identifier in a message")

    monkeypatch.setattr(queue, "render_file", broken)
    with caplog.at_level(logging.INFO):
        assert work() == 0
    export = _export(url)
    assert export.status == "failed" and "error on the server" in export.error
    assert f"#{export.id}" in caplog.text and "stu-" not in caplog.text
    assert "error on the server" in client.get(url).get_data(as_text=True)


# --- two workers at once, on real connections -------------------------------------------------------


def test_two_workers_at_once_make_each_export_once(race_app):
    with race_app.app_context():
        _enrolled(4)
        users = [make_user("district", can_export_student_level=True) for _ in range(2)]
        db.session.commit()
        user_ids = [u.id for u in users]
    answers = fire_each(race_app, [(uid, "POST", "/exports/students", FORM) for uid in user_ids for _ in range(2)])
    assert sorted(a.status for a in answers) == [303] * 4
    made = []
    fire_each(
        race_app,
        [],
        jobs=(lambda: made.append(work("host-a:1", batch=3)), lambda: made.append(work("host-b:2", batch=3))),
    )
    assert sum(made) == 4
    with race_app.app_context():
        exports = db.session.scalars(select(StudentExport)).all()
        assert [e.status for e in exports] == ["done"] * 4 and all(e.attempts == 1 for e in exports)
        assert db.session.scalar(select(func.count()).select_from(Disclosure)) == 4
        assert db.session.scalar(select(func.count()).select_from(disclosure_student)) == 16
        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export.student_level")
            )
            == 4
        )
        assert sorted(e.requested_by_id for e in exports) == sorted(user_ids * 2)
        assert {db.session.get(User, e.requested_by_id).id for e in exports} == set(user_ids)


def test_on_sqlite_batches_are_read_while_another_job_holds_the_write_lock(race_app, backend):
    """A roster import holds SQLite's write lock for minutes: the export's batches are plain reads
    (WAL), so they go on meanwhile; a progress write that cannot be had is skipped, not fatal."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL readers never wait for writers")
    from sqlalchemy.exc import OperationalError

    from school_prevention.db import SQLITE_BUSY_TIMEOUT_MS
    from school_prevention.exports.students import row_batches
    from school_prevention.reports.coverage import build_period
    from school_prevention.reports.measures import Scope

    with race_app.app_context():
        _enrolled(3)
        db.session.commit()
        holder = db.engine.connect()
        holder.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")
        held = holder.begin()  # BEGIN IMMEDIATE, as an import's transaction holds it
        try:
            with db.engine.connect() as other:
                other.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")
                try:
                    with pytest.raises(OperationalError):  # a writer would have to wait
                        other.execute(select(1))
                finally:
                    other.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            queue._begin_reading()
            rows = next(row_batches("programs", build_period(None, None), Scope(), 2))
            db.session.commit()
            assert len(rows) == 2
        finally:
            held.rollback()
            holder.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            holder.close()


def test_a_progress_write_that_cannot_be_had_now_is_skipped(exporter, client, login_as, monkeypatch):
    from sqlalchemy.exc import OperationalError

    login_as(exporter)
    url = _ask(client)
    real, refused = queue.beat, []

    def locked_once(owner, done, total, now=None):
        if not refused:
            refused.append(done)
            raise OperationalError("UPDATE student_export", {}, Exception("database is locked"))
        return real(owner, done, total, now)

    monkeypatch.setattr(queue, "beat", locked_once)
    assert work(batch=2) == 1 and refused == [0]
    assert _export(url).status == "done"
