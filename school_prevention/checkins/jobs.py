"""Reminder sweeps: before each check-in, when overdue, escalation to the principal, match support.

Each sweep asks the database for the reminders that are due and not made yet (NOT EXISTS on the
notification's unique index), so a sweep every 5 minutes reads and writes only what is new; the
uniqueness (user, kind, channel, subject) still makes a second run, or a second scheduler, a no-op.
Reminders for a check-in carry its SEQUENCE in their kind, so a rescheduled check-in is reminded
again for its new time. Principals hear once per overdue episode (OverdueEpisode). Titles carry
initials at most.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import partial

from dateutil.relativedelta import relativedelta
from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import String, case, cast, exists, func, literal, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.sql import ColumnElement

from school_prevention.auth.models import User, user_school
from school_prevention.checkins.models import CheckIn, OverdueEpisode
from school_prevention.checkins.replan import replan_in_batches, run_queued
from school_prevention.checkins.services import closed_days
from school_prevention.extensions import db
from school_prevention.i18n import format_local
from school_prevention.notifications.locales import Compose
from school_prevention.notifications.models import Notification
from school_prevention.notifications.services import enqueue
from school_prevention.roles import Role
from school_prevention.scheduler import job
from school_prevention.students.models import Student
from school_prevention.timezones import district_zone

CHANNELS = ("in_app", "email")


def _both_channels(
    user_id: int, kind: str, subject_type: str, subject_id: int, title: Compose, link: str
) -> list[dict]:
    return [
        {
            "user_id": user_id,
            "kind": kind,
            "channel": channel,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "title": title,
            "link": link,
        }
        for channel in CHANNELS
    ]


def _when(due: datetime) -> str:
    """The check-in's time in the district's zone, in the language being written (English: as it always read)."""
    return format_local(due.astimezone(district_zone()), "%a %b %-d, %-I:%M %p")


# Titles are composed in each recipient's language when the rows are made (notifications.locales).
def _before_title(initials: str, due: datetime) -> str:
    return gettext("Check-in with %(initials)s at %(when)s", initials=initials, when=_when(due))


def _overdue_title(initials: str, due: datetime) -> str:
    return gettext("Overdue check-in with %(initials)s (was due %(when)s)", initials=initials, when=_when(due))


def _escalation_title(initials: str, days: int) -> str:
    return ngettext(
        "Check-ins with %(initials)s overdue for more than %(num)d day",
        "Check-ins with %(initials)s overdue for more than %(num)d days",
        days,
        initials=initials,
    )


def _match_support_title(initials: str) -> str:
    return gettext("Mentoring support contact due for %(initials)s", initials=initials)


def handed_over_title(initials: str) -> str:
    """The new counselor's notice when a student who moved schools brings a check-in plan along."""
    return gettext(
        "A student who moved to your school (%(initials)s): their check-in plan is now yours", initials=initials
    )


@job("checkins.extend", trigger="cron", hour=3, minute=15, misfire_grace_time=6 * 3600)
def extend_plans(now: datetime) -> int:
    """Write out each active plan's check-ins up to the horizon (plans run for years), a batch per commit."""
    return replan_in_batches(now)


@job("checkins.replan", trigger="interval", seconds=5, misfire_grace_time=60)
def replan(now: datetime) -> int:
    """Re-place every active plan after the non-school days changed (queued by the admin's page)."""
    return run_queued(now)


@job("checkins.remind", trigger="interval", minutes=5, misfire_grace_time=600)
def remind(now: datetime) -> int:
    """Reminders before check-ins, overdue notices, principal escalations, match-support reminders."""
    return remind_before(now) + remind_overdue(now) + escalate(now) + remind_match_support(now)


def _leads_in_use() -> list[int]:
    """Every reminder lead (minutes) an active user has chosen, nearest first; none beyond a week is offered."""
    leads: set[int] = set()
    for (text,) in db.session.execute(select(User.reminder_leads).where(User.is_active.is_(True)).distinct()):
        leads.update(
            int(p)
            for p in (text or "").split(",")
            if p.strip().isascii() and p.strip().isdigit() and 0 < int(p) <= 8 * 24 * 60
        )
    return sorted(leads)


