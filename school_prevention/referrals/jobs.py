"""Urgent referrals never wait: one no counselor has opened within SP_URGENT_REFERRAL_MINUTES of
school time is told to the school's principals by email (and in the app), exactly once.

Once: the sweep marks the referral escalated with a conditional UPDATE (… WHERE escalated_at IS NULL
RETURNING id), so of two sweeps (two schedulers) at the same moment one tells; each notification is
also unique per (principal, kind, channel, referral) and inserted with ON CONFLICT DO NOTHING; the
email outbox (notifications.deliver) claims each row before sending it. A school without an active principal
tells the district counselor (SP_DISTRICT_COUNSELOR_EMAIL) instead. Titles carry initials only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from school_prevention.checkins.models import NonSchoolDay
from school_prevention.extensions import db
from school_prevention.notifications.services import enqueue
from school_prevention.referrals.escalation import school_hours
from school_prevention.referrals.queries import (
    UNOPENED_KIND,
    district_counselor,
    mark_escalated,
    principals_of_schools,
    unopened_urgent,
)
from school_prevention.scheduler import job

log = logging.getLogger("school_prevention.referrals")
CHANNELS = ("email", "in_app")


@job("referrals.escalate_urgent", trigger="interval", minutes=1, misfire_grace_time=300)
def escalate_urgent(now: datetime) -> int:
    """Tell the principal of each urgent referral nobody has opened within its school minutes."""
    config = current_app.config
    minutes = config["SP_URGENT_REFERRAL_MINUTES"]
    # School minutes never pass faster than the clock: only referrals this old can be due.
    candidates = db.session.execute(unopened_urgent(now - timedelta(minutes=minutes))).all()
    if not candidates:
        return 0
    since = min(r.submitted_at for r in candidates).date() - timedelta(days=1)  # a day either side of UTC
    closed = set(db.session.scalars(select(NonSchoolDay.day).where(NonSchoolDay.day >= since)))
    hours = school_hours(config, closed)
    due = [r for r in candidates if hours.deadline(r.submitted_at, minutes) <= now]
    if not due:
        return 0
    principals: dict[int, list[int]] = {}
    for school_id, user_id in db.session.execute(principals_of_schools({r.school_id for r in due})):
        principals.setdefault(school_id, []).append(user_id)
    fallback = None
    if any(r.school_id not in principals for r in due) and config.get("SP_DISTRICT_COUNSELOR_EMAIL"):
        fallback = db.session.scalars(district_counselor(config["SP_DISTRICT_COUNSELOR_EMAIL"])).first()
    tellable = [r for r in due if r.school_id in principals or fallback is not None]
    for referral in due:
        if referral.school_id not in principals and fallback is None:
            log.warning(
                "urgent referral %s is unopened after %s school minutes and its school has no active "
                "principal or district counselor to tell",
                referral.id,
                minutes,
            )
    # Each referral is escalated once: the sweep that marks it tells (a second sweep at the same
    # moment finds it marked); the notifications' uniqueness is the backstop.
    won = set(db.session.scalars(mark_escalated([r.id for r in tellable], now))) if tellable else set()
    rows = []
    for referral in tellable:
        if referral.id not in won:
            continue
        told = principals.get(referral.school_id)
        if told is None:
            assert fallback is not None  # tellable keeps a school without a principal only with the fallback
            told = [fallback.id]
        initials = f"{referral.given_name[:1]}{referral.family_name[:1]}".upper()
        # A principal gets the page of what waits and whom to ask; the district counselor, the referral.
        link = f"/referrals/{referral.id}/waiting" if referral.school_id in principals else f"/referrals/{referral.id}"
        rows += [
            {
                "user_id": user_id,
                "kind": UNOPENED_KIND,
                "channel": channel,
                "subject_type": "referral",
                "subject_id": referral.id,
                "link": link,
                "title": partial(_unopened_title, initials, minutes),
            }
            for user_id in told
            for channel in CHANNELS
        ]
    return enqueue(rows, now=now)


def _unopened_title(initials: str, minutes: int) -> str:
    """Composed in each recipient's language (notifications.locales)."""
    return gettext(
        "Urgent referral about %(initials)s unopened after %(minutes)s school minutes",
        initials=initials,
        minutes=minutes,
    )
