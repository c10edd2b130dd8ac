"""A counselor's check-ins as an iCalendar feed, behind a revocable secret link.

Entries carry the student's initials only (calendars sync to phones and shared devices). Each
check-in keeps one UID for life and its SEQUENCE goes up with every change, so Outlook and
Google Calendar update or cancel the event they already have instead of adding a copy.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext
from icalendar import Calendar, Event
from sqlalchemy import select

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckIn
from school_prevention.checkins.queries import last_action, visible_checkins
from school_prevention.errors import AlreadyDone
from school_prevention.extensions import db
from school_prevention.students.models import Student
from school_prevention.timezones import localtime

PAST = timedelta(days=60)
AHEAD = timedelta(days=400)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_version(user: User) -> str:
    """Which link the calendar page showed as current ("none" without one): the page sends it back
    with "Create", so a second click that arrives after the first replaced the link is recognised.
    A prefix of the token's hash: nothing can be learnt from it."""
    return user.calendar_token_hash[:16] if user.calendar_token_hash else "none"


def _last_by(action: str, user: User) -> str:
    found = db.session.execute(last_action((action,), "user_account", user.id)).first()
    return f" ({localtime(found[1])})" if found else ""


def issue(user: User, *, replaces: str | None = None) -> str:
    """A new feed token for the user (any earlier link stops working); only its hash is kept.

    replaces: the link_version() the user's page showed. The token can be shown only once, so of
    two clicks at once (the user's row is locked by the caller) the second must not replace the
    link the first one is showing: it is told the link was just made.
    """
    if replaces is not None and replaces != link_version(user):
        raise AlreadyDone(
            gettext(
                "A new calendar link was already made%(when)s and shown once, on the page of your "
                "first click. Nothing more was changed. If you did not copy it, replace the link "
                "again.",
                when=_last_by("calendar.link_created", user),
            ),
            next_url="/account/calendar",
        )
    token = secrets.token_urlsafe(32)
    user.calendar_token_hash = _hash(token)
    audit.record("calendar.link_created", actor=user, obj=user)
    return token


def revoke(user: User) -> None:
    """End the feed link (the user's row locked by the caller); a second revoke is told it was done."""
    if user.calendar_token_hash is None:
        raise AlreadyDone(
            gettext(
                "Your calendar link was already revoked%(when)s. Nothing more was changed.",
                when=_last_by("calendar.link_revoked", user),
            ),
            next_url="/account/calendar",
        )
    user.calendar_token_hash = None
    audit.record("calendar.link_revoked", actor=user, obj=user)


def user_for_token(token: str) -> User | None:
    """The active counselor whose feed this token opens, or None."""
    if not token or len(token) > 100:
        return None
    user = db.session.scalars(select(User).where(User.calendar_token_hash == _hash(token))).one_or_none()
    if user is None or not user.is_active or user.role != "counselor":
        return None
    return user


def feed_for(user: User, now: datetime) -> bytes:
    """The counselor's check-ins from two months back to a year ahead."""
    # Scoped like "My check-ins": a counselor taken off a school stops seeing its students here too.
    rows = db.session.execute(
        visible_checkins(user)
        .add_columns(Student.given_name, Student.family_name)
        .join(Student, Student.id == CheckIn.student_id)
        .where(CheckIn.counselor_id == user.id, CheckIn.due_at >= now - PAST, CheckIn.due_at <= now + AHEAD)
        .order_by(CheckIn.due_at)
    ).all()
    config = current_app.config
    cal = Calendar()
    cal.add("prodid", "-//School Prevention Program Manager//Check-ins//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "Check-ins")
    cal.add("x-wr-timezone", config["SP_TIMEZONE"])
    base = config["SP_BASE_URL"].rstrip("/")
    for checkin, given, family in rows:
        initials = f"{given[:1]}{family[:1]}".upper()
        event = Event()
        event.add("uid", f"checkin-{checkin.id}@{config['SP_MAIL_DOMAIN']}")
        event.add("sequence", checkin.sequence)
        event.add("dtstamp", checkin.updated_at or now)
        event.add("dtstart", checkin.due_at)
        event.add("dtend", checkin.due_at + timedelta(minutes=checkin.duration_minutes))
        event.add("summary", f"Check-in: {initials}" + (" (done)" if checkin.status == "completed" else ""))
        event.add("url", f"{base}/checkins/{checkin.id}")
        event.add("description", f"Open in the app: {base}/checkins/{checkin.id}")
        event.add("status", "CANCELLED" if checkin.status == "cancelled" else "CONFIRMED")
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    # A read of the counselor's students' check-ins, initials only but theirs: one list row per fetch.
    audit.record("calendar.feed", actor=user, obj=user, detail={"shown": len(rows)})
    return cal.to_ical()