def remind_before(now: datetime) -> int:
    """For each upcoming check-in, the reminder of the nearest lead time already reached (24 h, 1 h by default).

    The database finds them: for each check-in within the longest lead, the nearest lead of its
    counselor's that is reached (a CASE over the few leads in use, nearest first: a late-created
    check-in gets one reminder, not a burst), kept only when that reminder was not made yet (the
    unique index answers). A sweep reads and writes only what is new.
    """
    leads = _leads_in_use()
    if not leads:
        return 0
    chosen = literal(",") + User.reminder_leads + literal(",")
    nearest = case(
        *[((CheckIn.due_at <= now + timedelta(minutes=lead)) & chosen.like(f"%,{lead},%"), lead) for lead in leads],
        else_=None,
    )
    due = (
        select(
            CheckIn.id,
            CheckIn.due_at,
            CheckIn.sequence,
            CheckIn.counselor_id,
            CheckIn.student_id,
            nearest.label("lead"),
        )
        .join(User, User.id == CheckIn.counselor_id)
        .where(
            CheckIn.status == "scheduled",
            CheckIn.due_at > now,
            CheckIn.due_at <= now + timedelta(minutes=leads[-1]),
            User.is_active.is_(True),
        )
        .subquery()
    )
    kind = literal("checkin.before.") + cast(due.c.lead, String) + literal(".s") + cast(due.c.sequence, String)
    made = exists().where(
        Notification.user_id == due.c.counselor_id,
        Notification.kind == kind,
        Notification.channel == "email",
        Notification.subject_type == "checkin",
        Notification.subject_id == due.c.id,
    )
    rows = db.session.execute(
        select(due.c.id, due.c.due_at, due.c.lead, due.c.sequence, due.c.counselor_id, due.c.student_id).where(
            due.c.lead.is_not(None), ~made
        )
    ).all()
    initials = _initials({row[5] for row in rows})
    out = []
    for checkin_id, due_at, lead, sequence, counselor_id, student_id in rows:
        out += _both_channels(
            counselor_id,
            f"checkin.before.{lead}.s{sequence}",
            "checkin",
            checkin_id,
            partial(_before_title, initials[student_id], due_at),
            f"/checkins/{checkin_id}",
        )
    return enqueue(out, now=now)


def _initials(student_ids: set[int]) -> dict[int, str]:
    """Initials of the students named in new reminders only (a sweep that makes none reads no student)."""
    if not student_ids:
        return {}
    found = {}
    ids = sorted(student_ids)
    for start in range(0, len(ids), 5000):
        for student_id, given, family in db.session.execute(
            select(Student.id, Student.given_name, Student.family_name).where(Student.id.in_(ids[start : start + 5000]))
        ):
            found[student_id] = f"{given[:1]}{family[:1]}".upper()
    return found


def _overdue_since(now: datetime) -> datetime:
    """Check-ins due before this moment have had a whole school day to be done."""
    tz = district_zone()
    today = now.astimezone(tz).date()
    # A year back covers any break (a summer listed day by day is longer than a month).
    closed = closed_days(today - timedelta(days=366), today)
    # Walk back to the last school day that has fully ended: anything due before it started is overdue.
    day = today - timedelta(days=1)
    while day.weekday() >= 5 or day in closed:
        day -= timedelta(days=1)
    return datetime.combine(day, datetime.min.time()).replace(tzinfo=tz)


def _not_made(kind: ColumnElement[str]) -> ColumnElement[bool]:
    """No email of this kind about the check-in for its counselor yet (the unique index answers it)."""
    return ~exists().where(
        Notification.user_id == CheckIn.counselor_id,
        Notification.kind == kind,
        Notification.channel == "email",
        Notification.subject_type == "checkin",
        Notification.subject_id == CheckIn.id,
    )


def remind_overdue(now: datetime) -> int:
    """Tell the counselor once when a check-in is still open a school day after it was due."""
    cutoff = _overdue_since(now)
    kind = literal("checkin.overdue.s") + cast(CheckIn.sequence, String)
    rows = db.session.execute(
        select(CheckIn.id, CheckIn.due_at, CheckIn.sequence, CheckIn.counselor_id, CheckIn.student_id)
        .join(User, User.id == CheckIn.counselor_id)
        .where(
            CheckIn.status == "scheduled",
            CheckIn.due_at < cutoff,
            CheckIn.due_at > now - timedelta(days=60),
            User.is_active.is_(True),
            _not_made(kind),
        )
    ).all()
    initials = _initials({row[4] for row in rows})
    out = []
    for checkin_id, due, sequence, counselor_id, student_id in rows:
        out += _both_channels(
            counselor_id,
            f"checkin.overdue.s{sequence}",
            "checkin",
            checkin_id,
            partial(_overdue_title, initials[student_id], due),
            f"/checkins/{checkin_id}",
        )
    return enqueue(out, now=now)


