"""Fixtures: an app per database backend, a transaction per test, a client, login_as()."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.orm import scoped_session, sessionmaker

from school_prevention import create_app
from school_prevention.auth import sessions
from school_prevention.config import TestConfig
from school_prevention.db_roles import grant_app_role
from school_prevention.extensions import db, limiter
from tests.support.apps import (  # noqa: F401 - also for modules that import them from here
    MODULE_WORLD_MODULES,
    IsolatedClient,
    app_for,
    migrate_to_head,
    sign_in,
    someone_saves,
    statements_sent,
)
from tests.support.databases import BACKENDS, PostgresDatabases, new_database_url


@pytest.fixture(scope="session")
def postgres():
    pg = PostgresDatabases()
    yield pg
    pg.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """The database backend under test: every database test runs once per backend."""
    return request.param


@pytest.fixture(scope="session")
def _apps(tmp_path_factory, postgres):
    """backend -> (database URL, migrated app): one of each per worker for the whole run.

    Not parametrized on purpose. pytest keeps one instance of a parametrized session fixture at a
    time, and a worker runs each module's SQLite tests and then its PostgreSQL ones: a fixture
    that depended on `backend` was torn down and built again (a new database, every migration) at
    each switch, twice per module. The cache lives as long as the run does.
    """
    apps: dict[str, tuple[str, object]] = {}
    yield apps
    for _, app in apps.values():
        with app.app_context():  # type: ignore[attr-defined]
            db.engine.dispose()


@pytest.fixture
def database_url(backend, _apps, tmp_path_factory, postgres) -> str:
    return app_for(backend, _apps, tmp_path_factory, postgres)[0]


@pytest.fixture
def app(backend, _apps, tmp_path_factory, postgres):
    return app_for(backend, _apps, tmp_path_factory, postgres)[1]


@pytest.fixture
def db_session(app, request):
    """Everything a test does runs in one transaction that is rolled back afterwards.

    A test of a module whose world is built once (module_world) runs in a savepoint of the
    module's transaction instead, rolled back after the test: it sees the world as built.
    """
    with app.app_context():
        if request.module.__name__ in MODULE_WORLD_MODULES:
            connection, session = request.getfixturevalue("module_world_transaction")
            savepoint = connection.begin_nested()
            original, db.session = db.session, session
            limiter.reset()
            try:
                yield session
            finally:
                session.rollback()
                if savepoint.is_active:
                    savepoint.rollback()
                session.expire_all()  # the world's objects read again what the rollback restored
                db.session = original
            return
        connection = db.engine.connect()
        transaction = connection.begin()
        session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
        )
        original = db.session
        db.session = session
        limiter.reset()
        try:
            yield session
        finally:
            session.remove()
            db.session = original
            if transaction.is_active:
                transaction.rollback()
            connection.close()


@pytest.fixture(autouse=True)
def _module_world_savepoint(request):
    """A test of a module with a module_world runs in db_session's savepoint even when it does not ask for it."""
    if request.module.__name__ in MODULE_WORLD_MODULES and "backend" in request.fixturenames:
        request.getfixturevalue("db_session")


@pytest.fixture(scope="module")
def module_world_transaction(backend, _apps, tmp_path_factory, postgres):
    """A connection, its transaction and a session held for a module's tests (once per backend),
    that module_world() builds its world in; rolled back when the module is done."""
    _, app = app_for(backend, _apps, tmp_path_factory, postgres)
    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        session = scoped_session(sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))
        try:
            yield connection, session
        finally:
            session.remove()
            if transaction.is_active:
                transaction.rollback()
            connection.close()


@pytest.fixture
def client(app, db_session):
    return app.test_client()


@pytest.fixture
def login_as(client):
    """Sign a user in on the test client by creating a real server-side session for them."""

    def _login(user, c=None):
        c = c or client
        token = sessions.start_session(user, ip="127.0.0.1", user_agent="pytest")
        # Commit (inside the test's outer transaction) so a request that rolls back, as error
        # pages do, cannot take the test's own setup with it.
        db.session.commit()
        with c.session_transaction() as sess:
            sess.clear()
            sess["sid"] = token
            sess["_user_id"] = str(user.id)
            sess["_fresh"] = True
        return c

    return _login


@pytest.fixture(scope="module")
def committed_world(backend, tmp_path_factory, postgres):
    """An app on its own database, with the hand-built report district (tests/support/worlds.py)
    committed: for what other connections must see (each test module gets its own)."""
    from tests.support.worlds import report_district

    config = TestConfig(new_database_url(backend, "committed", tmp_path_factory, postgres))
    config.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_timeout": 5}  # an empty pool fails fast
    app = create_app(config)
    app.test_client_class = IsolatedClient
    migrate_to_head(app)
    with app.app_context():
        world = report_district()
        ids = {
            "a": world.a.id,
            "district": world.district.id,
            "principal": world.principal.id,
            "counselor": world.counselor.id,
            "student": world.students[4].id,
        }
    yield app, ids
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def race_app(backend, tmp_path_factory, postgres):
    """An app on its own committed database for concurrent requests (tests/support/concurrency.py): each
    request runs in its own thread, app context and database connection, as on a real server.
    Errors come back as 500 pages, not exceptions, so a test can count them."""
    config = TestConfig(new_database_url(backend, "race", tmp_path_factory, postgres))
    config.PROPAGATE_EXCEPTIONS = False
    config.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_size": 12, "max_overflow": 4, "pool_timeout": 30}
    app = create_app(config)
    app.test_client_class = IsolatedClient
    migrate_to_head(app)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app_role(app, backend):
    """PostgreSQL: a login role granted as the README says, and an engine connected as it (test_db_roles,
    test_audit_chain)."""
    if backend != "postgresql":
        pytest.skip("roles and grants are PostgreSQL's")
    role = f"sp_app_{uuid.uuid4().hex[:8]}"
    with app.app_context():
        owner = db.engine
        with owner.begin() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            grant_app_role(conn, role)
        url = owner.url.set(username=role, password=None)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
