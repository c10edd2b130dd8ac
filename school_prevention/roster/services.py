"""Queue roster imports (an upload's dry run, an apply), retry or discard a run whose worker went away,
run one import as one transaction with its report and audit row, and expire old uploads."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import aliased

from school_prevention import audit
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.roster import progress as run_progress
from school_prevention.roster.models import (
    ABANDONED,
    CHANGED_NOTHING,
    DONE,
    FAILED,
    QUEUED,
    REFUSED,
    RUNNING,
    RosterImport,
    RosterUpload,
)
from school_prevention.roster.pipeline import run as pipeline
from school_prevention.roster.pipeline.report import ImportReport
from school_prevention.roster.progress import Beat, Owner
from school_prevention.roster.sources import RosterSource, SourceError
from school_prevention.roster.uploads import delete_uploads, store

log = logging.getLogger(__name__)

# An uploaded export nobody applied is deleted after this long (roster.jobs); applying deletes it at once.
UPLOAD_KEEP = timedelta(days=7)
RUN = RosterImport.__table__


class ApplyError(Exception):
    """Why a dry run cannot be applied now; run_id is the run already applying it, when that is why."""

    def __init__(self, message: str, *, run_id: int | None = None, expired: bool = False):
        super().__init__(message)
        self.run_id = run_id
        self.expired = expired


class RunError(Exception):
    """Why a run cannot be retried or discarded now (it came back to life, or it finished)."""


class _Lost(Exception):
    """The conditional UPDATE claimed nothing: someone else applied the dry run first."""


def start_upload(actor, stream: BinaryIO, file_name: str) -> RosterImport:
    """Keep an uploaded zip (uploads.UploadError if it is none, or too large) and queue its dry run.

    Flushes; the request's commit makes the run visible to the import worker.
    """
    upload = store(stream, file_name, max_bytes=current_app.config["MAX_CONTENT_LENGTH"])
    run = RosterImport(
        actor_id=getattr(actor, "id", None),
        source_name=upload.file_name,
        is_dry_run=True,
        status=QUEUED,
        upload_id=upload.id,
    )
    db.session.add(run)
    db.session.flush()
    return run


def start_run(actor, source_name: str, *, dry_run: bool) -> RosterImport:
    """A run the calling process does itself (the command line, a benchmark): running, claimed by it.

    Flushes; import_roster commits it before the import's own transaction begins.
    """
    now = utcnow()
    run = RosterImport(
        actor_id=getattr(actor, "id", None),
        source_name=source_name,
        is_dry_run=dry_run,
        status=RUNNING,
        started_at=now,
        queued_at=now,
        claimed_by=run_progress.worker_name(),
        attempts=1,
        heartbeat_at=now,
    )
    db.session.add(run)
    db.session.flush()
    return run


def check_can_apply(dry: RosterImport) -> None:
    """Raise ApplyError with the reason an admin can act on when this dry run cannot be applied."""
    if not dry.is_dry_run or dry.status not in (DONE, REFUSED):
        raise ApplyError("Only a finished dry run can be applied.")
    if dry.is_applied:
        run = dry.applied_run
        assert run is not None  # is_applied: the dry run has an applied run
        if run.status in (QUEUED, RUNNING):
            raise ApplyError(
                f"This dry run is already being applied as run #{run.id}; it was not started again.", run_id=run.id
            )
        raise ApplyError(f"This dry run was already applied as run #{run.id}; it was not applied again.", run_id=run.id)
    if dry.upload_id is None:
        raise ApplyError(
            f"The uploaded file has expired (uploads are kept for {UPLOAD_KEEP.days} days). "
            "Upload the export again to check and apply it.",
            expired=True,
        )


def start_apply(actor, dry: RosterImport, *, allow_mass_deactivation: bool = False) -> RosterImport:
    """Claim a finished dry run for one apply and queue the import run that applies it.

    The claim is a conditional UPDATE whose row count decides: of two clicks, tabs or servers,
    exactly one sets applied_run_id; the other gets ApplyError naming the winner. A claim by an
    attempt that changed nothing (refused, failed, discarded) may be taken over by a new one.
    Flushes; the request's commit hands the run to the import worker.
    """
    check_can_apply(dry)
    attempt = aliased(RosterImport)  # an alias, so the subquery is not correlated to the UPDATE's row
    changed_nothing = select(attempt.id).where(attempt.status.in_(CHANGED_NOTHING))
    try:
        with db.session.begin_nested():
            run = RosterImport(
                actor_id=getattr(actor, "id", None),
                source_name=dry.source_name,
                is_dry_run=False,
                status=QUEUED,
                upload_id=dry.upload_id,
                allow_mass_deactivation=allow_mass_deactivation,
            )
            db.session.add(run)
            db.session.flush()
            claimed = cast(
                CursorResult[Any],
                db.session.execute(
                    update(RUN)
                    .where(
                        RUN.c.id == dry.id,
                        RUN.c.is_dry_run.is_(True),
                        RUN.c.status.in_((DONE, REFUSED)),
                        RUN.c.upload_id.is_not(None),
                        or_(RUN.c.applied_run_id.is_(None), RUN.c.applied_run_id.in_(changed_nothing)),
                    )
                    .values(applied_run_id=run.id)
                ),
            ).rowcount
            if claimed != 1:
                raise _Lost
    except _Lost:
        db.session.expire(dry)
        check_can_apply(dry)  # names the run that won, or why the file is gone
        raise ApplyError("This dry run cannot be applied now.") from None
    db.session.expire(dry, ["applied_run_id", "applied_run"])
    return run


def _worker_alive(run: RosterImport, now: datetime) -> bool:
    """The run's last sign of life (its row's heartbeat, or on SQLite its beat file) is recent."""
    return not run_progress.is_stalled(run, run_progress.read(run, db.engine), now)


def _take_stopped(run: RosterImport, now: datetime, values: dict) -> None:
    """Change a running run whose worker went away, as the admin saw it (same attempt), or raise RunError.

    Race-free: the UPDATE's WHERE repeats the test (still running, at that attempt, heartbeat
    older than STALE_AFTER), so a worker that beat meanwhile, or a second click, changes nothing.
    On SQLite the worker beats into a file (progress); this request holds the write lock, so the
    worker cannot finish or claim meanwhile, and the file is read under it.
    """
    seen_attempt = run.attempts
    if run.status != RUNNING or _worker_alive(run, now):
        raise RunError(_why_not_stopped(run))
    changed = cast(
        CursorResult[Any],
        db.session.execute(
            update(RUN)
            .where(
                RUN.c.id == run.id,
                RUN.c.status == RUNNING,
                RUN.c.attempts == seen_attempt,
                func.coalesce(RUN.c.heartbeat_at, RUN.c.queued_at) < now - run_progress.STALE_AFTER,
            )
            .values(**values)
        ),
    ).rowcount
    db.session.expire(run)
    if changed != 1:
        raise RunError(_why_not_stopped(run))


def _why_not_stopped(run: RosterImport) -> str:
    if run.status == QUEUED:
        return f"Run #{run.id} is already back in the queue."
    if run.status == RUNNING:
        return f"Run #{run.id} is working: its worker is alive. Nothing was changed."
    return f"Run #{run.id} has finished ({run.status}); nothing was changed."


def retry_run(actor, run: RosterImport, now: datetime | None = None) -> None:
    """Put a run whose worker went away back in the queue, for another worker to start afresh.

    Nothing of its import was kept (its transaction died with the worker), so it runs whole again.
    Flushes; RunError when it is not stopped (any more) or its file is gone.
    """
    now = now or utcnow()
    if run.upload_id is None:
        raise RunError(
            f"Run #{run.id} cannot be retried: its file is not kept (a command-line import, or an "
            "expired upload). Discard it and start the import again."
        )
    attempt = run.attempts
    _take_stopped(
        run,
        now,
        {
            "status": QUEUED,
            "queued_at": now,
            "claimed_by": None,
            "heartbeat_at": None,
            "progress_done": 0,
            "progress_total": 0,
            "progress_file": None,
        },
    )
    run_progress.forget(db.engine, run.id, attempt)
    audit.record("roster.retry", actor=actor, obj=run, detail={"attempt": attempt})


def discard_run(actor, run: RosterImport, now: datetime | None = None) -> None:
    """Discard a run still waiting in the queue, or one whose worker went away: it ends as abandoned.

    It changed nothing; a dry run it applied may be applied again. A discarded dry run's upload is
    deleted (no apply can use it). Flushes; RunError when it is working or finished.
    """
    now = now or utcnow()
    message = "Discarded by an administrator before it ran: nothing was changed."
    values = {"status": ABANDONED, "finished_at": now}
    if run.status == QUEUED:
        result = db.session.execute(
            update(RUN).where(RUN.c.id == run.id, RUN.c.status == QUEUED).values(**values, report={"refused": message})
        )
        changed = cast(CursorResult[Any], result).rowcount
        db.session.expire(run)
        if changed != 1:
            raise RunError(_why_not_stopped(run))
    else:
        message = (
            "Discarded by an administrator after its worker went away: its transaction ended with the "
            "worker, so nothing was changed."
        )
        attempt = run.attempts
        _take_stopped(run, now, {**values, "report": {"refused": message}})
        run_progress.forget(db.engine, run.id, attempt)
    if run.is_dry_run and run.upload_id is not None:
        delete_uploads([run.upload_id])
    audit.record("roster.discard", actor=actor, obj=run, detail={"attempt": run.attempts})


def import_roster(
    run_id: int,
    path: str | Path,
    *,
    dry_run: bool,
    allow_mass_deactivation: bool = False,
    progress=None,
    owner: Owner | None = None,
    beat: Beat | None = None,
) -> ImportReport:
    """Import a OneRoster folder or zip for a claimed run. Applies everything or nothing; a dry run changes nothing.

    Runs in a worker or the command line, never in a web request: it commits what the caller
    left pending (the run as claimed), then runs the import as one transaction whose last
    statement is the run's report, written only if the run is still this worker's claim (a run
    retried or discarded meanwhile is rolled back whole); the audit row goes in the same commit.
    owner: the claim (read from the row when not given); beat: the worker's heartbeat (one is
    started here when not given; `progress` is told every update either way).
    """
    if owner is None:
        claimed_by, attempt = db.session.execute(
            select(RUN.c.claimed_by, RUN.c.attempts).where(RUN.c.id == run_id)
        ).one()
        owner = Owner(run_id, claimed_by, attempt)
    locale = _locale_of(owner)
    db.session.commit()
    if beat is None:
        with Beat(db.engine, owner, progress) as started:
            return _import(owner, path, dry_run, allow_mass_deactivation, started.update, locale)
    if progress is not None:
        beat.also = progress
    return _import(owner, path, dry_run, allow_mass_deactivation, beat.update, locale)


def _import(owner: Owner, path, dry_run: bool, allow: bool, report_progress, locale: str | None) -> ImportReport:
    """Run the pipeline and finish the run; its report is written in `locale` (the admin's language)."""
    with force_locale(locale) if locale else nullcontext():
        try:
            source = RosterSource(path)
        except SourceError as exc:
            return _finish(owner, ImportReport(dry_run=dry_run, refused=str(exc)), FAILED)
        try:
            report = pipeline.import_roster(
                source,
                dry_run=dry_run,
                allow_mass_deactivation=allow,
                progress=report_progress,
                import_id=owner.run_id,
                batch_size=current_app.config["ROSTER_BATCH_SIZE"],
            )
        except SourceError as exc:  # a file that cannot be read (encoding, damaged zip, unclosed quote)
            db.session.rollback()
            refused = _("%(problem)s Nothing was changed.", problem=exc)
            return _finish(owner, ImportReport(dry_run=dry_run, refused=refused), FAILED)
        except Exception as exc:  # anything unexpected: nothing of the import may stay
            db.session.rollback()
            refused = _("The import failed and changed nothing: %(error)s", error=f"{exc.__class__.__name__}: {exc}")
            return _finish(owner, ImportReport(dry_run=dry_run, refused=refused), FAILED)
        finally:
            source.close()
        if dry_run or report.refused:
            db.session.rollback()
        return _finish(owner, report, REFUSED if report.refused else DONE)


def _locale_of(owner: Owner) -> str | None:
    """The language of the admin who started the run: the report is written in it (None: the default)."""
    run = db.session.get(RosterImport, owner.run_id)
    return getattr(run.actor, "locale", None) if run is not None else None


def fail_run(owner: Owner, message: str) -> None:
    """End a claimed run as failed with this message (it changed nothing), and commit."""
    run = db.session.get(RosterImport, owner.run_id)
    assert run is not None  # a claimed run; runs are kept, never deleted
    _finish(owner, ImportReport(dry_run=run.is_dry_run, refused=message), FAILED)


def _finish(owner: Owner, report: ImportReport, status: str) -> ImportReport:
    """Store the report and audit row and commit, only while the run is still this worker's claim."""
    try:
        finished = cast(
            CursorResult[Any],
            db.session.execute(
                update(RUN)
                .where(
                    RUN.c.id == owner.run_id,
                    RUN.c.status == RUNNING,
                    RUN.c.claimed_by == owner.claimed_by,
                    RUN.c.attempts == owner.attempt,
                )
                .values(status=status, finished_at=utcnow(), counts=dict(report.counts), report=report.as_dict())
            ),
        ).rowcount
        if finished != 1:
            # Retried or discarded while this worker ran it (it was taken for dead): what it did is undone.
            db.session.rollback()
            log.warning(
                "roster import #%s was retried or discarded while this worker ran it; its work was rolled back",
                owner.run_id,
            )
            return report
        run = db.session.get(RosterImport, owner.run_id, populate_existing=True)
        assert run is not None  # this worker's claim, confirmed by the UPDATE just made
        audit.record(
            "roster.import" if not report.dry_run else "roster.dry_run",
            actor=run.actor,
            obj=run,
            detail={"status": status, "counts": dict(report.counts), "rejected": len(report.rejected)},
        )
        # The uploaded export is not needed once applied (a dry run and its apply share it).
        if status == DONE and not report.dry_run and run.upload_id is not None:
            delete_uploads([run.upload_id])
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return report


def expire_uploads(now: datetime) -> int:
    """Delete uploads older than UPLOAD_KEEP that no queued or running run needs; returns how many.

    The runs that pointed to them keep their reports (upload_id set to None); a second run the
    same day finds nothing.
    """
    in_use = select(RUN.c.upload_id).where(RUN.c.status.in_((QUEUED, RUNNING)), RUN.c.upload_id.is_not(None))
    old = db.session.scalars(
        select(RosterUpload.id).where(RosterUpload.created_at < now - UPLOAD_KEEP, RosterUpload.id.not_in(in_use))
    ).all()
    return delete_uploads(old)