def escalate(now: datetime) -> int:
    """Tell the school's principals once per overdue episode of a student (see OverdueEpisode).

    First the open episodes of students who are caught up end (every check-in due by now was
    completed, marked missed or cancelled: one still open a day late keeps the episode going); then an
    episode opens for each student with a check-in overdue for SP_ESCALATION_DAYS and none open,
    and only those new episodes are told. Clearing one of several overdue check-ins tells nobody again.
    """
    days = current_app.config["SP_ESCALATION_DAYS"]
    episode = OverdueEpisode.__table__
    still_overdue = (
        select(CheckIn.id)
        .where(CheckIn.student_id == episode.c.student_id, CheckIn.status == "scheduled", CheckIn.due_at < now)
        .exists()
    )
    db.session.execute(update(episode).where(episode.c.ended_at.is_(None), ~still_overdue).values(ended_at=now))
    # The school is the open check-ins' (they go with a student who moves); students are read only
    # for the episodes that open.
    late = (
        select(
            CheckIn.student_id, func.max(CheckIn.school_id).label("school_id"), func.min(CheckIn.due_at).label("due")
        )
        .where(CheckIn.status == "scheduled", CheckIn.due_at < now - timedelta(days=days))
        .group_by(CheckIn.student_id)
        .subquery()
    )
    is_open = (
        select(episode.c.id).where(episode.c.student_id == late.c.student_id, episode.c.ended_at.is_(None)).exists()
    )
    source = select(
        late.c.student_id, late.c.school_id, late.c.due, literal(now, type_=OverdueEpisode.started_at.type)
    ).where(~is_open)
    insert = dialect_insert()
    opened = (
        db.session.execute(
            insert(episode)
            .from_select(["student_id", "school_id", "first_due_at", "started_at"], source)
            .on_conflict_do_nothing(index_elements=["student_id"], index_where=episode.c.ended_at.is_(None))
            .returning(episode.c.id)
        )
        .scalars()
        .all()
    )
    if not opened:
        return 0
    rows = db.session.execute(
        select(episode.c.id, Student.id, Student.given_name, Student.family_name, user_school.c.user_id)
        .join(Student, Student.id == episode.c.student_id)
        .join(user_school, user_school.c.school_id == episode.c.school_id)
        .join(User, User.id == user_school.c.user_id)
        .where(
            episode.c.id.in_(opened),
            User.role == Role.PRINCIPAL.value,
            User.is_active.is_(True),
            Student.is_active.is_(True),
        )
    ).all()
    out = []
    for episode_id, student_id, given, family, principal_id in rows:
        initials = f"{given[:1]}{family[:1]}".upper()
        out += _both_channels(
            principal_id,
            "checkin.escalation",
            "overdue_episode",
            episode_id,
            partial(_escalation_title, initials, days),
            f"/students/{student_id}",
        )
    return enqueue(out, now=now)


def dialect_insert():
    """INSERT with ON CONFLICT for the session's database."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _month_reached(due: date, today: date) -> date:
    """The latest monthly anniversary of due on or before today (due itself in its first month)."""
    months = (today.year - due.year) * 12 + today.month - due.month
    while months > 0 and due + relativedelta(months=months) > today:
        months -= 1
    return due + relativedelta(months=max(months, 0))


def remind_match_support(now: datetime) -> int:
    """Remind a school's counselors when an active mentoring match's monthly support contact is due.

    Once when it falls due, and once a month after that while no contact has been recorded. The
    counselors of every school concerned come from one query, and reminders already made are skipped.
    """
    from school_prevention.programs.models import Match
    from school_prevention.programs.queries import active_matches_with_contact_due

    today = now.astimezone(district_zone()).date()
    due = active_matches_with_contact_due(select(Match).options(selectinload(Match.student)), today)
    if not due:
        return 0
    counselors: dict[int, list[int]] = {}  # school id -> its active counselors
    for school_id, user_id in db.session.execute(
        select(user_school.c.school_id, User.id)
        .join(User, User.id == user_school.c.user_id)
        .where(
            user_school.c.school_id.in_({m.school_id for m, _ in due}),
            User.role == Role.COUNSELOR.value,
            User.is_active.is_(True),
        )
    ):
        counselors.setdefault(school_id, []).append(user_id)
    made = set(
        map(
            tuple,
            db.session.execute(
                select(Notification.subject_id, Notification.user_id, Notification.kind).where(
                    Notification.subject_type == "match",
                    Notification.channel == "email",
                    Notification.subject_id.in_([m.id for m, _ in due]),
                    Notification.kind.startswith("match.support."),
                )
            ),
        )
    )
    out = []
    for match, due_on in due:
        kind = f"match.support.{_month_reached(due_on, today).isoformat()}"
        for counselor_id in counselors.get(match.school_id, []):
            if (match.id, counselor_id, kind) not in made:
                out += _both_channels(
                    counselor_id,
                    kind,
                    "match",
                    match.id,
                    partial(_match_support_title, match.student.initials),
                    f"/matches/{match.id}",
                )
    return enqueue(out, now=now)
