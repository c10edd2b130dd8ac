"""Queries for the roster admin pages and the import worker."""

from __future__ import annotations

from sqlalchemy import Select, bindparam, select

from school_prevention.roster.models import QUEUED, RUNNING, RosterImport, StudentDemographics


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


def student_page_demographics():
    """The student page's roster demographics, where the SIS sent them (pages.students.page_queries makes it
    a section of the page's one statement): (query, named columns, no order), no row otherwise, for
    :student_id."""
    d = StudentDemographics
    columns = {
        "sex": d.sex,
        "american_indian_or_alaska_native": d.american_indian_or_alaska_native,
        "asian": d.asian,
        "black_or_african_american": d.black_or_african_american,
        "native_hawaiian_or_pacific_islander": d.native_hawaiian_or_pacific_islander,
        "white": d.white,
        "two_or_more_races": d.two_or_more_races,
        "hispanic_or_latino": d.hispanic_or_latino,
    }
    return select(d.student_id).where(d.student_id == bindparam("student_id")), columns, []
