"""Queries for referrals: the triage queue and a staff member's own referrals."""
from __future__ import annotations

from sqlalchemy import Select, case, select
from sqlalchemy.orm import selectinload

from school_prevention.auth.models import User, user_school
from school_prevention.referrals.models import Referral
from school_prevention.roles import Role

URGENCY_RANK = case({"urgent": 0, "soon": 1, "routine": 2}, value=Referral.urgency)
STATUS_RANK = case({"new": 0, "in_review": 1, "accepted": 2, "closed": 3}, value=Referral.status)


def triage_queue(scoped: Select, show: str = "open") -> Select:
    """Open referrals first, most urgent and oldest first; or the closed ones, newest first."""
    if show == "open":
        return scoped.where(Referral.status.in_(("new", "in_review"))).order_by(
            STATUS_RANK, URGENCY_RANK, Referral.submitted_at)
    return scoped.where(Referral.status.in_(("accepted", "closed"))).order_by(Referral.updated_at.desc())


def submitted_by(user: User) -> Select:
    """A staff member's own referrals, newest first."""
    return (select(Referral).where(Referral.submitted_by_id == user.id).order_by(Referral.submitted_at.desc())
            .options(selectinload(Referral.student)))  # the lists name each student


def recent_open_referrals_by(staff_id: int, student_id: int, since) -> Select:
    """A staff member's open referrals about a student submitted since a moment, newest first."""
    return (select(Referral).where(Referral.submitted_by_id == staff_id, Referral.student_id == student_id,
                                   Referral.status.in_(("new", "in_review")), Referral.submitted_at >= since)
            .order_by(Referral.submitted_at.desc()))


def open_referrals_of_student(scoped: Select, student_id: int) -> Select:
    """The student's referrals still waiting for a decision."""
    return scoped.where(Referral.student_id == student_id, Referral.status.in_(("new", "in_review"))).order_by(
        Referral.submitted_at)


def counselors_of_school(school_id: int) -> Select:
    """Active counselors assigned to a school: who hears of a new referral."""
    return (select(User).join(user_school, user_school.c.user_id == User.id)
            .where(user_school.c.school_id == school_id, User.role == Role.COUNSELOR.value,
                   User.is_active.is_(True)))
