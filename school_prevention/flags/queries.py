"""Queries about flags and flag categories."""

from __future__ import annotations

from sqlalchemy import Select, and_, bindparam, case, select
from sqlalchemy.orm import joinedload

from school_prevention.auth.models import User
from school_prevention.flags.models import FlagCategory, RiskFlag
from school_prevention.permissions import scoped_or_404, visible_students
from school_prevention.students.models import Student

SEVERITY_RANK = case({"urgent": 0, "high": 1, "moderate": 2, "low": 3}, value=RiskFlag.severity)
STATUS_RANK = case({"open": 0, "monitoring": 1, "resolved": 2}, value=RiskFlag.status)


def active_categories() -> Select:
    """Categories offered on forms, in their display order."""
    return (
        select(FlagCategory).where(FlagCategory.is_active.is_(True)).order_by(FlagCategory.position, FlagCategory.name)
    )


def all_categories() -> Select:
    """Every category, for the admin page."""
    return select(FlagCategory).order_by(FlagCategory.is_active.desc(), FlagCategory.position, FlagCategory.name)


def flags_of_student(scoped_flags: Select, student_id: int) -> Select:
    """A student's flags: current ones first, most severe first, then resolved."""
    return scoped_flags.where(RiskFlag.student_id == student_id).order_by(
        STATUS_RANK, SEVERITY_RANK, RiskFlag.opened_at.desc()
    )


def open_flags_of_student(scoped_flags: Select, student_id: int) -> Select:
    """The student's open or monitoring flags (to link a referral to)."""
    return flags_of_student(scoped_flags, student_id).where(RiskFlag.status != "resolved")


def current_flags_like(student_id: int, category_id: int, severity: str, source: str) -> Select:
    """The student's current flags (open or monitoring) of this category, severity and source, oldest first."""
    return (
        select(RiskFlag)
        .where(
            RiskFlag.student_id == student_id,
            RiskFlag.category_id == category_id,
            RiskFlag.severity == severity,
            RiskFlag.source == source,
            RiskFlag.status != "resolved",
        )
        .order_by(RiskFlag.opened_at, RiskFlag.id)
    )


def flags_missing_report(scoped_flags: Select) -> Select:
    """Current suspected-abuse flags at high or urgent severity with no mandated-report record."""
    return (
        scoped_flags.join(RiskFlag.category)
        .where(
            FlagCategory.is_suspected_abuse.is_(True),
            RiskFlag.severity.in_(("high", "urgent")),
            RiskFlag.status != "resolved",
            RiskFlag.report_recorded_at.is_(None),
        )
        .options(joinedload(RiskFlag.student))
        .order_by(RiskFlag.opened_at)
    )


def visible_flags(user: User) -> Select:
    """Flags of the students the user may see (counselors and principals of the school)."""
    students = visible_students(user).with_only_columns(Student.id)
    return select(RiskFlag).where(RiskFlag.student_id.in_(students))


def get_flag_or_404(user: User, flag_id: int):
    """The flag if its student is in the user's scope; 404 otherwise."""
    return scoped_or_404(visible_flags(user), RiskFlag, flag_id)


def student_page_section():
    """The student page's flags (pages.students.page_queries makes it a section of the page's one statement):
    (query, named columns, order), current first, most severe first (flags_of_student's order), for :student_id."""
    columns = {
        "id": RiskFlag.id,
        "severity": RiskFlag.severity,
        "status": RiskFlag.status,
        "opened_at": RiskFlag.opened_at,
        "resolved_at": RiskFlag.resolved_at,
        "report_recorded_at": RiskFlag.report_recorded_at,
        # Whether there is a restricted note, never the note itself.
        "has_note": and_(RiskFlag.note_ciphertext.is_not(None), RiskFlag.note_ciphertext != ""),
        "category": FlagCategory.name,
        "is_suspected_abuse": FlagCategory.is_suspected_abuse,
    }
    query = (
        select(RiskFlag.id)
        .join(FlagCategory, FlagCategory.id == RiskFlag.category_id)
        .where(RiskFlag.student_id == bindparam("student_id"))
    )
    return query, columns, [STATUS_RANK, SEVERITY_RANK, RiskFlag.opened_at.desc(), RiskFlag.id]
