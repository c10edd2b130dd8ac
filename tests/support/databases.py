"""Test databases: a fresh SQLite file and a fresh PostgreSQL database per test run.

In CI (CI=true) a missing PostgreSQL is a failure, not a skip; on a laptop without it the
PostgreSQL half of the suite is skipped with a reason that says so.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
import sqlalchemy as sa

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_ADMIN_URL = os.environ.get("SP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [b.strip() for b in os.environ.get("SP_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


def unavailable(what: str, why: str):
    """Fail in CI, skip elsewhere, always saying what is missing."""
    message = f"{what} unavailable: {why}"
    if IN_CI:
        pytest.fail(f"{message} (CI must run these tests)", pytrace=False)
    pytest.skip(message)


class PostgresDatabases:
    """Creates and drops throw-away databases on the local PostgreSQL server."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self._admin = None

    def admin(self):
        if self._admin is None:
            try:
                engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
            except Exception as exc:  # any connection problem means: not available
                unavailable(
                    "PostgreSQL",
                    f"cannot connect to {POSTGRES_ADMIN_URL} ({exc.__class__.__name__}: {str(exc).splitlines()[0]})",
                )
            self._admin = engine
        return self._admin

    def create(self, label: str) -> str:
        """A new empty database; returns its URL."""
        name = f"sp_{label}_{uuid.uuid4().hex[:10]}"
        with self.admin().connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as conn:
            for name in self.created + _COPIES:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


def new_database_url(backend: str, label: str, tmp_path_factory, postgres: PostgresDatabases) -> str:
    """A URL for a fresh, empty database of the given backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp(label) / 'test.db'}"
    if backend == "postgresql":
        return postgres.create(label)
    raise ValueError(backend)


# PostgreSQL databases keep_copy() made in this process (PostgresDatabases.drop_all drops them too).
_COPIES: list[str] = []


def _admin_engine():
    return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def keep_copy(url: sa.engine.URL) -> str:
    """A copy of a database nobody is connected to (SQLite: a file beside it; PostgreSQL: a new
    database made from it as a template); returns where it is, for copy_database()."""
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        shutil.copyfile(url.database, url.database + ".head")
        return url.database + ".head"
    name = f"sp_head_{uuid.uuid4().hex[:10]}"
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
    engine.dispose()
    _COPIES.append(name)
    return name


def copy_database(url: sa.engine.URL, source: str) -> None:
    """Make the database at url (empty, nobody connected) a copy of keep_copy()'s `source`."""
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        for leftover in (url.database + "-wal", url.database + "-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
        shutil.copyfile(source, url.database)
        return
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{url.database}" TEMPLATE "{source}"'))
    engine.dispose()
