"""The import worker: claims queued runs one at a time (race-free) and runs each as one transaction.

It runs in the scheduler process (the roster.work job, every few seconds) or by hand (`flask --app
app roster work`); any number of workers on any machines may share the queue. A worker writes its
own transactions: the claim, the import, the report; its heartbeat and progress go beside them
(progress.Beat).
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import update

from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.roster import progress as run_progress
from school_prevention.roster.models import QUEUED, RUNNING, RosterImport
from school_prevention.roster.pipeline.report import ImportReport
from school_prevention.roster.progress import Beat, Owner
from school_prevention.roster.queries import queued_runs, working_runs
from school_prevention.roster.services import UPLOAD_KEEP, fail_run, import_roster
from school_prevention.roster.uploads import write_to

log = logging.getLogger(__name__)
RUN = RosterImport.__table__


def claim(run_id: int, worker: str, now: datetime | None = None) -> Owner | None:
    """Take a queued run for this worker: an UPDATE ... WHERE status = 'queued', so of two workers
    exactly one changes the row (the other's UPDATE finds it running and changes nothing). Flushes."""
    attempt = db.session.execute(
        update(RUN)
        .where(RUN.c.id == run_id, RUN.c.status == QUEUED)
        .values(
            status=RUNNING,
            claimed_by=worker,
            heartbeat_at=now or utcnow(),
            attempts=RUN.c.attempts + 1,
            progress_done=0,
            progress_total=0,
            progress_file=None,
        )
        .returning(RUN.c.attempts)
    ).scalar_one_or_none()
    return None if attempt is None else Owner(run_id, worker, attempt)


def claim_next(worker: str | None = None, now: datetime | None = None) -> Owner | None:
    """Claim the run longest in the queue and commit; None when there is none to take now.

    SQLite: not while another run works. Its import holds the write lock for its whole
    transaction, so a second import would only time out waiting for it; the queued run waits its
    turn instead. This transaction holds the write lock (BEGIN IMMEDIATE), so no other worker can
    claim between the look and the claim. (PostgreSQL: imports take turns inside the import, on an
    advisory lock, the second beating while it waits.)
    """
    worker = worker or run_progress.worker_name()
    now = now or utcnow()
    sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        begin_reading()  # a first look that never waits for the import holding the write lock
        busy = _another_working(now)
        db.session.commit()
        if busy:
            return None
    try:
        if sqlite and _another_working(now):  # again, under the write lock: decisive
            return None
        for run_id in db.session.scalars(queued_runs()).all():
            owner = claim(run_id, worker, now)
            if owner is not None:
                return owner
        return None
    finally:
        db.session.commit()  # the claim, or the end of this reading transaction (SQLite: it holds the write lock)


def begin_reading() -> None:
    """SQLite: begin the next transaction as a plain read, without the write lock, so the worker's
    looks at the queue answer at once while an import (another worker's, the command line's) holds it."""
    db.session.commit()
    if db.engine.dialect.name == "sqlite":
        db.session.connection(execution_options={"sqlite_deferred": True})


def _another_working(now: datetime) -> bool:
    return any(
        not run_progress.is_stalled(run, run_progress.read(run, db.engine), now)
        for run in db.session.scalars(working_runs())
    )


def run_claimed(owner: Owner) -> ImportReport | None:
    """Run one claimed run: fetch its upload into a temporary file and import it, beating all along."""
    with Beat(db.engine, owner) as beat, tempfile.TemporaryDirectory(prefix="roster-import-") as folder:
        run = db.session.get(RosterImport, owner.run_id)
        assert run is not None  # a claimed run; runs are kept, never deleted
        dry_run, allow, upload_id = run.is_dry_run, run.allow_mass_deactivation, run.upload_id
        path = write_to(upload_id, Path(folder) / "export.zip") if upload_id is not None else None
        db.session.commit()  # end the reading before the import's transaction (SQLite: it held the write lock)
        if path is None:
            fail_run(
                owner,
                f"The uploaded file is no longer kept (uploads are kept for {UPLOAD_KEEP.days} days). "
                "Upload the export again to check and apply it. Nothing was changed.",
            )
            return None
        return import_roster(owner.run_id, path, dry_run=dry_run, allow_mass_deactivation=allow, owner=owner, beat=beat)


def work(worker: str | None = None) -> int:
    """Run queued imports one after another until none is left to take; returns how many ran."""
    ran = 0
    while (owner := claim_next(worker)) is not None:
        try:
            run_claimed(owner)
        except Exception:
            db.session.rollback()
            log.exception("roster import #%s stopped with an error", owner.run_id)
            try:
                fail_run(owner, "The import worker met an error and changed nothing. Try the import again.")
            except Exception:
                db.session.rollback()
                log.exception("roster import #%s could not be marked failed", owner.run_id)
        ran += 1
    return ran


def stopped_runs(now: datetime | None = None) -> list[Owner]:
    """The claims of running runs whose worker went away (no heartbeat for STALE_AFTER), for an admin
    to retry or discard."""
    now = now or utcnow()
    begin_reading()
    try:
        return [
            Owner(run.id, run.claimed_by or "", run.attempts)
            for run in db.session.scalars(working_runs())
            if run_progress.is_stalled(run, run_progress.read(run, db.engine), now)
        ]
    finally:
        db.session.commit()
