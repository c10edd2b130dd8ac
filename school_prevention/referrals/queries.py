"""Queries for referrals: the triage queue and a staff member's own referrals."""

from __future__ import annotations

from sqlalchemy import Select, bindparam, case, false, literal, literal_column, or_, select, update
from sqlalchemy.orm import selectinload

from school_prevention.auth.models import User, user_school
from school_prevention.flags.models import FlagCategory
from school_prevention.permissions import assigned_school_ids, scoped_or_404, visible_students
from school_prevention.referrals.models import Referral, referral_category
from school_prevention.roles import Role
from school_prevention.students.models import Student

URGENCY_RANK = case({"urgent": 0, "soon": 1, "routine": 2}, value=Referral.urgency)
STATUS_RANK = case({"new": 0, "in_review": 1, "accepted": 2, "closed": 3}, value=Referral.status)
OPEN_REFERRAL = ("new", "in_review")


def triage_queue(scoped: Select, show: str = "open") -> Select:
    """Open referrals first, most urgent and oldest first; or the closed ones, newest first."""
    if show == "open":
        return scoped.where(Referral.status.in_(("new", "in_review"))).order_by(
            STATUS_RANK, URGENCY_RANK, Referral.submitted_at
        )
    return scoped.where(Referral.status.in_(("accepted", "closed"))).order_by(Referral.updated_at.desc())


def submitted_by(user: User) -> Select:
    """A staff member's own referrals, newest first."""
    return (
        select(Referral)
        .where(Referral.submitted_by_id == user.id)
        .order_by(Referral.submitted_at.desc())
        .options(selectinload(Referral.student))
    )  # the lists name each student


def recent_open_referrals_by(staff_id: int, student_id: int, since) -> Select:
    """A staff member's open referrals about a student submitted since a moment, newest first."""
    return (
        select(Referral)
        .where(
            Referral.submitted_by_id == staff_id,
            Referral.student_id == student_id,
            Referral.status.in_(("new", "in_review")),
            Referral.submitted_at >= since,
        )
        .order_by(Referral.submitted_at.desc())
    )


def open_referrals_of_student(scoped: Select, student_id: int) -> Select:
    """The student's referrals still waiting for a decision."""
    return scoped.where(Referral.student_id == student_id, Referral.status.in_(("new", "in_review"))).order_by(
        Referral.submitted_at
    )


def counselors_of_school(school_id: int) -> Select:
    """Active counselors assigned to a school: who hears of a new referral."""
    return (
        select(User)
        .join(user_school, user_school.c.user_id == User.id)
        .where(user_school.c.school_id == school_id, User.role == Role.COUNSELOR.value, User.is_active.is_(True))
    )


def district_counselor(email: str | None) -> Select:
    """The active counselor account named by SP_DISTRICT_COUNSELOR_EMAIL (none when it is not set)."""
    return select(User).where(
        User.email == (email or "").strip().lower(),
        User.role == Role.COUNSELOR.value,
        User.is_active.is_(True),
        User.email != "",
    )


def triage_or_routed(user: User) -> Select:
    """triage_referrals(user), and the referrals routed to this counselor because their
    school had no active counselor (the district counselor sees only those, not the school's others)."""
    scoped = triage_referrals(user)
    if user.role_enum != Role.COUNSELOR:
        return scoped
    assert scoped.whereclause is not None  # a counselor's triage is always limited to their schools
    return select(Referral).where(or_(scoped.whereclause, Referral.routed_to_id == user.id))


def get_referral_triage_or_routed_or_404(user: User, referral_id: int) -> Referral:
    """A referral the counselor triages, or one routed to them; 404 otherwise (locked for a change)."""
    return scoped_or_404(triage_or_routed(user), Referral, referral_id)


UNOPENED_KIND = "referral.urgent.unopened"


def get_referral_of_school_or_404(user: User, referral_id: int) -> Referral:
    """A referral about a student the user (a principal) may see; 404 otherwise.

    What a principal told of an unopened urgent referral reads: when, from whom, about what and
    whether a counselor opened it (like a flag's category and status), never what staff wrote,
    which is the counselors' to read."""
    students = visible_students(user).with_only_columns(Student.id)
    return scoped_or_404(
        select(Referral)
        .where(Referral.student_id.in_(students))
        .options(selectinload(Referral.student), selectinload(Referral.categories)),
        Referral,
        referral_id,
    )


def unopened_urgent(sent_before) -> Select:
    """Urgent referrals still open that no counselor has opened and nobody has been told about, sent
    before a moment: (id, school_id, student_id, submitted_at, given_name, family_name)."""
    return (
        select(
            Referral.id,
            Referral.school_id,
            Referral.student_id,
            Referral.submitted_at,
            Student.given_name,
            Student.family_name,
        )
        .join(Student, Student.id == Referral.student_id)
        # The partial index's condition written out (SQLite uses one only for a literal match).
        .where(
            Referral.urgency == literal_column("'urgent'"),
            Referral.first_opened_at.is_(None),
            Referral.escalated_at.is_(None),
            Referral.status.in_(("new", "in_review")),
            Referral.submitted_at <= sent_before,
        )
        .order_by(Referral.submitted_at, Referral.id)
    )


def mark_escalated(referral_ids, now):
    """UPDATE … SET escalated_at WHERE still not escalated (nor opened) RETURNING id: of two sweeps at
    once, each referral is one sweep's."""
    return (
        update(Referral)
        .where(Referral.id.in_(list(referral_ids)), Referral.escalated_at.is_(None), Referral.first_opened_at.is_(None))
        .values(escalated_at=now)
        .returning(Referral.id)
        .execution_options(synchronize_session=False)
    )


def principals_of_schools(school_ids) -> Select:
    """(school_id, user id) of the active principals of these schools."""
    return (
        select(user_school.c.school_id, User.id)
        .join(User, User.id == user_school.c.user_id)
        .where(
            user_school.c.school_id.in_(list(school_ids)), User.role == Role.PRINCIPAL.value, User.is_active.is_(True)
        )
    )


def triage_referrals(user: User) -> Select:
    """Referrals a counselor triages: those about students of their schools."""
    if user.role_enum != Role.COUNSELOR:
        return select(Referral).where(false())
    return select(Referral).where(Referral.school_id.in_(assigned_school_ids(user)))


def student_page_triage_schools():
    """The schools whose referrals the student page's viewer triages (triage_referrals), the viewer's id
    left as :scope_user_id (the page's statement is built once for every user of a kind)."""
    return select(user_school.c.school_id).where(user_school.c.user_id == bindparam("scope_user_id"))


def student_page_section():
    """The student page's open referrals (pages.students.page_queries makes it a section of the page's one
    statement): (query, named columns, order), those waiting for a decision that the viewer triages, oldest
    first, one row per concern category, for :student_id."""
    columns = {
        "id": Referral.id,
        "urgency": Referral.urgency,
        "submitted_at": Referral.submitted_at,
        "category": FlagCategory.name,
    }
    query = (
        select(Referral.id)
        .outerjoin(referral_category, referral_category.c.referral_id == Referral.id)
        .outerjoin(FlagCategory, FlagCategory.id == referral_category.c.category_id)
        .where(
            Referral.student_id == bindparam("student_id"),
            # Literals, not an expanding parameter: the page's statement is built once (page_queries).
            Referral.status.in_([literal(s) for s in OPEN_REFERRAL]),
            Referral.school_id.in_(student_page_triage_schools()),
        )
    )
    return query, columns, [Referral.submitted_at, Referral.id, FlagCategory.position, FlagCategory.id]
