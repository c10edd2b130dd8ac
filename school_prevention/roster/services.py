"""Run a roster import as one transaction, store its report, and write its audit row; apply a dry run once."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import aliased

from school_prevention import audit
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.roster.importer import ImportReport, RosterImporter
from school_prevention.roster.models import RosterImport
from school_prevention.roster.sources import RosterSource, SourceError

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


class _Lost(Exception):
    """The conditional UPDATE claimed nothing: someone else applied the dry run first."""


def upload_folder(app) -> Path:
    """Where uploaded exports wait to be applied: ROSTER_UPLOAD_FOLDER, else instance/roster-uploads."""
    folder = Path(app.config.get("ROSTER_UPLOAD_FOLDER") or Path(app.instance_path) / "roster-uploads")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def start_run(actor, source_name: str, *, dry_run: bool, upload_path: str | None = None) -> RosterImport:
    """Create the run row (committed at once, so the run is visible while it works)."""
    run = RosterImport(actor_id=getattr(actor, "id", None), source_name=source_name, is_dry_run=dry_run,
                       status="running", started_at=utcnow(), upload_path=upload_path)
    db.session.add(run)
    db.session.commit()
    return run


def check_can_apply(dry: RosterImport) -> None:
    """Raise ApplyError with the reason an admin can act on when this dry run cannot be applied."""
    if not dry.is_dry_run or dry.status not in ("done", "refused"):
        raise ApplyError("Only a finished dry run can be applied.")
    if dry.is_applied:
        run = dry.applied_run
        if run.status == "running":
            raise ApplyError(f"This dry run is already being applied as run #{run.id}; it was not started again.",
                             run_id=run.id)
        raise ApplyError(f"This dry run was already applied as run #{run.id}; it was not applied again.", run_id=run.id)
    if not dry.upload_path or not Path(dry.upload_path).exists():
        raise ApplyError(f"The uploaded file has expired (uploads are kept for {UPLOAD_KEEP.days} days). "
                         "Upload the export again to check and apply it.", expired=True)


def start_apply(actor, dry: RosterImport) -> RosterImport:
    """Claim a finished dry run for one apply and create the import run that applies it.

    The claim is a conditional UPDATE whose row count decides: of two clicks, tabs or servers,
    exactly one sets applied_run_id; the other gets ApplyError naming the winner. A claim by an
    attempt that was refused or failed (and so changed nothing) may be taken over by a new one.
    Flushes; the caller commits, then launches the run.
    """
    check_can_apply(dry)
    attempt = aliased(RosterImport)  # an alias, so the subquery is not correlated to the UPDATE's row
    changed_nothing = select(attempt.id).where(attempt.status.in_(("refused", "failed")))
    try:
        with db.session.begin_nested():
            run = RosterImport(actor_id=getattr(actor, "id", None), source_name=dry.source_name, is_dry_run=False,
                               status="running", started_at=utcnow(), upload_path=dry.upload_path)
            db.session.add(run)
            db.session.flush()
            claimed = db.session.execute(
                update(RUN).where(RUN.c.id == dry.id, RUN.c.is_dry_run.is_(True), RUN.c.status.in_(("done", "refused")),
                                  RUN.c.upload_path.is_not(None),
                                  or_(RUN.c.applied_run_id.is_(None), RUN.c.applied_run_id.in_(changed_nothing)))
                .values(applied_run_id=run.id)).rowcount
            if claimed != 1:
                raise _Lost
    except _Lost:
        db.session.expire(dry)
        check_can_apply(dry)  # names the run that won, or why the file is gone
        raise ApplyError("This dry run cannot be applied now.")
    db.session.expire(dry, ["applied_run_id", "applied_run"])
    return run


def import_roster(run_id: int, path: str | Path, *, dry_run: bool, allow_mass_deactivation: bool = False,
                  progress=None) -> ImportReport:
    """Import a OneRoster folder or zip. Applies everything or nothing; a dry run changes nothing.

    The run row gets the report and the audit row is written in the same commit as the changes.
    """
    try:
        source = RosterSource(path)
    except SourceError as exc:
        report = ImportReport(dry_run=dry_run, refused=str(exc))
        return _finish(run_id, report, "failed")
    try:
        report = RosterImporter(source, dry_run=dry_run, allow_mass_deactivation=allow_mass_deactivation,
                                progress=progress, import_id=run_id,
                                batch_size=current_app.config["ROSTER_BATCH_SIZE"]).run()
    except SourceError as exc:  # a file that cannot be read (encoding, damaged zip, unclosed quote)
        db.session.rollback()
        report = ImportReport(dry_run=dry_run, refused=f"{exc} Nothing was changed.")
        return _finish(run_id, report, "failed")
    except Exception as exc:  # anything unexpected: nothing of the import may stay
        db.session.rollback()
        report = ImportReport(dry_run=dry_run, refused=f"The import failed and changed nothing: {exc.__class__.__name__}: {exc}")
        return _finish(run_id, report, "failed")
    finally:
        source.close()
    if dry_run or report.refused:
        db.session.rollback()
    return _finish(run_id, report, "refused" if report.refused else "done")


def _finish(run_id: int, report: ImportReport, status: str) -> ImportReport:
    run = db.session.get(RosterImport, run_id)
    run.status, run.finished_at = status, utcnow()
    run.counts, run.report = dict(report.counts), report.as_dict()
    audit.record("roster.import" if not report.dry_run else "roster.dry_run", actor=run.actor, obj=run,
                 detail={"status": status, "counts": dict(report.counts), "rejected": len(report.rejected)})
    # An uploaded export (never a path given on the command line) is not needed once applied.
    applied_upload = run.upload_path if status == "done" and not report.dry_run else None
    if applied_upload:
        db.session.execute(update(RUN).where(RUN.c.upload_path == applied_upload).values(upload_path=None))
    db.session.commit()
    if applied_upload:  # after the commit: a failed commit keeps the file for another try
        _delete_file(applied_upload)
    return report


def _delete_file(path: str) -> None:
    try:
        Path(path).unlink(missing_ok=True)
    except OSError:
        log.warning("could not delete the roster upload %s", path, exc_info=True)


def expire_uploads(now: datetime, folder: Path | None = None) -> int:
    """Delete uploads of dry runs started more than UPLOAD_KEEP ago and clear their upload_path.

    A file being applied right now is left alone. With folder, files there that no run refers to
    (a crash between an apply's commit and its delete) are removed once they are as old. Returns
    how many files were deleted; a second run the same day finds nothing.
    """
    cutoff = now - UPLOAD_KEEP
    in_use = select(RosterImport.upload_path).where(RosterImport.status == "running",
                                                    RosterImport.upload_path.is_not(None))
    paths = set(db.session.scalars(select(RosterImport.upload_path).where(
        RosterImport.is_dry_run.is_(True), RosterImport.upload_path.is_not(None), RosterImport.started_at < cutoff,
        RosterImport.upload_path.not_in(in_use))))
    if paths:
        db.session.execute(update(RUN).where(RUN.c.upload_path.in_(paths)).values(upload_path=None))
    deleted = 0
    for path in paths:
        deleted += Path(path).exists()
        _delete_file(path)
    if folder is not None and folder.is_dir():
        known = {Path(p).resolve() for p in db.session.scalars(
            select(RosterImport.upload_path).where(RosterImport.upload_path.is_not(None)))}
        for file in folder.glob("*.zip"):
            if file.resolve() not in known and file.stat().st_mtime < cutoff.timestamp():
                _delete_file(str(file))
                deleted += 1
    return deleted
