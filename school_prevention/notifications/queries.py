"""Queries for the notification centre and the email outbox."""

from __future__ import annotations

from sqlalchemy import Select, func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.notifications.models import Notification


def inbox(user: User) -> Select:
    """The user's in-app notifications, newest first."""
    return (
        select(Notification)
        .where(Notification.user_id == user.id, Notification.channel == "in_app")
        .order_by(Notification.read_at.is_not(None), Notification.created_at.desc(), Notification.id.desc())
    )


def unread_count(user: User) -> Select:
    """How many in-app notifications the user has not read."""
    return (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.channel == "in_app", Notification.read_at.is_(None))
    )


def last_retry(notification_id: int) -> Select:
    """(admin's name, time) of the latest retry of an email (its audit row), for "already queued again by …"."""
    return (
        select(User.name, AuditEvent.at)
        .select_from(AuditEvent)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(
            AuditEvent.action == "outbox.retry",
            AuditEvent.object_type == "notification",
            AuditEvent.object_id == str(notification_id),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
