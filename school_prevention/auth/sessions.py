"""Server-side sign-in sessions: created on sign-in, checked on every request, ended for good."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from flask import current_app, g
from sqlalchemy import CursorResult, bindparam, func, select, update
from sqlalchemy.orm import joinedload

from school_prevention.auth.models import User, UserSession
from school_prevention.db import utcnow
from school_prevention.extensions import db

# Touch last_seen_at at most this often, so reading a page does not always write a row.
TOUCH_INTERVAL = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@cache
def _session_by_token():
    """The session row of a token hash with its user and the user's unread in-app notifications (for
    the page header), in one query built once: it runs before every page."""
    from school_prevention.notifications.models import Notification

    unread = (
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == UserSession.user_id,
            Notification.channel == "in_app",
            Notification.read_at.is_(None),
        )
        .correlate(UserSession)
        .scalar_subquery()
    )
    return (
        select(UserSession, unread)
        .options(joinedload(UserSession.user))
        .where(UserSession.token_hash == bindparam("token_hash"))
    )


def start_session(user: User, *, ip: str | None, user_agent: str | None, method: str | None = None) -> str:
    """Create a session row for user and return the token for the cookie (stored hashed); method says
    how the person signed in (password, sso, with which second factor)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        UserSession(
            token_hash=_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            ip=ip,
            user_agent=(user_agent or "")[:255] or None,
            sign_in_method=method,
        )
    )
    return token


def load_session(token: str | None, now: datetime | None = None) -> tuple[UserSession | None, str | None]:
    """The live session for token, or (None, why) when it is missing, ended or timed out.

    A session past its idle or absolute limit is ended here, so it can never be revived. The
    user's unread count read with it is kept for the page header (unread_count_read_with_session).
    """
    if not token:
        return None, None
    found = db.session.execute(_session_by_token(), {"token_hash": _hash(token)}).one_or_none()
    if found is None:
        return None, "unknown"
    row, unread = found
    g.sp_unread_notifications = (row.user_id, unread)
    if row.ended_at is not None:
        return None, row.ended_reason or "ended"
    now = now or utcnow()
    config = current_app.config
    reason = None
    if now - row.created_at > config["SESSION_ABSOLUTE_TIMEOUT"]:
        reason = "absolute_timeout"
    elif now - row.last_seen_at > config["SESSION_IDLE_TIMEOUT"]:
        reason = "idle_timeout"
    elif not row.user.is_active:
        reason = "deactivated"
    if reason:
        row.ended_at, row.ended_reason = now, reason  # saved with the request's commit
        return None, reason
    if now - row.last_seen_at > TOUCH_INTERVAL:
        row.last_seen_at = now
    return row, None


def unread_count_read_with_session(user_id: int) -> int | None:
    """The user's unread notifications as read with their session at the start of this request,
    or None when this request read no session of theirs."""
    found = g.get("sp_unread_notifications")
    return found[1] if found is not None and found[0] == user_id else None


def end_session(token: str | None, reason: str) -> None:
    """End the session of this token (sign-out)."""
    if not token:
        return
    db.session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _hash(token), UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), ended_reason=reason)
    )


def end_all_sessions(user: User, reason: str, *, keep_token: str | None = None) -> int:
    """End every live session of user (deactivation, password change); returns how many."""
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), ended_reason=reason)
    )
    if keep_token:
        stmt = stmt.where(UserSession.token_hash != _hash(keep_token))
    return cast(CursorResult[Any], db.session.execute(stmt)).rowcount


def live_sessions(user: User, now: datetime | None = None) -> list[UserSession]:
    """The person's sessions that have not ended or timed out, newest activity first."""
    now = now or utcnow()
    config = current_app.config
    rows = db.session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.ended_at.is_(None),
            UserSession.created_at > now - config["SESSION_ABSOLUTE_TIMEOUT"],
            UserSession.last_seen_at > now - config["SESSION_IDLE_TIMEOUT"],
        )
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return list(rows)


def is_token_of(row: UserSession, token: str | None) -> bool:
    """Whether row is the session of this cookie token."""
    if not token:
        return False
    return row.token_hash == _hash(token)


def end_own_session(user: User, session_id: int, reason: str) -> bool:
    """End one of the person's own sessions by id; False when it is not theirs or already ended."""
    result = db.session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), ended_reason=reason)
    )
    return cast(CursorResult[Any], result).rowcount == 1
