"""The plan review reminder: one in-app notification to a plan's counselor when its review day comes."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from flask_babel import gettext
from sqlalchemy import select

from school_prevention.auth.models import User, user_school
from school_prevention.extensions import db
from school_prevention.notifications.services import enqueue
from school_prevention.roles import Role
from school_prevention.scheduler import job
from school_prevention.students.models import Student
from school_prevention.tiers.models import InterventionPlan
from school_prevention.timezones import district_zone


def due_reviews(today):
    """(plan id, counselor id, review day, initials' letters) of active plans due for review whose counselor is
    active and still works at the student's school."""
    return (
        select(
            InterventionPlan.id,
            InterventionPlan.counselor_id,
            InterventionPlan.review_on,
            Student.given_name,
            Student.family_name,
        )
        .join(Student, Student.id == InterventionPlan.student_id)
        .join(User, User.id == InterventionPlan.counselor_id)
        .join(user_school, (user_school.c.user_id == User.id) & (user_school.c.school_id == Student.school_id))
        .where(
            InterventionPlan.status == "active",
            InterventionPlan.review_on <= today,
            User.is_active.is_(True),
            User.role == Role.COUNSELOR.value,
        )
    )


@job("tiers.review_reminders", trigger="interval", minutes=30, misfire_grace_time=1800)
def review_reminders(now: datetime) -> int:
    """Tell each plan's counselor once per review date that the review is due (initials only, a link).
    A second run, or a second scheduler, adds nothing: the notification is unique per plan and date."""
    today = now.astimezone(district_zone()).date()
    rows = [
        {
            "user_id": counselor_id,
            "kind": f"plan_review.{review_on:%Y%m%d}",
            "subject_type": "intervention_plan",
            "subject_id": plan_id,
            "title": partial(_review_title, (given[:1] + family[:1]).upper()),
            "link": f"/interventions/{plan_id}",
        }
        for plan_id, counselor_id, review_on, given, family in db.session.execute(due_reviews(today))
    ]
    return enqueue(rows, now)


def _review_title(initials: str) -> str:
    """Composed in the counselor's language (notifications.locales)."""
    return gettext("Intervention plan review due: %(initials)s", initials=initials)
