"""The district report's queries side by side on several connections: same figures, one moment.

These need rows that other connections can see, so they use a database of their own with the
hand-built district committed (the other tests' per-test transaction is invisible to other
connections, which is also why a session bound to one connection never runs side by side).
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select, text

from school_prevention import create_app
from school_prevention.auth import sessions
from school_prevention.auth.models import User
from school_prevention.config import TestConfig
from school_prevention.extensions import db
from school_prevention.reports import side_by_side
from school_prevention.reports.coverage import make_period
from school_prevention.reports.district import district_report
from school_prevention.reports.side_by_side import run_side_by_side
from school_prevention.students.models import Student
from tests.conftest import IsolatedClient, migrate_to_head
from tests.databases import new_database_url
from tests.test_reports import NOW, build_world


@pytest.fixture(scope="module")
def shared(backend, tmp_path_factory, postgres):
    """An app on its own database, three report connections, the hand-built district committed."""
    config = TestConfig(new_database_url(backend, "sidebyside", tmp_path_factory, postgres))
    config.SP_REPORT_CONNECTIONS = 3
    app = create_app(config)
    app.test_client_class = IsolatedClient
    migrate_to_head(app)
    with app.app_context():
        world = build_world()
        ids = {"a": world.a.id, "district": world.district.id, "principal": world.principal.id}
    yield app, ids
    with app.app_context():
        db.engine.dispose()


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


@pytest.mark.parametrize(("who", "path", "step", "action"), [
    ("district", "/reports/coverage", "reports.views.district_report", "report.coverage.district"),
    ("district", "/exports/district.csv", "exports.district.district_report", "export.district"),
    ("principal", "/reports/coverage", "reports.views.school_report", "report.coverage"),
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
        with db.engine.begin() as other:
            other.execute(text("INSERT INTO audit_event (at, action) VALUES (:now, 'student.view')"), {"now": NOW})
        return report

    monkeypatch.setattr(module, name, report_then_someone_saves)
    client = app.test_client()
    with app.app_context():
        token = sessions.start_session(db.session.get(User, ids[who]), ip="127.0.0.1", user_agent="pytest")
        db.session.commit()
    with client.session_transaction() as cookie:
        cookie["sid"], cookie["_user_id"], cookie["_fresh"] = token, str(ids[who]), True
    with app.app_context():
        response = client.get(path)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        actions = db.session.scalars(text("SELECT action FROM audit_event ORDER BY id DESC LIMIT 2")).all()
        assert actions == [action, "student.view"]
