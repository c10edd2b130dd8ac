"""Queries for the roster admin pages and the import worker."""

from __future__ import annotations

from sqlalchemy import Select, select

from school_prevention.roster.models import QUEUED, RUNNING, RosterImport


def recent_runs(limit: int = 50) -> Select:
    """The latest import runs, newest first."""
    return select(RosterImport).order_by(RosterImport.started_at.desc(), RosterImport.id.desc()).limit(limit)


def queued_runs(limit: int = 20) -> Select:
    """Ids of the runs waiting for a worker, longest waiting first."""
    return (
        select(RosterImport.id)
        .where(RosterImport.status == QUEUED)
        .order_by(RosterImport.queued_at, RosterImport.id)
        .limit(limit)
    )


def working_runs() -> Select:
    """The runs a worker has claimed and not finished (some may have lost their worker)."""
    return select(RosterImport).where(RosterImport.status == RUNNING).order_by(RosterImport.id)
