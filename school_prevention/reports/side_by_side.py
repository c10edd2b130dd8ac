"""Run a report's read-only queries side by side, on several connections that all see one snapshot.

The district's figures come from seven independent queries. One after another they take about a
second at a million students; spread over connections they take about as long as the longest one
(PostgreSQL runs each connection in its own server process; SQLite's driver lets go of Python's
lock while a query runs). The figures must still describe one moment, or the coverage identity
and the linked totals that suppression relies on could disagree by a record saved in between:

- PostgreSQL: the first connection exports its snapshot (pg_export_snapshot) and every other one
  adopts it (SET TRANSACTION SNAPSHOT) in a REPEATABLE READ, READ ONLY transaction.
- SQLite has no shared snapshots, but in WAL mode a reader sees the database as of its first
  read. A gate connection takes the write lock (BEGIN IMMEDIATE) while every reader makes its
  first read, so no write can be committed in between; then it lets go. Writers wait for those
  few milliseconds, as they would for any other writer. If a writer already holds the lock (a
  roster import runs in one long transaction), the gate does not wait for it: the caller runs the
  queries one after another on its own connection instead.

fetch_all() runs the queries on the session's own connection instead when the setting asks for
one connection, when the session is bound to a connection of its own (the tests' per-test
transaction, whose rows other connections cannot see), for in-memory SQLite, at the gate, and
while another report of this process is running side by side. One report at a time takes extra
connections: a request holds its own while it waits for more, and several reports each holding
part of what they need could empty the pool and wait on one another. On its own connection the
report still sees one moment: SQLite's transaction is one snapshot; on PostgreSQL the session's
transaction is begun afresh in REPEATABLE READ.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from sqlalchemy import Connection, Engine

from school_prevention.db import SQLITE_BUSY_TIMEOUT_MS, begin_afresh

# How long the SQLite gate waits for a writer before the report runs on one connection.
GATE_WAIT_MS = 200
# One report side by side at a time in this process (see the module's docstring).
_SLOT = threading.Lock()
_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")


def can_run_side_by_side(bind, connections: int) -> bool:
    """Whether queries may go to fresh connections of bind: an engine (not a connection a caller
    holds a transaction on), a database other connections can see, and more than one wanted."""
    if connections < 2 or not isinstance(bind, Engine):
        return False
    if bind.dialect.name == "sqlite":
        return bind.url.database not in (None, "", ":memory:") and "mode=memory" not in str(bind.url)
    return bind.dialect.name == "postgresql"


def run_side_by_side(engine: Engine, queries: dict[str, tuple], connections: int,
                     prepare: Callable[[Connection], None], then: dict[str, Callable] | None = None,
                     ) -> dict[str, Any] | None:
    """Each query's rows (fetched in full), by name; None when a consistent start was not to be had.

    queries: name -> (statement, parameters), longest first: each connection takes the next
    query when it is done with its last, so the long ones should not be left for the end.
    prepare(connection) runs once on each connection before its first query. then: name ->
    a function of the rows, whose result is given instead: it runs in the same thread, while
    the other connections' queries are still running.
    """
    then = then or {}
    n = max(1, min(connections, len(queries)))
    with ExitStack() as stack:
        conns = [stack.enter_context(engine.connect()) for _ in range(n)]
        if engine.dialect.name == "postgresql":
            _share_postgresql_snapshot(conns)
        elif not _start_sqlite_readers_together(engine, conns):
            return None
        for conn in conns:
            prepare(conn)
        pending = list(queries.items())
        lock = threading.Lock()
        results: dict[str, Any] = {}

        def work(conn: Connection) -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    name, (statement, params) = pending.pop(0)
                rows = conn.execute(statement, params).all()
                if name in then:
                    rows = then[name](rows)
                with lock:
                    results[name] = rows

        if n == 1:
            work(conns[0])
        else:
            with ThreadPoolExecutor(max_workers=n - 1, thread_name_prefix="report") as pool:
                futures = [pool.submit(work, conn) for conn in conns[1:]]
                work(conns[0])  # this thread is a worker too
                for future in futures:
                    future.result()  # re-raises a worker's error here
        for conn in conns:
            conn.rollback()  # read only: nothing to keep
        return results


def _share_postgresql_snapshot(conns: list[Connection]) -> None:
    """The first connection exports its snapshot; the others adopt it before any query."""
    leader, *followers = conns
    leader.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    snapshot = leader.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    if not _SNAPSHOT_ID.match(snapshot):  # spliced into SQL below: make sure it is what PostgreSQL makes
        raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
    for conn in followers:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")


def _start_sqlite_readers_together(engine: Engine, conns: list[Connection]) -> bool:
    """Start every connection's read transaction while no write can be committed (see the module)."""
    gate = engine.raw_connection()
    try:
        cursor = gate.cursor()
        cursor.execute(f"PRAGMA busy_timeout={GATE_WAIT_MS}")
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except Exception as exc:  # sqlite3.OperationalError: database is locked
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            return False
        try:
            for conn in conns:
                conn.begin()
                # The first read fixes what this connection sees until its transaction ends.
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()
        finally:
            cursor.execute("ROLLBACK")
    finally:
        cursor = gate.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # as every connection has it
        gate.close()
    return True


def fetch_all(session, queries: dict[str, tuple], connections: int,
              prepare: Callable[[Connection], None], then: dict[str, Callable] | None = None) -> dict[str, Any]:
    """Rows of each query (or then[name] of them): side by side when possible, else one after
    another on the session."""
    bind = session.get_bind()
    if can_run_side_by_side(bind, connections) and _SLOT.acquire(blocking=False):
        try:
            results = run_side_by_side(bind, queries, connections, prepare, then)
        finally:
            _SLOT.release()
        if results is not None:
            return results
    then = then or {}
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        # READ COMMITTED would give each query its own moment. The transaction has only read
        # (the signed-in user), so it is begun again, for the queries and the audit row after them.
        begin_afresh(session, isolation_level="REPEATABLE READ")
    connection = session.connection()
    prepare(connection)
    results = {}
    for name, (statement, params) in queries.items():
        rows = connection.execute(statement, params).all()
        results[name] = then[name](rows) if name in then else rows
    return results
