"""Housekeeping jobs for sign-in sessions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_

from school_prevention.auth.models import UserSession
from school_prevention.extensions import db
from school_prevention.scheduler import job

KEEP_ENDED_SESSIONS = timedelta(days=30)


@job("sessions.purge", trigger="interval", hours=6)
def purge_sessions(now: datetime) -> int:
    """Delete session rows that ended (or went stale) more than 30 days ago."""
    cutoff = now - KEEP_ENDED_SESSIONS
    result = db.session.execute(
        delete(UserSession).where(or_(UserSession.ended_at < cutoff, UserSession.last_seen_at < cutoff))
    )
    return cast(CursorResult[Any], result).rowcount
