"""Queries for the notification centre."""
from __future__ import annotations

from sqlalchemy import Select, func, select

from school_prevention.auth.models import User
from school_prevention.notifications.models import Notification


def inbox(user: User) -> Select:
    """The user's in-app notifications, newest first."""
    return (select(Notification)
            .where(Notification.user_id == user.id, Notification.channel == "in_app")
            .order_by(Notification.read_at.is_not(None), Notification.created_at.desc(), Notification.id.desc()))


def unread_count(user: User) -> Select:
    """How many in-app notifications the user has not read."""
    return (select(func.count()).select_from(Notification)
            .where(Notification.user_id == user.id, Notification.channel == "in_app",
                   Notification.read_at.is_(None)))
