"""Schools from orgs.csv: a few hundred rows at most, written through the ORM."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from school_prevention.extensions import db
from school_prevention.roster.pipeline.report import ImportReport
from school_prevention.roster.pipeline.validate import SchoolRow
from school_prevention.schools.models import School


def level(name: str) -> str:
    """A school's level guessed from its name (the SIS does not say)."""
    lowered = name.lower()
    for word, level_ in (
        ("elementary", "elementary"),
        ("primary", "elementary"),
        ("middle", "middle"),
        ("junior high", "middle"),
        ("high", "high"),
    ):
        if word in lowered:
            return level_
    return "other"


def known_schools() -> dict[str, int]:
    """Every stored school's id by sourcedId (a student row names its school by sourcedId)."""
    return dict(db.session.execute(select(School.sourced_id, School.id)).all())


def write_schools(rows: Iterable[SchoolRow], report: ImportReport, now: datetime) -> dict[str, int]:
    """Create, update or deactivate the schools; returns every school's id by sourcedId."""
    existing = {s.sourced_id: s for s in db.session.scalars(select(School))}
    counts = report.counts
    for row in rows:
        school = existing.get(row.sid)
        if school is None:
            if not row.is_active:
                continue
            school = School(
                sourced_id=row.sid,
                name=row.name,
                identifier=row.identifier,
                level=level(row.name),
                is_active=True,
                created_at=now,
                updated_at=now,
            )
            db.session.add(school)
            existing[row.sid] = school
            counts["schools_created"] += 1
        elif (school.name, school.identifier, school.is_active) != (row.name, row.identifier, row.is_active):
            if school.is_active and not row.is_active:
                counts["schools_deactivated"] += 1
            else:
                counts["schools_updated"] += 1
            school.name, school.identifier, school.is_active = row.name, row.identifier, row.is_active
    db.session.flush()
    return {sid: s.id for sid, s in existing.items()}
