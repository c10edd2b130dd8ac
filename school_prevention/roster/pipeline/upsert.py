"""Set-based writes of the staged students: counts, updates, inserts and deactivations in a fixed
number of statements, whatever the district's size. Change detection is SQL's (IS DISTINCT FROM).

A student is only ever deactivated, never deleted: their flags, plans and history stay.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from sqlalchemy import (
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    update,
)

from school_prevention.extensions import db
from school_prevention.roster.models import StudentSchoolChange
from school_prevention.roster.pipeline.report import ImportReport
from school_prevention.roster.pipeline.stage import STAGE
from school_prevention.students.models import Student

STUDENT = Student.__table__
CHANGE = StudentSchoolChange.__table__
MASS_DEACTIVATION_SHARE = 0.05
MOVE_NOTE = "Check-in plans at the previous school need a hand-off to the new school's counselor."
_s, _t = STUDENT.c, STAGE.c
_matched = _s.sourced_id == _t.sourced_id
_kept = not_(_t.is_deleted)  # a row that is not tobedeleted (an active row: enabled or not)
_moved = _s.school_id != _t.school_id
# The fields an import compares; any difference updates the student.
_changed = or_(
    _moved,
    _s.given_name != _t.given_name,
    _s.family_name != _t.family_name,
    _s.grade.is_distinct_from(_t.grade),
    _s.identifier.is_distinct_from(_t.identifier),
    _s.is_active != _t.is_active,
)


def _sum(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class Plan(NamedTuple):
    """What the staged rows will do, counted before any write: a statement with nothing to do is skipped
    (an unchanged re-import reads the stage once and writes nothing)."""

    created: int
    changed: int
    deleted: int
    moved: int


def count_students(report: ImportReport) -> Plan:
    """What the staged rows will do to the stored students, counted in one pass over the stage."""
    found = _s.id.is_not(None)
    row = [
        int(value or 0)
        for value in db.session.execute(
            select(
                _sum(and_(_s.id.is_(None), _kept)),
                _sum(and_(found, _kept, not_(_changed))),
                _sum(and_(found, _kept, _changed, _s.is_active == _t.is_active)),
                _sum(and_(found, _s.is_active, or_(_t.is_deleted, not_(_t.is_active)))),
                _sum(and_(found, _kept, _t.is_active, not_(_s.is_active))),
                _sum(and_(found, _kept, _moved)),
                _sum(and_(found, _kept, _changed)),
                _sum(and_(found, _t.is_deleted, _s.is_active)),
            ).select_from(STAGE.outerjoin(STUDENT, _matched))
        ).one()
    ]
    counts = report.counts
    for key, value in zip(
        (
            "students_created",
            "students_unchanged",
            "students_updated",
            "students_deactivated",
            "students_reactivated",
            "students_moved_school",
        ),
        row,
    ):
        if value:
            counts[key] += value
    return Plan(created=row[0], changed=row[6], deleted=row[7], moved=row[5])


def record_moves(plan: Plan, now: datetime, import_id: int | None) -> list[tuple[int, int]]:
    """Keep a school change for each staged student who moved (before their row changes); returns
    (student id, new school id) for the hand-off."""
    if not plan.moved:
        return []
    moved = select(_s.id, _s.school_id, _t.school_id).where(_matched, _kept, _moved).order_by(_t.line)
    moves = [(student_id, to_school) for student_id, _from, to_school in db.session.execute(moved)]
    if moves:
        db.session.execute(
            insert(CHANGE).from_select(
                ["student_id", "from_school_id", "to_school_id", "changed_at", "import_id", "note"],
                select(
                    _s.id,
                    _s.school_id,
                    _t.school_id,
                    literal(now, CHANGE.c.changed_at.type),
                    literal(import_id, CHANGE.c.import_id.type),
                    literal(MOVE_NOTE, CHANGE.c.note.type),
                )
                .where(_matched, _kept, _moved)
                .order_by(_t.line),
            )
        )
    return moves


def write_students(plan: Plan, now: datetime) -> None:
    """Update the changed, deactivate the tobedeleted and insert the new staged students."""
    if plan.changed:
        db.session.execute(
            update(STUDENT)
            .where(_matched, _kept, _changed)
            .values(
                school_id=_t.school_id,
                given_name=_t.given_name,
                family_name=_t.family_name,
                grade=_t.grade,
                identifier=_t.identifier,
                is_active=_t.is_active,
                updated_at=now,
            )
        )
    if plan.deleted:
        db.session.execute(
            update(STUDENT).where(_matched, _t.is_deleted, _s.is_active).values(is_active=False, updated_at=now)
        )
    if not plan.created:
        return
    stamp = literal(now, _s.created_at.type)
    db.session.execute(
        insert(STUDENT).from_select(
            [
                "sourced_id",
                "identifier",
                "school_id",
                "given_name",
                "family_name",
                "grade",
                "is_active",
                "created_at",
                "updated_at",
            ],
            select(
                _t.sourced_id,
                _t.identifier,
                _t.school_id,
                _t.given_name,
                _t.family_name,
                _t.grade,
                _t.is_active,
                stamp,
                stamp,
            )
            .where(_kept, ~exists().where(_matched))
            .order_by(_t.line),
        )
    )


def active_students() -> int:
    """How many students are active now (before the import: the base of the mass-deactivation share)."""
    return db.session.scalar(select(func.count()).select_from(STUDENT).where(_s.is_active.is_(True))) or 0


def deactivate_missing(report: ImportReport, now: datetime, active_before: int, allow_mass: bool) -> None:
    """Bulk mode: active students the file no longer lists are deactivated, never deleted; more than
    MASS_DEACTIVATION_SHARE of them refuses the import (an incomplete export must not end a district's care)."""
    unlisted = and_(_s.is_active.is_(True), ~exists().where(_matched))
    missing = db.session.scalar(select(func.count()).select_from(STUDENT).where(unlisted)) or 0
    share = missing / active_before if active_before else 0
    if missing and share > MASS_DEACTIVATION_SHARE and not allow_mass:
        report.refused = _(
            "This bulk file would deactivate %(missing)s of %(active)s active students (%(share)s), more than "
            "%(limit)s. Nothing was changed. If the SIS export is complete and this is intended, confirm the number "
            "when you apply it (on the command line, run again with --allow-mass-deactivation).",
            missing=format_decimal(missing),
            active=format_decimal(active_before),
            share=format_percent(share, "#,##0%"),
            limit=format_percent(MASS_DEACTIVATION_SHARE, "#,##0%"),
        )
        report.deactivation = {"students": missing, "active": active_before}
        return
    if missing:
        db.session.execute(update(STUDENT).where(unlisted).values(is_active=False, updated_at=now))
    report.counts["students_deactivated"] += missing
