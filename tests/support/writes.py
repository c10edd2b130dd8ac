"""What a request changed in the database, told exactly and cheaply from the statements it ran.

A `Writes` listens to an engine: every INSERT, UPDATE or DELETE that touched a row is noted with
its table. Statements run inside a savepoint that was later rolled back are forgotten (the
database undid them too); those inside one that was released stay. So after a request,
`changed()` lists the tables whose rows really changed, without reading any table: the fuzz test
(tests/test_fuzz.py) uses it to check that a refused request changed nothing, and keeps a full
snapshot of every table only as an occasional cross-check.
"""

from __future__ import annotations

import re

from sqlalchemy import event

# The table a data-changing statement writes to (also after a WITH clause, and SQLite's OR REPLACE).
_DML = re.compile(
    r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM|REPLACE\s+INTO|"
    r'MERGE\s+INTO|TRUNCATE(?:\s+TABLE)?)\s+(?:ONLY\s+)?"?(\w+)"?',
    re.IGNORECASE,
)
_FIRST = {"INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "TRUNCATE", "WITH"}


def written_table(statement: str) -> str | None:
    """The table statement changes, or None for a statement that changes no rows (SELECT, SAVEPOINT...)."""
    head = statement.lstrip()[:10].split(None, 1)
    if not head or head[0].upper() not in _FIRST:
        return None
    found = _DML.search(statement)
    if found is None:  # WITH ... SELECT
        return None
    return found.group(1).lower()


class Writes:
    """The rows changed since reset(), per table, as they stand after savepoints released or rolled back."""

    def __init__(self, engine):
        self.engine = engine
        self._frames: list[tuple[str | None, list[tuple[str, str]]]] = [(None, [])]
        # Savepoints are read from their statements: the engine's savepoint event is told no name.
        self._listeners = [("after_cursor_execute", self._executed)]
        for name, fn in self._listeners:
            event.listen(engine, name, fn)

    def close(self) -> None:
        for name, fn in self._listeners:
            event.remove(self.engine, name, fn)

    def reset(self) -> None:
        """Forget everything so far: count from here (call it inside the example's own savepoint)."""
        self._frames = [(None, [])]

    def changed(self, ignore: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
        """(table, statement) of every change that stands, except to the tables in ignore."""
        return [(table, sql) for _, writes in self._frames for table, sql in writes if table not in ignore]

    # -- listeners --------------------------------------------------------------------------------

    def _executed(self, conn, cursor, statement, parameters, context, executemany):
        words = statement.split(None, 4)
        verb = words[0].upper() if words else ""
        if verb == "SAVEPOINT":
            return self._savepoint(words[1])
        if verb == "RELEASE":  # RELEASE [SAVEPOINT] name
            return self._released(words[-1])
        if verb == "ROLLBACK" and len(words) > 2:  # ROLLBACK TO [SAVEPOINT] name
            return self._rolled_back(words[-1])
        table = written_table(statement)
        if table is None:
            return
        if cursor.rowcount == 0:  # a guarded UPDATE that matched nothing, ON CONFLICT DO NOTHING: no change
            return
        self._frames[-1][1].append((table, statement[:200]))

    def _savepoint(self, name):
        self._frames.append((name, []))

    def _pop_to(self, name) -> list[tuple[str, str]] | None:
        """Remove the frames down to and including savepoint name; their writes, or None if it is not ours."""
        if not any(frame_name == name for frame_name, _ in self._frames[1:]):
            return None
        writes: list[tuple[str, str]] = []
        while True:
            frame_name, frame_writes = self._frames.pop()
            writes = frame_writes + writes
            if frame_name == name:
                return writes

    def _rolled_back(self, name):
        if self._pop_to(name) is None:
            # A savepoint begun before reset() (the example's own): everything since is undone.
            self._frames = [(None, [])]

    def _released(self, name):
        writes = self._pop_to(name)
        if writes is not None:
            self._frames[-1][1].extend(writes)
