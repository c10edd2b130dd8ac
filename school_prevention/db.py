"""Declarative base with a constraint naming convention, UTC time helpers and common mixins."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import DateTime, MetaData, Table, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The largest id an Integer primary key can hold (PostgreSQL int4); a larger one cannot exist.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (called per row, never at import)."""
    return datetime.now(UTC)


# How long a SQLite connection waits for another one's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back as an aware UTC datetime.

    SQLite has no time zone type; without this, values read back naive and comparisons with
    aware datetimes fail or, worse, silently compare local with UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base shared by every model."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )

    if TYPE_CHECKING:
        # Every model maps exactly one Table; DeclarativeBase only promises some FromClause, which
        # update()/insert()/delete() do not accept.
        __table__: ClassVar[Table]


class TimestampMixin:
    """created_at / updated_at columns filled by the application in UTC."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """Foreign keys on, WAL and a busy timeout so the web server and scheduler can share a file."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        # Let SQLAlchemy emit BEGIN itself: pysqlite's own transaction handling breaks SAVEPOINT.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        # WAL's NORMAL could lose the last commits on power loss: nothing acknowledged may be lost.
        cur.execute("PRAGMA synchronous=FULL")
        # Only the app's own user may read the database: it holds children's records.
        for _seq, _name, path in cur.execute("PRAGMA database_list").fetchall():
            if path:
                _owner_only(path, path + "-wal", path + "-shm")
        cur.close()


def _owner_only(*paths: str) -> None:
    """chmod 0600 the files that exist and are more open than that."""
    for path in paths:
        try:
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, 0o600)
        except FileNotFoundError:
            pass


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """SQLite: every transaction takes the write lock up front (BEGIN IMMEDIATE).

    SQLite has one writer at a time. A transaction begun with a plain BEGIN reads from a snapshot,
    and if anyone commits after its first read, its first write fails at once ("database is
    locked"), whatever the busy timeout. Nearly every request writes (its audit row, the session's
    last-seen time), so each takes the lock before it reads and waits its turn (busy timeout)
    instead. WAL lets plain readers go on meanwhile. A connection that only reads and must not
    wait for writers asks for a plain BEGIN with the execution option `sqlite_deferred=True`.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("sqlite_deferred") else "BEGIN IMMEDIATE")
