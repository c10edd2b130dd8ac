"""Queries for the roster admin pages."""
from __future__ import annotations

from sqlalchemy import Select, select

from school_prevention.roster.models import RosterImport


def recent_runs(limit: int = 50) -> Select:
    """The latest import runs, newest first."""
    return select(RosterImport).order_by(RosterImport.started_at.desc(), RosterImport.id.desc()).limit(limit)
