"""Reminder sweeps: before each check-in, when overdue, escalation to the principal, match support.

Each sweep looks at rows that are due and creates notifications whose uniqueness (user, kind,
channel, subject) makes a second run, or a second scheduler, a no-op. Reminders for a check-in
carry its SEQUENCE in their kind, so a rescheduled check-in is reminded again for its new time.
Titles carry initials at most.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from school_prevention.auth.models import User, user_school
from school_prevention.checkins.models import CheckIn
from school_prevention.checkins.services import closed_days, replan_all, zone
from school_prevention.extensions import db
from school_prevention.notifications.services import enqueue
from school_prevention.roles import Role
from school_prevention.scheduler import job
from school_prevention.students.models import Student

CHANNELS = ("in_app", "email")


def _both_channels(user_id: int, kind: str, subject_type: str, subject_id: int, title: str, link: str) -> list[dict]:
    return [{"user_id": user_id, "kind": kind, "channel": channel, "subject_type": subject_type,
             "subject_id": subject_id, "title": title, "link": link} for channel in CHANNELS]


def _when(due: datetime) -> str:
    return due.astimezone(zone()).strftime("%a %b %-d, %-I:%M %p")


@job("checkins.extend", trigger="cron", hour=3, minute=15, misfire_grace_time=6 * 3600)
def extend_plans(now: datetime) -> int:
    """Write out each active plan's check-ins up to the horizon (plans run for years)."""
    return replan_all(now)


@job("checkins.remind", trigger="interval", minutes=5, misfire_grace_time=600)
def remind(now: datetime) -> int:
    """Reminders before check-ins, overdue notices, principal escalations, match-support reminders."""
    return remind_before(now) + remind_overdue(now) + escalate(now) + remind_match_support(now)


def remind_before(now: datetime) -> int:
    """For each upcoming check-in, the reminder of the nearest lead time already reached (24 h, 1 h by default)."""
    window = timedelta(days=8)  # no lead time longer than a week is offered
    rows = db.session.execute(
        select(CheckIn.id, CheckIn.due_at, CheckIn.sequence, CheckIn.counselor_id, User.reminder_leads,
               Student.given_name, Student.family_name)
        .join(User, User.id == CheckIn.counselor_id).join(Student, Student.id == CheckIn.student_id)
        .where(CheckIn.status == "scheduled", CheckIn.due_at > now, CheckIn.due_at <= now + window,
               User.is_active.is_(True))).all()
    out = []
    for checkin_id, due, sequence, counselor_id, leads_text, given, family in rows:
        leads = sorted(int(p) for p in (leads_text or "").split(",") if p.strip().isdigit())
        reached = [lead for lead in leads if now >= due - timedelta(minutes=lead)]
        if not reached:
            continue
        lead = reached[0]  # the nearest: a late-created check-in gets one reminder, not a burst
        initials = f"{given[:1]}{family[:1]}".upper()
        out += _both_channels(counselor_id, f"checkin.before.{lead}.s{sequence}", "checkin", checkin_id,
                              f"Check-in with {initials} at {_when(due)}", f"/checkins/{checkin_id}")
    return enqueue(out, now=now)


def _overdue_since(now: datetime) -> datetime:
    """Check-ins due before this moment have had a whole school day to be done."""
    tz = zone()
    today = now.astimezone(tz).date()
    # A year back covers any break (a summer listed day by day is longer than a month).
    closed = closed_days(today - timedelta(days=366), today)
    # Walk back to the last school day that has fully ended: anything due before it started is overdue.
    day = today - timedelta(days=1)
    while day.weekday() >= 5 or day in closed:
        day -= timedelta(days=1)
    return datetime.combine(day, datetime.min.time()).replace(tzinfo=tz)


def remind_overdue(now: datetime) -> int:
    """Tell the counselor once when a check-in is still open a school day after it was due."""
    cutoff = _overdue_since(now)
    rows = db.session.execute(
        select(CheckIn.id, CheckIn.due_at, CheckIn.sequence, CheckIn.counselor_id, Student.given_name, Student.family_name)
        .join(User, User.id == CheckIn.counselor_id).join(Student, Student.id == CheckIn.student_id)
        .where(CheckIn.status == "scheduled", CheckIn.due_at < cutoff,
               CheckIn.due_at > now - timedelta(days=60), User.is_active.is_(True))).all()
    out = []
    for checkin_id, due, sequence, counselor_id, given, family in rows:
        initials = f"{given[:1]}{family[:1]}".upper()
        out += _both_channels(counselor_id, f"checkin.overdue.s{sequence}", "checkin", checkin_id,
                              f"Overdue check-in with {initials} (was due {_when(due)})", f"/checkins/{checkin_id}")
    return enqueue(out, now=now)


def escalate(now: datetime) -> int:
    """Tell the school's principals about a student whose check-ins have been overdue for days."""
    days = current_app.config["SP_ESCALATION_DAYS"]
    oldest = (select(CheckIn.student_id, func.min(CheckIn.id).label("checkin_id"), func.min(CheckIn.due_at).label("due"))
              .where(CheckIn.status == "scheduled", CheckIn.due_at < now - timedelta(days=days))
              .group_by(CheckIn.student_id).subquery())
    rows = db.session.execute(
        select(oldest.c.checkin_id, oldest.c.due, Student.id, Student.given_name, Student.family_name, user_school.c.user_id)
        .join(Student, Student.id == oldest.c.student_id)
        .join(user_school, user_school.c.school_id == Student.school_id)
        .join(User, User.id == user_school.c.user_id)
        .where(User.role == Role.PRINCIPAL.value, User.is_active.is_(True))).all()
    out = []
    for checkin_id, due, student_id, given, family, principal_id in rows:
        initials = f"{given[:1]}{family[:1]}".upper()
        out += _both_channels(principal_id, "checkin.escalation", "checkin", checkin_id,
                              f"Check-ins with {initials} overdue for more than {days} days", f"/students/{student_id}")
    return enqueue(out, now=now)


def _month_reached(due: date, today: date) -> date:
    """The latest monthly anniversary of due on or before today (due itself in its first month)."""
    months = (today.year - due.year) * 12 + today.month - due.month
    while months > 0 and due + relativedelta(months=months) > today:
        months -= 1
    return due + relativedelta(months=max(months, 0))


def remind_match_support(now: datetime) -> int:
    """Remind a school's counselors when an active mentoring match's monthly support contact is due.

    Once when it falls due, and once a month after that while no contact has been recorded.
    """
    from school_prevention.programs.models import Match
    from school_prevention.programs.queries import active_matches_with_contact_due
    from school_prevention.referrals.queries import counselors_of_school

    today = now.astimezone(zone()).date()
    counselors: dict[int, list[int]] = {}  # school id -> its counselors, one query per school
    out = []
    for match, due in active_matches_with_contact_due(select(Match).options(selectinload(Match.student)), today):
        initials = match.student.initials
        month = _month_reached(due, today)
        if match.school_id not in counselors:
            counselors[match.school_id] = [u.id for u in db.session.scalars(counselors_of_school(match.school_id))]
        for counselor_id in counselors[match.school_id]:
            out += _both_channels(counselor_id, f"match.support.{month.isoformat()}", "match", match.id,
                                  f"Mentoring support contact due for {initials}", f"/matches/{match.id}")
    return enqueue(out, now=now)

