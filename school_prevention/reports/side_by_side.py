"""Run a report's read-only queries side by side, on several connections that all see one snapshot.

The district's figures come from seven independent queries. One after another they take about a
second at a million students; spread over connections they take about as long as the longest one
(PostgreSQL runs each connection in its own server process; SQLite's driver lets go of Python's
lock while a query runs). The figures must still describe one moment, or the coverage identity
and the linked totals that suppression relies on could disagree by a record saved in between:

- PostgreSQL: the first connection exports its snapshot (pg_export_snapshot) and every other one
  adopts it (SET TRANSACTION SNAPSHOT) in a REPEATABLE READ, READ ONLY transaction.
- SQLite has no shared snapshots, but in WAL mode a reader sees the database as of its first
  read. The caller's own transaction holds the write lock (every SQLite transaction begins with
  BEGIN IMMEDIATE, see db.py) while every reader makes its first read, so no write can be
  committed in between.

fetch_all() runs the queries on the session's own connection instead when the setting asks for
one connection, when the session is bound to a connection of its own (the tests' per-test
transaction, whose rows other connections cannot see), for in-memory SQLite, and while another
report of this process is running side by side. One report at a time takes several extra
connections: a request holds its own while it waits for more, and several reports each holding
part of what they need could empty the pool and wait on one another. One after another, the
report still sees one moment: SQLite's transaction is one snapshot; on PostgreSQL the queries go
to one fresh connection reading in REPEATABLE READ (the request's own is READ COMMITTED).
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from sqlalchemy import Connection, Engine


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
                     ) -> dict[str, Any]:
    """Each query's rows (fetched in full), by name.

    queries: name -> (statement, parameters), longest first: each connection takes the next
    query when it is done with its last, so the long ones should not be left for the end.
    prepare(connection) runs once on each connection before its first query. then: name ->
    a function of the rows, whose result is given instead: it runs in the same thread, while
    the other connections' queries are still running.
    """
    then = then or {}
    n = max(1, min(connections, len(queries)))
    with ExitStack() as stack:
        # Readers only: on SQLite they must not queue for the write lock (db._sqlite_begin).
        conns = [stack.enter_context(engine.connect()).execution_options(sqlite_deferred=True) for _ in range(n)]
        if engine.dialect.name == "postgresql":
            _share_postgresql_snapshot(conns)
        else:
            _start_sqlite_readers(conns)
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


def _start_sqlite_readers(conns: list[Connection]) -> None:
    """Begin each reader with a plain BEGIN and its first read, which fixes what it sees. The caller's
    own transaction holds the write lock (fetch_all), so nothing can be committed in between."""
    for conn in conns:
        conn.begin()
        conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()


def fetch_all(session, queries: dict[str, tuple], connections: int,
              prepare: Callable[[Connection], None], then: dict[str, Callable] | None = None) -> dict[str, Any]:
    """Rows of each query (or then[name] of them): side by side when possible, else one after
    another on the session."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        session.connection()  # BEGIN IMMEDIATE: no one else commits until this transaction ends
    if can_run_side_by_side(bind, connections) and _SLOT.acquire(blocking=False):
        try:
            results = run_side_by_side(bind, queries, connections, prepare, then)
        finally:
            _SLOT.release()
        return results
    then = then or {}
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        # The request's transaction is READ COMMITTED, which would give each query its own moment:
        # one fresh connection in a REPEATABLE READ, READ ONLY transaction reads one snapshot.
        return run_side_by_side(bind, queries, 1, prepare, then)
    # SQLite: the session's transaction is one snapshot (and holds the write lock: see db.py).
    connection = session.connection()
    prepare(connection)
    results = {}
    for name, (statement, params) in queries.items():
        rows = connection.execute(statement, params).all()
        results[name] = then[name](rows) if name in then else rows
    return results
