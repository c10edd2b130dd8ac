"""Create in-app notifications (once per user, kind and subject) and mark them read."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification


def notify(users: Iterable[User], *, kind: str, subject_type: str, subject_id: int, title: str,
           link: str | None, channel: str = "in_app") -> int:
    """Add one notification per user unless that user already has it; returns how many were new.

    Titles must never carry a student's name or case detail (initials at most).
    """
    users = list(users)
    if not users:
        return 0
    existing = set(db.session.scalars(
        select(Notification.user_id).where(
            Notification.user_id.in_([u.id for u in users]), Notification.kind == kind,
            Notification.channel == channel, Notification.subject_type == subject_type,
            Notification.subject_id == subject_id)))
    now = utcnow()
    created = 0
    for user in users:
        if user.id in existing:
            continue
        sent = now if channel == "in_app" else None
        db.session.add(Notification(user_id=user.id, kind=kind, channel=channel, subject_type=subject_type,
                                    subject_id=subject_id, title=title, link=link, created_at=now,
                                    send_at=now, sent_at=sent, state="sent" if sent else "pending"))
        created += 1
    db.session.flush()
    return created


def mark_read(user: User, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications (or all of them) read; returns how many changed."""
    stmt = (update(Notification)
            .where(Notification.user_id == user.id, Notification.channel == "in_app", Notification.read_at.is_(None))
            .values(read_at=utcnow()))
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    return db.session.execute(stmt).rowcount
