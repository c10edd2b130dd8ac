"""The district report's queries side by side on several connections: same figures, one moment.

These need rows that other connections can see, so they use a database of their own with the
hand-built district committed (the other tests' per-test transaction is invisible to other
connections, which is also why a session bound to one connection never runs side by side).
"""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import event, func, select, text

from school_prevention.db import begin_writing
from school_prevention.extensions import db
from school_prevention.reports import measures
from school_prevention.reports import side_by_side
from school_prevention.reports.coverage import make_period
from school_prevention.reports.district import district_report
from school_prevention.reports.side_by_side import fetch_all, run_side_by_side
from school_prevention.students.models import Student
from tests.conftest import sign_in, someone_saves
from tests.test_reports import NOW


@pytest.fixture(scope="module")
def shared(committed_world):
    return committed_world


@pytest.fixture
def spy(monkeypatch):
    """Records, for each side-by-side run, whether it ran (True) or fell back (False)."""
    runs: list[bool] = []
    real = side_by_side.run_side_by_side

    def record(*args, **kwargs):
        out = real(*args, **kwargs)
        runs.append(out is not None)
        return out

    monkeypatch.setattr(side_by_side, "run_side_by_side", record)
    return runs


def test_side_by_side_gives_the_figures_of_one_connection(shared, spy):
    app, _ = shared
    with app.app_context():
        period = make_period(NOW)
        for min_n in (1, 10):  # everything shown; the district's small figures withheld
            together = district_report(period, None, min_n)
            app.config["SP_REPORT_CONNECTIONS"] = 1
            try:
                alone = district_report(period, None, min_n)
            finally:
                app.config["SP_REPORT_CONNECTIONS"] = 3
            assert together == alone
        assert together.totals["flagged_students"] == "S" and len(together.rows) == 3
    assert spy == [True, True]  # the one-connection runs did not try


def test_every_connection_sees_the_same_moment(shared):
    """A student saved after the connections have started is seen by none of them, whichever
    query each one runs and however late it starts it."""
    app, ids = shared
    with app.app_context():
        engine = db.engine
        count = (select(func.count()).select_from(Student), {})
        before = db.session.scalar(count[0])
        db.session.rollback()
        prepared = []

        def prepare(connection):
            prepared.append(connection)
            if len(prepared) == 3:  # every connection's view is fixed; no query has run yet
                with engine.begin() as writer:
                    writer.execute(text("INSERT INTO student (sourced_id, school_id, given_name, family_name, "
                                        "is_active, created_at, updated_at) VALUES ('late-1', :school, 'Late', "
                                        "'Arrival', :yes, :now, :now)"), {"school": ids["a"], "yes": True, "now": NOW})

        try:
            results = run_side_by_side(engine, {"a": count, "b": count, "c": count, "d": count}, 3, prepare)
            assert [rows[0][0] for rows in results.values()] == [before] * 4
            assert db.session.scalar(count[0]) == before + 1  # the student was saved all the same
        finally:
            db.session.rollback()
            with engine.begin() as writer:
                writer.execute(text("DELETE FROM student WHERE sourced_id = 'late-1'"))


def test_sqlite_reports_on_one_connection_while_a_writer_holds_the_lock(shared, backend, spy):
    """A roster import holds SQLite's write lock for its whole run: the report does not wait for
    it to end (nor fail); it runs its queries on the session's connection."""
    if backend != "sqlite":
        pytest.skip("the write-lock gate is SQLite's (PostgreSQL shares snapshots)")
    app, _ = shared
    with app.app_context():
        period = make_period(NOW)
        expected = district_report(period, None, 1)
        writer = db.engine.raw_connection()
        try:
            writer.cursor().execute("BEGIN IMMEDIATE")
            started = time.perf_counter()
            during = district_report(period, None, 1)
            waited = time.perf_counter() - started
        finally:
            writer.cursor().execute("ROLLBACK")
            writer.close()
        db.session.rollback()
        assert during == expected
        assert waited < 5  # the gate gave up after a fraction of a second, not the 10 s busy timeout
    assert spy == [True, False]


INSERT_STUDENT = text("INSERT INTO student (sourced_id, school_id, given_name, family_name, is_active, created_at, "
                      "updated_at) VALUES ('late-2', :school, 'Late', 'Arrival', :yes, :now, :now)")


@pytest.mark.parametrize("connections", [1, 3])
def test_a_student_saved_between_two_queries_is_in_neither(shared, connections):
    """One moment on one connection too: on PostgreSQL the session's transaction is begun afresh
    in REPEATABLE READ (READ COMMITTED would let the second query see the new student)."""
    app, ids = shared
    count = (select(func.count()).select_from(Student), {})

    def save_a_student(rows):  # may run in a report thread, outside the app context
        with engine.begin() as writer:
            writer.execute(INSERT_STUDENT, {"school": ids["a"], "yes": True, "now": NOW})
        return rows

    with app.app_context():
        engine = db.engine
        try:
            results = fetch_all(db.session, {"first": count, "second": count}, connections, measures.prepare,
                                then={"first": save_a_student})
            db.session.rollback()
            after = db.session.scalar(count[0])
            assert results["first"] == results["second"] == [(after - 1,)]
        finally:
            db.session.rollback()
            with db.engine.begin() as writer:
                writer.execute(text("DELETE FROM student WHERE sourced_id = 'late-2'"))


