"""Run a roster import as one transaction, store its report, and write its audit row."""
from __future__ import annotations

from pathlib import Path

from school_prevention import audit
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.roster.importer import ImportReport, RosterImporter
from school_prevention.roster.models import RosterImport
from school_prevention.roster.sources import RosterSource, SourceError


def start_run(actor, source_name: str, *, dry_run: bool, upload_path: str | None = None) -> RosterImport:
    """Create the run row (committed at once, so the run is visible while it works)."""
    run = RosterImport(actor_id=getattr(actor, "id", None), source_name=source_name, is_dry_run=dry_run,
                       status="running", started_at=utcnow(), upload_path=upload_path)
    db.session.add(run)
    db.session.commit()
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
                                progress=progress, import_id=run_id).run()
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
    db.session.commit()
    return report
