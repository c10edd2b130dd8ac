"""Agency follow-up reminders: a referral whose follow-up date has come reminds its counselor, once.

Each follow-up date carries the referral's follow-up sequence in the reminder's kind, so a new
date is reminded again, and a second sweep (or a second scheduler) creates nothing new.
Titles carry initials only: which agency a child was referred to is itself case detail.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from flask_babel import gettext
from sqlalchemy import select

from school_prevention.agencies.models import AgencyReferral
from school_prevention.auth.models import User, user_school
from school_prevention.extensions import db
from school_prevention.notifications.services import enqueue
from school_prevention.roles import Role
from school_prevention.scheduler import job
from school_prevention.students.models import Student
from school_prevention.timezones import district_zone

CHANNELS = ("in_app", "email")


@job("agencies.remind_follow_ups", trigger="interval", minutes=15, misfire_grace_time=1800)
def remind_follow_ups(now: datetime) -> int:
    """Remind counselors of agency referrals whose follow-up date has come (in-app and email)."""
    today = now.astimezone(district_zone()).date()
    due = db.session.execute(
        select(
            AgencyReferral.id,
            AgencyReferral.school_id,
            AgencyReferral.follow_up_seq,
            AgencyReferral.referred_by_id,
            User.is_active,
            Student.given_name,
            Student.family_name,
        )
        .join(Student, Student.id == AgencyReferral.student_id)
        .join(User, User.id == AgencyReferral.referred_by_id)
        .where(AgencyReferral.follow_up_on <= today, AgencyReferral.status != "closed")
    ).all()
    if not due:
        return 0
    # The referring counselor; when their account is closed, the school's active counselors.
    schools = {row.school_id for row in due if not row.is_active}
    counselors: dict[int, list[int]] = {}
    if schools:
        for school_id, user_id in db.session.execute(
            select(user_school.c.school_id, User.id)
            .join(User, User.id == user_school.c.user_id)
            .where(user_school.c.school_id.in_(schools), User.role == Role.COUNSELOR.value, User.is_active.is_(True))
        ):
            counselors.setdefault(school_id, []).append(user_id)
    rows = []
    for referral_id, school_id, seq, referred_by, is_active, given, family in due:
        initials = f"{given[:1]}{family[:1]}".upper()
        for user_id in [referred_by] if is_active else counselors.get(school_id, []):
            rows += [
                {
                    "user_id": user_id,
                    "kind": f"agency.follow_up.{seq}",
                    "channel": channel,
                    "subject_type": "agency_referral",
                    "subject_id": referral_id,
                    "title": partial(_follow_up_title, initials),
                    "link": f"/agency-referrals/{referral_id}",
                }
                for channel in CHANNELS
            ]
    return enqueue(rows, now=now)


def _follow_up_title(initials: str) -> str:
    """Composed in each recipient's language (notifications.locales)."""
    return gettext("Agency follow-up due for %(initials)s", initials=initials)
