"""Figures for the role home pages."""

from __future__ import annotations

from sqlalchemy import Select, exists, func, select

from school_prevention.auth.models import User
from school_prevention.flags.models import RiskFlag
from school_prevention.pages.students.caseload import Clock, active_plan, checkins_today, overdue_checkins
from school_prevention.permissions import visible_students
from school_prevention.referrals.models import Referral
from school_prevention.referrals.queries import triage_or_routed
from school_prevention.students.models import Student


def active_students_by_school(schools: Select) -> Select:
    """(school, active student count) for each school of a scoped school query."""
    school_subq = schools.subquery()
    counts = (
        select(Student.school_id, func.count().label("n"))
        .where(Student.is_active.is_(True))
        .group_by(Student.school_id)
        .subquery()
    )
    return (
        select(school_subq, func.coalesce(counts.c.n, 0).label("active_students"))
        .outerjoin(counts, counts.c.school_id == school_subq.c.id)
        .order_by(school_subq.c.name)
    )


def users_by_role() -> Select:
    """(role, active users, inactive users) for the admin home."""
    return (
        select(
            User.role,
            func.count().filter(User.is_active.is_(True)).label("active"),
            func.count().filter(User.is_active.is_(False)).label("inactive"),
        )
        .group_by(User.role)
        .order_by(User.role)
    )


def count_of(query: Select) -> Select:
    """How many rows a query returns."""
    return select(func.count()).select_from(query.order_by(None).subquery())


def counselor_counts(user: User, clock: Clock) -> Select:
    """One row of what a counselor's home counts: students with check-ins overdue and due today, referrals
    new and urgent, urgent flags without a plan. The student counts use the caseload's own conditions,
    so each card's figure is what its link to the filtered list shows."""
    students = visible_students(user).where(Student.is_active.is_(True)).with_only_columns(func.count())
    referrals = triage_or_routed(user).with_only_columns(func.count())
    urgent_flag = exists().where(
        RiskFlag.student_id == Student.id, RiskFlag.severity == "urgent", RiskFlag.status.in_(("open", "monitoring"))
    )
    return select(
        students.where(overdue_checkins(clock)).scalar_subquery().label("overdue"),
        students.where(checkins_today(clock)).scalar_subquery().label("today"),
        referrals.where(Referral.status == "new").scalar_subquery().label("new_referrals"),
        referrals.where(Referral.status.in_(("new", "in_review")), Referral.urgency == "urgent")
        .scalar_subquery()
        .label("urgent_referrals"),
        students.where(urgent_flag, ~active_plan()).scalar_subquery().label("urgent_without_plan"),
    )
