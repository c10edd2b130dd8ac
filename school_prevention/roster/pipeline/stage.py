"""Stage: users.csv's valid student rows into a temporary table, for set-based writes after.

PostgreSQL takes them by one COPY held open for the whole file (nothing else needs the connection
while the file is read: validation looks nothing up); SQLite by executemany of plain tuples, the
driver's fastest path. The table lives in the import's transaction and connection only; it is
dropped at the end, and a failed import's rollback takes it away with everything else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, text

from school_prevention.extensions import db
from school_prevention.roster.pipeline.validate import StudentRow

STAGE = Table(
    "roster_stage_student",
    MetaData(),
    Column("line", Integer),
    Column("sourced_id", String(255)),
    Column("school_id", Integer),
    Column("given_name", String(255)),
    Column("family_name", String(255)),
    Column("grade", String(10)),
    Column("identifier", String(255)),
    Column("is_active", Boolean),
    Column("is_deleted", Boolean),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
COLUMNS = tuple(c.name for c in STAGE.columns)  # in StudentRow's order: a row is written as it is


class StudentStage:
    """The staging table of one import: create(), write(batch) as often as needed, close(), drop()."""

    def __init__(self) -> None:
        self.conn = db.session.connection()
        self.postgresql = self.conn.dialect.name == "postgresql"
        self.rows = 0
        self._copy: tuple | None = None  # PostgreSQL: (cursor, copy) open from the first batch to close()

    def create(self) -> None:
        """A fresh, empty staging table (a test's earlier import in the same connection may have left one)."""
        self.conn.execute(text(f"DROP TABLE IF EXISTS {STAGE.name}"))
        STAGE.create(self.conn)
        if self.postgresql:
            # Indexed as the COPY streams in: the server builds it while this process reads the file.
            self._index()

    def write(self, batch: list[StudentRow]) -> None:
        """Add one batch of valid rows."""
        if not batch:
            return
        self.rows += len(batch)
        if self.postgresql:
            if self._copy is None:
                raw = self.conn.connection.dbapi_connection
                assert raw is not None  # an open connection: the import's transaction is on it
                cursor = raw.cursor()
                try:
                    copy = cursor.copy(f"COPY {STAGE.name} ({', '.join(COLUMNS)}) FROM STDIN")
                    self._copy = (cursor, copy, copy.__enter__())
                except BaseException:
                    cursor.close()
                    raise
            write_row = self._copy[2].write_row
            for row in batch:
                write_row(row)
            return
        self.conn.exec_driver_sql(f"INSERT INTO {STAGE.name} VALUES ({', '.join('?' * len(COLUMNS))})", batch)

    def close(self, failed: bool = False) -> None:
        """Finish loading: end the COPY (abandon it when failed) and index the table for the joins."""
        if self._copy is not None:
            cursor, copy, _ = self._copy
            self._copy = None
            try:
                if not failed:
                    copy.__exit__(None, None, None)
                else:
                    # While a COPY is open psycopg holds the connection (a rollback would wait for ever).
                    with contextlib.suppress(Exception):
                        copy.__exit__(RuntimeError, RuntimeError("import stopped"), None)
            finally:
                cursor.close()
        if failed:
            return
        if not self.postgresql:
            self._index()  # SQLite: one sort after the load is cheaper than an index kept up row by row
        self.conn.execute(text(f"ANALYZE {STAGE.name}"))  # a temporary table gets no statistics otherwise

    def _index(self) -> None:
        # Duplicate sourcedIds were rejected while reading: the index may be unique.
        self.conn.execute(text(f"CREATE UNIQUE INDEX ix_{STAGE.name} ON {STAGE.name} (sourced_id)"))

    def drop(self) -> None:
        """Remove the staging table (the import is done with it)."""
        self.conn.execute(text(f"DROP TABLE IF EXISTS {STAGE.name}"))


def stage_students(stage: StudentStage, rows: Iterable[StudentRow], batch_size: int) -> None:
    """Write the rows to the stage in batches of batch_size, as they are read."""
    batch: list[StudentRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            stage.write(batch)
            batch = []
    stage.write(batch)
