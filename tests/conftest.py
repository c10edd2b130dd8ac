"""Fixtures: an app per database backend, a transaction per test, a client, login_as()."""
from __future__ import annotations

import flask_migrate
import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy.orm import scoped_session, sessionmaker

from school_prevention import create_app
from school_prevention.auth import sessions
from school_prevention.config import TestConfig
from school_prevention.extensions import db, limiter
from tests.databases import BACKENDS, PostgresDatabases, new_database_url


def migrate_to_head(app) -> None:
    """Build the schema with the real migrations (so their triggers exist in tests too)."""
    with app.app_context():
        flask_migrate.upgrade(directory=app.extensions["migrate"].directory)


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
def database_url(backend, tmp_path_factory, postgres) -> str:
    return new_database_url(backend, "unit", tmp_path_factory, postgres)


class IsolatedClient(FlaskClient):
    """A test client whose requests start with an empty `g`, as separate HTTP requests do.

    Tests hold an app context open for the per-test transaction, and Flask reuses it for the
    client's requests; without this, Flask-Login's cached user would survive from one request
    to the next and hide exactly the sign-out and session bugs these tests look for.
    """

    def open(self, *args, **kwargs):
        for name in list(vars(g)):
            delattr(g, name)
        return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app(database_url):
    app = create_app(TestConfig(database_url))
    app.test_client_class = IsolatedClient
    migrate_to_head(app)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def db_session(app):
    """Everything a test does runs in one transaction that is rolled back afterwards."""
    with app.app_context():
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
    """An app on its own database, with the hand-built district of
    test_reports committed: for what other connections must see (each test module gets its own)."""
    from tests.test_reports import build_world

    config = TestConfig(new_database_url(backend, "committed", tmp_path_factory, postgres))
    config.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_timeout": 5}  # an empty pool fails fast
    app = create_app(config)
    app.test_client_class = IsolatedClient
    migrate_to_head(app)
    with app.app_context():
        world = build_world()
        ids = {"a": world.a.id, "district": world.district.id, "principal": world.principal.id,
               "counselor": world.counselor.id, "student": world.students[4].id}
    yield app, ids
    with app.app_context():
        db.engine.dispose()


def sign_in(app, user_id: int):
    """A client of app signed in as the user (a real server-side session), for committed_world."""
    from school_prevention.auth.models import User

    client = app.test_client()
    with app.app_context():
        token = sessions.start_session(db.session.get(User, user_id), ip="127.0.0.1", user_agent="pytest")
        db.session.commit()
    with client.session_transaction() as cookie:
        cookie["sid"], cookie["_user_id"], cookie["_fresh"] = token, str(user_id), True
    return client


def someone_saves(engine, at, *, wait_ms: int | None = None) -> None:
    """Another connection (another user, the scheduler) commits a row: an audit row 'student.view'.

    wait_ms: on SQLite, how long to wait for a write lock someone holds (the app's busy timeout
    otherwise): a test that expects the lock to be held fails fast instead of waiting seconds.
    """
    from sqlalchemy import text

    from school_prevention.db import SQLITE_BUSY_TIMEOUT_MS

    with engine.connect() as other:
        sqlite = other.dialect.name == "sqlite"
        if sqlite and wait_ms is not None:  # on the driver's connection: no transaction begun for it
            other.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
        try:
            with other.begin():
                other.execute(text("INSERT INTO audit_event (at, action) VALUES (:at, 'student.view')"), {"at": at})
        finally:
            if sqlite and wait_ms is not None:
                other.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def statements_sent(client, url: str) -> int:
    """How many statements a GET of url sends to the database (not the test's own savepoints)."""
    from sqlalchemy import event

    sent = []

    def record(conn, cursor, statement, *args):
        if not statement.startswith(("SAVEPOINT", "RELEASE")):
            sent.append(statement)

    bind = db.session.get_bind()
    event.listen(bind, "before_cursor_execute", record)
    try:
        response = client.get(url)
        assert response.status_code == 200, response.status_code
    finally:
        event.remove(bind, "before_cursor_execute", record)
    return len(sent)


@pytest.fixture(scope="module")
def race_app(backend, tmp_path_factory, postgres):
    """An app on its own committed database for concurrent requests (tests/concurrency.py): each
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
