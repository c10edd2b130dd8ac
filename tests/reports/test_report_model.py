"""The one report model (reports.figures): one moment per report, live figures, no failed writes.

Tests that other connections must see use a database of their own with the hand-built report district
(tests/support/worlds.py) committed (the other tests' per-test transaction is invisible to other connections).
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from school_prevention.db import SQLITE_BUSY_TIMEOUT_MS
from school_prevention.extensions import db
from school_prevention.reports.district import district_report
from school_prevention.reports.figures import one_moment
from school_prevention.reports.periods import last_complete_months
from school_prevention.students.models import Student
from tests.support.apps import sign_in, someone_saves
from tests.support.worlds import NOW

INSERT_STUDENT = text(
    "INSERT INTO student (sourced_id, school_id, given_name, family_name, is_active, created_at, "
    "updated_at) VALUES ('late-2', :school, 'Late', 'Arrival', :yes, :now, :now)"
)


def last_month():
    """The district's default reporting period at NOW (a district report reads whole months)."""
    from school_prevention.timezones import district_zone

    return last_complete_months(NOW, district_zone(), 1)[0]


def someone_inserts(engine, statement, params) -> None:
    """Another connection inserts and commits at once; on SQLite it gives up after 50 ms if
    someone holds the write lock (OperationalError) instead of waiting the busy timeout."""
    with engine.connect() as other:
        if other.dialect.name == "sqlite":
            other.connection.dbapi_connection.execute("PRAGMA busy_timeout=50")
        try:
            with other.begin():
                other.execute(statement, params)
        finally:
            if other.dialect.name == "sqlite":
                other.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


@pytest.fixture(scope="module")
def shared(committed_world):
    return committed_world


def test_a_student_saved_between_two_queries_of_a_report_is_in_neither(shared):
    """PostgreSQL: the report reads one REPEATABLE READ snapshot (READ COMMITTED would let the
    second query see the new student). SQLite: the report's transaction holds the write lock, so
    nobody can save in between at all."""
    app, ids = shared
    count = select(func.count()).select_from(Student)
    with app.app_context():
        engine = db.engine
        try:
            with one_moment(db.session) as connection:
                first = connection.execute(count).scalar_one()
                try:
                    someone_inserts(engine, INSERT_STUDENT, {"school": ids["a"], "yes": True, "now": NOW})
                    saved = True
                except OperationalError:  # SQLite: "database is locked"
                    saved = False
                second = connection.execute(count).scalar_one()
            db.session.rollback()
            after = db.session.scalar(count)
            assert saved == (engine.dialect.name == "postgresql")
            assert first == second == (after - 1 if saved else after)
        finally:
            db.session.rollback()
            with db.engine.begin() as writer:
                writer.execute(text("DELETE FROM student WHERE sourced_id = 'late-2'"))


def test_several_district_reports_at_once_all_finish_with_the_same_figures(shared):
    """Six requests asking for the district's report at once: none waits forever, none fails."""
    app, _ = shared
    barrier, results, errors = threading.Barrier(6), [], []

    def one_request():
        try:
            with app.app_context():
                if db.engine.dialect.name == "sqlite":  # the requests take turns for the write lock
                    barrier.wait(10)
                db.session.execute(select(1)).all()  # the signed-in user, as a request reads first
                if db.engine.dialect.name == "postgresql":  # each holds a connection before its report
                    barrier.wait(10)
                results.append(district_report(last_month(), None, 10, NOW))
                db.session.rollback()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_request) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 6
    assert all(r == results[0] for r in results)
    assert results[0].rows[0]["flagged_students"] == "S" and len(results[0].rows) == 3


def test_report_settings_end_with_the_report(shared, backend):
    """PostgreSQL: JIT off and 32 MB of work_mem last for the report's transaction only."""
    if backend != "postgresql":
        pytest.skip("the settings are PostgreSQL's")
    app, _ = shared
    with app.app_context():
        district_report(last_month(), None, 10, NOW)
        db.session.commit()
        held = [db.engine.connect() for _ in range(db.engine.pool.checkedin())]
        try:
            assert "32MB" not in {c.exec_driver_sql("SHOW work_mem").scalar() for c in held}
        finally:
            for c in held:
                c.close()


@pytest.mark.parametrize(
    ("who", "path", "step", "action"),
    [
        ("district", "/reports/coverage", "reports.published.district_report", "report.coverage.district"),
        ("district", "/exports/district.csv", "reports.published.district_report", "export.district"),
        ("principal", "/reports/coverage", "reports.views.school_report", "report.coverage"),
    ],
)
def test_a_write_saved_while_a_report_is_made_does_not_fail_it(shared, monkeypatch, who, path, step, action):
    """The scheduler or another user may save something while a report is made. Neither fails: on
    SQLite the other waits for the request's write lock, on PostgreSQL it does not wait at all;
    both rows are kept."""
    import importlib

    app, ids = shared
    module_name, name = step.rsplit(".", 1)
    module = importlib.import_module(f"school_prevention.{module_name}")
    real = getattr(module, name)
    other: list[threading.Thread] = []

    def report_while_someone_saves(*args, **kwargs):
        saver = threading.Thread(target=someone_saves, args=(db.engine, NOW))
        saver.start()
        other.append(saver)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, report_while_someone_saves)
    client = sign_in(app, ids[who])
    with app.app_context():
        response = client.get(path)
        other[0].join(timeout=20)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        actions = db.session.scalars(text("SELECT action FROM audit_event ORDER BY id DESC LIMIT 2")).all()
        assert sorted(actions) == sorted([action, "student.view"])


def test_a_write_saved_while_the_export_worker_makes_a_student_export_does_not_fail_it(shared, monkeypatch):
    """The student-level export is made by the export worker, batch after batch: a row someone saves
    meanwhile (the scheduler, a counselor) is kept, and so is the export."""
    from school_prevention.exports import students
    from school_prevention.exports.models import StudentExport
    from school_prevention.exports.worker import work

    app, ids = shared
    real = students.program_batch
    other: list[threading.Thread] = []

    def batch_while_someone_saves(*args, **kwargs):
        saver = threading.Thread(target=someone_saves, args=(db.engine, NOW))
        saver.start()
        other.append(saver)
        return real(*args, **kwargs)

    monkeypatch.setattr(students, "program_batch", batch_while_someone_saves)
    client = sign_in(app, ids["district"])
    with app.app_context():
        db.session.execute(
            text("UPDATE user_account SET can_export_student_level = :yes WHERE id = :id"),
            {"yes": True, "id": ids["district"]},
        )
        db.session.commit()
        before = db.session.scalar(
            select(func.count()).select_from(text("audit_event")).where(text("action = 'student.view'"))
        )
        response = client.post(
            "/exports/students",
            data={
                "dataset": "programs",
                "fmt": "csv",
                "level": "",
                "purpose": "State agency program evaluation, agreement 2026-14",
            },
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        assert work(batch=50) == 1
        for saver in other:
            saver.join(timeout=20)
        export = db.session.scalars(select(StudentExport).order_by(StudentExport.id.desc())).first()
        assert export.status == "done" and export.rows_done > 0
        saved = db.session.scalar(
            select(func.count()).select_from(text("audit_event")).where(text("action = 'student.view'"))
        )
        assert saved - before == len(other) > 0
