"""Declarative base with a constraint naming convention, UTC time helpers and common mixins."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from sqlalchemy import DateTime, MetaData, TextClause, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, registry
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
    return datetime.now(timezone.utc)


# How long a SQLite connection waits for another one's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000


# session.info keys, both cleared when the session's transaction ends (see _transaction_ended).
READS = "sp_reads"  # pending rows that record a read (audit rows of reads), not a change: mark_read()
CHANGED = "sp_changed"  # this transaction has sent a change to the database


def mark_read(session, row) -> None:
    """Add a row that records a read (an audit row), not a change: begin_afresh() may carry it, still
    pending, into the next transaction instead of refusing to end this one."""
    session.add(row)
    session.info.setdefault(READS, set()).add(row)


def _holds_change(session) -> bool:
    """The session holds something to write besides rows of reads: a new or deleted row, or an
    attribute that really changed (assigning the value it had is no change)."""
    reads = session.info.get(READS, ())
    return bool(session.deleted or any(row not in reads for row in session.new)
                or any(session.is_modified(row) for row in session.dirty))


@event.listens_for(Session, "after_flush")
def _flushed(session, flush_context):
    """Note a flush that sent anything but rows of reads (the lists still hold what was flushed)."""
    if _holds_change(session):
        session.info[CHANGED] = True


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE")


@event.listens_for(Session, "do_orm_execute")
def _dml(state):
    """Note an INSERT, UPDATE or DELETE sent through the session as a statement rather than by a
    flush (a construct, or text). Statements sent on session.connection() itself are not seen:
    code that writes so does not call begin_writing or begin_afresh."""
    statement = state.statement
    if (state.is_insert or state.is_update or state.is_delete
            or (isinstance(statement, TextClause) and str(statement).lstrip().upper().startswith(_WRITES))):
        state.session.info[CHANGED] = True


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session, transaction):
    if transaction.parent is None:
        session.info.pop(READS, None)
        session.info.pop(CHANGED, None)


def begin_afresh(session, **execution_options) -> bool:
    """End the session's transaction if it has only read, and begin the next one with these
    connection options (BEGIN IMMEDIATE on SQLite, an isolation level). Rows of reads still pending
    (mark_read) are carried into the next transaction. False, and nothing done, when the
    transaction holds or has sent a change: it and what it was based on belong in one transaction."""
    if session.info.get(CHANGED) or _holds_change(session):
        return False
    carried = list(session.new)
    for row in carried:
        session.expunge(row)
    session.commit()
    session.connection(execution_options=execution_options)
    for row in carried:
        mark_read(session, row)
    return True


def _sqlite_code(exc: BaseException) -> int | None:
    return getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)


def is_stale_snapshot(exc: BaseException) -> bool:
    """SQLite's SQLITE_BUSY_SNAPSHOT: the transaction read, someone else committed, and now it
    cannot write. Waiting does not help; beginning again does (see begin_writing)."""
    return _sqlite_code(exc) == sqlite3.SQLITE_BUSY_SNAPSHOT


def is_refused_write(exc: BaseException) -> bool:
    """SQLite would not let a transaction write, "database is locked": another connection wrote
    since it began reading (SQLITE_BUSY_SNAPSHOT), or holds the write lock while it has read
    (SQLITE_BUSY, at once: SQLite does not wait there, as waiting could deadlock), or held the lock
    past the busy timeout (SQLITE_BUSY too). Beginning again with BEGIN IMMEDIATE waits for the
    lock, then reads what the other wrote."""
    return _sqlite_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_SNAPSHOT)


def begin_writing(session) -> None:
    """SQLite: end the session's reading and begin a transaction that takes the write lock first.

    In WAL mode a transaction's first read fixes what it sees. If another connection (the
    scheduler, another request) writes after that, the transaction can no longer write: its
    first write fails at once with "database is locked" (is_refused_write), whatever the busy
    timeout. A district
    report reads for about a second before its audit row. BEGIN IMMEDIATE waits for the lock
    first (up to the busy timeout), then reads and writes the newest data. Only a transaction that
    has not changed anything is ended, so nothing is committed early.
    """
    if session.get_bind().dialect.name == "sqlite":
        begin_afresh(session, sqlite_begin_immediate=True)


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
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base shared by every model."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


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
        cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """Emit BEGIN for SQLite (see _sqlite_pragmas); BEGIN IMMEDIATE when asked (see begin_writing)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_begin_immediate") else "BEGIN")
