"""Queries for the agency directory and agency referrals, their scoped loaders, and outside support.

Agency referrals are case detail: counselors of the student's schools see them (the scope starts
from permissions.visible_students), every other role sees none. The directory itself holds no
student data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from sqlalchemy import Select, bindparam, exists, false, func, literal, select
from sqlalchemy.orm import selectinload

from school_prevention.agencies.models import SUPPORTING_STATUSES, Agency, AgencyReferral
from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.permissions import scoped_or_404, visible_students
from school_prevention.roles import Role
from school_prevention.students.models import Student


def directory(include_inactive: bool = False) -> Select:
    """The agencies by kind and name (in use only, unless asked)."""
    query = select(Agency).order_by(Agency.kind, Agency.name)
    return query if include_inactive else query.where(Agency.is_active.is_(True))


def agency_named(name: str) -> Select:
    """The agency with this name, whatever its case."""
    return select(Agency).where(func.lower(Agency.name) == name.strip().lower())


def visible_agency_referrals(user: User) -> Select:
    """Agency referrals of the students of a counselor's schools (none for other roles)."""
    if user.role_enum != Role.COUNSELOR:
        return select(AgencyReferral).where(false())
    students = visible_students(user).with_only_columns(Student.id)
    return select(AgencyReferral).where(AgencyReferral.student_id.in_(students))


def get_agency_referral_or_404(user: User, referral_id: int) -> AgencyReferral:
    """An agency referral of a student of the counselor's schools; 404 otherwise (locked for a change)."""
    return scoped_or_404(visible_agency_referrals(user), AgencyReferral, referral_id)


def open_referral_to(student_id: int, agency_id: int) -> Select:
    """The student's open referral to the agency, if any."""
    return select(AgencyReferral).where(
        AgencyReferral.student_id == student_id,
        AgencyReferral.agency_id == agency_id,
        AgencyReferral.status.in_(("sent", "accepted", "services_started")),
    )


def follow_ups_due(user: User, today: date, limit: int = 20) -> Select:
    """The counselor's agency referrals whose follow-up date has come, oldest first (the home lists them)."""
    return (
        visible_agency_referrals(user)
        .where(AgencyReferral.follow_up_on <= today, AgencyReferral.status != "closed")
        .order_by(AgencyReferral.follow_up_on, AgencyReferral.id)
        .limit(limit)
        .options(selectinload(AgencyReferral.student))
    )


def student_page_section():
    """The student page's agency referrals (students.page_queries makes it a section of the page's one
    statement): (query, named columns, order), open ones first, newest first, for :student_id."""
    columns = {
        "id": AgencyReferral.id,
        "agency": Agency.name,
        "kind": Agency.kind,
        "status": AgencyReferral.status,
        "referred_at": AgencyReferral.referred_at,
        "status_changed_at": AgencyReferral.status_changed_at,
        "follow_up_on": AgencyReferral.follow_up_on,
        "outcome": AgencyReferral.outcome,
    }
    query = (
        select(AgencyReferral.id)
        .join(Agency, Agency.id == AgencyReferral.agency_id)
        .where(AgencyReferral.student_id == bindparam("student_id"))
    )
    return (
        query,
        columns,
        [AgencyReferral.status == literal("closed"), AgencyReferral.referred_at.desc(), AgencyReferral.id.desc()],
    )


def supporting_referrals():
    """Conditions on AgencyReferral: the agency took the student on (accepted, or services started)."""
    return [AgencyReferral.status.in_([literal(s) for s in SUPPORTING_STATUSES])]


def students_with_outside_support(student_ids=None, school_id: int | None = None) -> Select:
    """Ids of students supported outside the school: an agency accepted them or started services.

    For coverage (reports): limited to some students, or to the students of one school.
    """
    query = select(AgencyReferral.student_id).where(*supporting_referrals()).distinct()
    if student_ids is not None:
        query = query.where(AgencyReferral.student_id.in_(list(student_ids)))
    if school_id is not None:
        query = query.where(AgencyReferral.student_id.in_(select(Student.id).where(Student.school_id == school_id)))
    return query


@dataclass(frozen=True)
class OutsideSupport:
    """Support outside the school on a school's coverage page: how many flagged students an agency
    supports, and which of the listed (uncovered) students it does."""

    flagged: int
    among_listed: frozenset[int]


def _flagged_and_supported() -> list:
    """Conditions on Student: active, with an open or monitoring flag, and an agency took them on.

    The same students whichever page counts them: the school's coverage page and the district's
    figure (flagged_outside_support) read this.
    """
    flagged = exists().where(
        RiskFlag.student_id == Student.id, RiskFlag.status.in_([literal("open"), literal("monitoring")])
    )
    return [Student.is_active.is_(True), flagged, Student.id.in_(students_with_outside_support())]


@lru_cache(maxsize=1)  # built once per process, as the report's other statements are (reports.measures)
def flagged_supported_by_school() -> Select:
    """(school_id, n) for every school: its flagged active students an outside agency supports.

    For the district's figures (reports.district_data), which suppress them like every count.
    """
    return (
        select(Student.school_id, func.count().label("n")).where(*_flagged_and_supported()).group_by(Student.school_id)
    )


def outside_support(school_id: int, listed_ids) -> OutsideSupport:
    """Flagged active students of a school supported by an agency, and those of listed_ids: two queries."""
    count = db.session.scalar(
        select(func.count()).select_from(Student).where(Student.school_id == school_id, *_flagged_and_supported())
    )
    listed = list(listed_ids)
    among = frozenset(db.session.scalars(students_with_outside_support(listed))) if listed else frozenset()
    return OutsideSupport(int(count or 0), among)