def test_several_reports_at_once_do_not_empty_the_pool(shared, spy):
    """Each request holds its own connection; only one report at a time takes more, so six at
    once all finish (several each holding part of what they need would wait on one another)."""
    app, _ = shared
    barrier, results, errors = threading.Barrier(6), [], []

    def one_request():
        try:
            with app.app_context():
                db.session.execute(select(1)).all()  # the signed-in user, as a request reads first
                barrier.wait(10)
                results.append(district_report(make_period(NOW), None, 10))
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
    assert True in spy  # at least one ran side by side


def test_sqlite_gate_holds_writers_off_while_the_readers_start(shared, backend):
    if backend != "sqlite":
        pytest.skip("the write-lock gate is SQLite's")
    app, _ = shared
    outcomes = []

    def try_to_write(conn):
        if not outcomes:  # once, as soon as the first reader has begun
            other = sqlite3.connect(db.engine.url.database, timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
                outcomes.append("wrote")
                other.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                outcomes.append(str(exc))
            finally:
                other.close()

    with app.app_context():
        event.listen(db.engine, "begin", try_to_write)
        try:
            count = (select(func.count()).select_from(Student), {})
            assert run_side_by_side(db.engine, {"a": count, "b": count}, 2, measures.prepare) is not None
        finally:
            event.remove(db.engine, "begin", try_to_write)
        assert outcomes == ["database is locked"]
        # The gate's connection went back to the pool with the usual busy timeout, as did the others.
        held = [db.engine.connect() for _ in range(db.engine.pool.checkedin())]
        try:
            assert {c.exec_driver_sql("PRAGMA busy_timeout").scalar() for c in held} == {10000}
        finally:
            for c in held:
                c.close()


def test_begin_writing_holds_the_sqlite_write_lock(shared, backend):
    if backend != "sqlite":
        pytest.skip("a no-op on PostgreSQL")
    app, _ = shared
    with app.app_context():
        db.session.execute(select(1)).all()
        begin_writing(db.session)
        db.session.execute(select(1)).all()  # BEGIN IMMEDIATE: the write lock is taken now, before any write
        other = sqlite3.connect(db.engine.url.database, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
            db.session.rollback()


def test_report_settings_end_with_the_report(shared, backend):
    """PostgreSQL: JIT off and 32 MB of work_mem last for the report's transaction only."""
    if backend != "postgresql":
        pytest.skip("the settings are PostgreSQL's")
    app, _ = shared
    with app.app_context():
        district_report(make_period(NOW), None, 10)  # side by side
        app.config["SP_REPORT_CONNECTIONS"] = 1
        try:
            district_report(make_period(NOW), None, 10)  # on the session, which commits its audit row
        finally:
            app.config["SP_REPORT_CONNECTIONS"] = 3
        db.session.commit()
        held = [db.engine.connect() for _ in range(db.engine.pool.checkedin())]
        try:
            assert "32MB" not in {c.exec_driver_sql("SHOW work_mem").scalar() for c in held}
        finally:
            for c in held:
                c.close()


@pytest.mark.parametrize(("who", "path", "step", "action"), [
    ("district", "/reports/coverage", "reports.views.district_report", "report.coverage.district"),
    ("district", "/exports/district.csv", "exports.district.district_report", "export.district"),
    ("principal", "/reports/coverage", "reports.views.school_report", "report.coverage"),
    ("district", "/exports/students", "exports.students.program_rows", "export.student_level"),
])
def test_a_write_saved_while_a_report_is_made_does_not_fail_it(shared, monkeypatch, who, path, step, action):
    """The scheduler or another user may save something while a report is made (a second for the
    district's; two principals opening their page at once). On SQLite the request's own
    transaction, begun before, could then no longer write its audit row ("database is locked"
    at once): it ends its reading first."""
    import importlib

    app, ids = shared
    module_name, name = step.rsplit(".", 1)
    module = importlib.import_module(f"school_prevention.{module_name}")
    real = getattr(module, name)

    def report_then_someone_saves(*args, **kwargs):
        report = real(*args, **kwargs)
        someone_saves(db.engine, NOW)
        return report

    monkeypatch.setattr(module, name, report_then_someone_saves)
    client = sign_in(app, ids[who])
    with app.app_context():
        if path == "/exports/students":
            db.session.execute(text("UPDATE user_account SET can_export_student_level = :yes WHERE id = :id"),
                               {"yes": True, "id": ids[who]})
            db.session.commit()
            response = client.post(path, data={"dataset": "programs", "fmt": "csv", "level": "",
                                               "purpose": "State agency program evaluation, agreement 2026-14"})
        else:
            response = client.get(path)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        actions = db.session.scalars(text("SELECT action FROM audit_event ORDER BY id DESC LIMIT 2")).all()
        assert actions == [action, "student.view"]
