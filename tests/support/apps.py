"""Helpers for tests that need more than the per-test transaction: the real migrations, a client
whose requests start clean, a signed-in client of another app, another connection's write, a
statement count."""

from __future__ import annotations

import sys

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import g
from flask.testing import FlaskClient

from school_prevention import create_app
from school_prevention.auth import sessions
from school_prevention.config import TestConfig
from school_prevention.extensions import db
from tests.support.databases import copy_database, keep_copy, new_database_url

# backend -> a database at the migrations' head, made from this process's first one (see migrate_to_head)
_HEADS: dict[str, str] = {}


def migrate_to_head(app) -> None:
    """Build the schema with the real migrations (so their triggers exist in tests too).

    The first empty database of each backend in a process is migrated, and kept as a copy; a later
    empty one becomes a copy of that (PostgreSQL: CREATE DATABASE ... TEMPLATE; SQLite: the file),
    the same schema in a fraction of the time. A database already part way (a migration's own
    test) is migrated as it is.
    """
    with app.app_context():
        engine = db.engine
        backend = engine.dialect.name
        empty = not sa.inspect(engine).has_table("alembic_version")
        if empty and backend in _HEADS:
            engine.dispose()
            copy_database(engine.url, _HEADS[backend])
            return
        flask_migrate.upgrade(directory=app.extensions["migrate"].directory)
        if empty:
            engine.dispose()
            _HEADS[backend] = keep_copy(engine.url)


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


def app_for(backend, apps, tmp_path_factory, postgres):
    """The (database URL, migrated app) of a backend from the run's cache (conftest._apps), made at first use."""
    if backend not in apps:
        url = new_database_url(backend, "unit", tmp_path_factory, postgres)
        app = create_app(TestConfig(url))
        app.test_client_class = IsolatedClient
        migrate_to_head(app)
        apps[backend] = (url, app)
    return apps[backend]


# Test modules with a module_world: every test of theirs runs in the module's transaction (db_session).
MODULE_WORLD_MODULES: set[str] = set()


def module_world(build, name: str = "world"):
    """A module-scoped fixture: build() run once per module and backend (it uses db.session as the
    factories do), instead of once per test.

    Every test of the module runs in a savepoint of the module's transaction (db_session), so what
    one test changes the next never sees. All of them, not only those that use the world: on
    SQLite the module's transaction holds the write lock, and a test on a connection of its own
    would wait for it.
    """
    MODULE_WORLD_MODULES.add(sys._getframe(1).f_globals["__name__"])

    @pytest.fixture(scope="module", name=name)
    def fixture(backend, _apps, tmp_path_factory, postgres, module_world_transaction):
        _, app = app_for(backend, _apps, tmp_path_factory, postgres)
        _, session = module_world_transaction
        with app.app_context():
            original, db.session = db.session, session
            try:
                world = build()
                session.commit()
            finally:
                db.session = original
        return world

    fixture.__doc__ = build.__doc__
    return fixture
