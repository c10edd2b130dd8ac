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
from icalendar import Calendar, Event
from sqlalchemy import select

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckIn
from school_prevention.extensions import db
from school_prevention.permissions import visible_checkins
from school_prevention.students.models import Student

PAST = timedelta(days=60)
AHEAD = timedelta(days=400)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user: User) -> str:
    """A new feed token for the user (any earlier link stops working); only its hash is kept."""
    token = secrets.token_urlsafe(32)
    user.calendar_token_hash = _hash(token)
    audit.record("calendar.link_created", actor=user, obj=user)
    return token


def revoke(user: User) -> None:
    """End the feed link."""
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
        visible_checkins(user).add_columns(Student.given_name, Student.family_name)
        .join(Student, Student.id == CheckIn.student_id)
        .where(CheckIn.counselor_id == user.id, CheckIn.due_at >= now - PAST, CheckIn.due_at <= now + AHEAD)
        .order_by(CheckIn.due_at)).all()
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
    return cal.to_ical()
