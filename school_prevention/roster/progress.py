"""A working run's progress and heartbeat: written by its worker while it works, read by every app server.

While a run works, a thread of its worker (Beat) writes the latest figures and the time once every
BEAT_SECONDS, whatever the import is doing at that moment (a long statement, waiting for another
import's turn), so a run whose heartbeat is older than STALE_AFTER has lost its worker.

PostgreSQL: the beat is an UPDATE of the run's row, each its own short transaction on a connection
of its own, beside the import's one long transaction; every app server reads the row.

SQLite: there is one writer at a time, and the import's transaction holds the write lock from its
first statement to its commit, so no other connection can write the row while it works (and the
import's own connection would make the figures visible only at its commit). The beat therefore
goes to a small file beside the database, `<database>-roster-<id>-<attempt>.progress` (JSON, replaced
atomically with os.replace, so a reader sees the old figures or the new, never half). A SQLite
database is one machine by definition: every process that opens it (app servers, the scheduler)
sees the same folder. The row keeps the heartbeat of the claim; readers take whichever is newer.
The pages that read progress do so without asking for the write lock (roster.views), so they
answer while the import holds it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text, update

from school_prevention.db import utcnow
from school_prevention.roster.models import RUNNING, RosterImport

log = logging.getLogger(__name__)

# How often a working run writes its figures and heartbeat; after how long without one its worker
# is taken to have gone away (well above a beat delayed by a slow write or a busy machine).
BEAT_SECONDS = 1.0
STALE_AFTER = timedelta(minutes=2)
RUN = RosterImport.__table__


def worker_name() -> str:
    """How a worker names itself in claimed_by: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Owner:
    """A run as claimed by one worker: a beat or a finish for another claim of it changes nothing."""

    run_id: int
    claimed_by: str
    attempt: int


@dataclass(frozen=True)
class Live:
    """What a reader knows of a run's progress: rows read of how many, the file, the last heartbeat."""

    done: int
    total: int
    current: str
    beat_at: datetime | None


def side_file(engine, run_id: int, attempt: int) -> Path | None:
    """SQLite: the file an attempt's beat is written to, beside the database; None on PostgreSQL (or in memory).

    One per attempt: a worker taken for dead that comes back never writes over, or removes, the
    file of the attempt that replaced it.
    """
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    return Path(os.path.abspath(engine.url.database + f"-roster-{run_id}-{attempt}.progress"))


def _read_side_file(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # no file: not working (any more), or not yet


def read(run: RosterImport, engine) -> Live:
    """A run's progress as every app server sees it: its row, and on SQLite its beat file when newer."""
    live = Live(run.progress_done, run.progress_total, run.progress_file or "", run.heartbeat_at)
    if run.status != RUNNING:
        return live
    data = _read_side_file(side_file(engine, run.id, run.attempts))
    if data is None:
        return live
    beat_at = datetime.fromisoformat(data["beat_at"])
    if live.beat_at is not None and live.beat_at > beat_at:
        return live
    return Live(int(data["done"]), int(data["total"]), str(data["current"]), beat_at)


def is_stalled(run: RosterImport, live: Live, now: datetime | None = None) -> bool:
    """A running run whose worker has given no sign of life for STALE_AFTER: it went away."""
    if run.status != RUNNING:
        return False
    last = live.beat_at or run.queued_at
    return last < (now or utcnow()) - STALE_AFTER


def forget(engine, run_id: int, attempt: int) -> None:
    """Remove an attempt's beat file (SQLite), once nobody works on it any more."""
    path = side_file(engine, run_id, attempt)
    if path is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove %s", path, exc_info=True)


class Beat:
    """Writes a working run's progress and heartbeat every BEAT_SECONDS from a thread of its own.

    update() is what the importer calls with its figures: it only keeps them (a row costs nothing
    more); the thread writes the latest ones. Also writes once on entering, and stops on leaving,
    which the worker does only after the import's transaction has ended. `also` is told every
    update too (the command line's progress bar).
    """

    def __init__(self, engine, owner: Owner, also: Callable[[int, int, str], None] | None = None):
        self.engine = engine
        self.owner = owner
        self.also = also
        self.figures: tuple[int, int, str] = (0, 0, "")
        self.path = side_file(engine, owner.run_id, owner.attempt)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0

    def update(self, done: int, total: int, current: str) -> None:
        self.figures = (done, total, current)
        if self.also is not None:
            self.also(done, total, current)

    def __enter__(self) -> Beat:
        self.write()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"roster-beat-{self.owner.run_id}")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.path is not None:
            forget(self.engine, self.owner.run_id, self.owner.attempt)

    def _run(self) -> None:
        while not self._stop.wait(BEAT_SECONDS):
            self.write()

    def write(self) -> None:
        """Write the figures and the time now; a failure is logged (the next beat tries again)."""
        done, total, current = self.figures
        now = utcnow()
        try:
            if self.path is not None:
                data = {
                    "run": self.owner.run_id,
                    "attempt": self.owner.attempt,
                    "claimed_by": self.owner.claimed_by,
                    "done": done,
                    "total": total,
                    "current": current,
                    "beat_at": now.isoformat(),
                }
                temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
                temporary.write_text(json.dumps(data))
                os.replace(temporary, self.path)
                return
            with self.engine.begin() as connection:
                # Never wait long on the run's row (the import locks it as it finishes): the next beat comes soon.
                connection.execute(text("SET LOCAL lock_timeout = '2s'"))
                connection.execute(
                    update(RUN)
                    .where(
                        RUN.c.id == self.owner.run_id,
                        RUN.c.status == RUNNING,
                        RUN.c.claimed_by == self.owner.claimed_by,
                        RUN.c.attempts == self.owner.attempt,
                    )
                    .values(
                        progress_done=done, progress_total=total, progress_file=current[:255] or None, heartbeat_at=now
                    )
                )
        except Exception:
            self._failures += 1
            if self._failures == 1 or self._failures % 60 == 0:
                log.warning(
                    "roster import #%s: could not write its progress (%s times)",
                    self.owner.run_id,
                    self._failures,
                    exc_info=True,
                )
