"""Notification: one message to one user on one channel about one subject, never sent twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from school_prevention.db import utcnow
from school_prevention.extensions import Model

CHANNELS = ("in_app", "email")
STATES = ("pending", "sent", "failed")


class Notification(Model):
    """A message for a user. Text carries no student name: initials at most, and a link.

    Unique per (user, kind, channel, subject): creating the same reminder twice is a no-op,
    which is what keeps a second sweep or a second scheduler from sending it again.
    """

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "channel", "subject_type", "subject_id", name="uq_notification_once"),
        CheckConstraint("channel IN ('in_app', 'email')", name="channel_known"),
        CheckConstraint("state IN ('pending', 'sent', 'failed')", name="state_known"),
        Index("ix_notification_user_id_read_at", "user_id", "read_at"),
        Index("ix_notification_due", "channel", "state", "send_at"),
        Index("ix_notification_tried", "channel", "state", "last_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10), default="in_app")
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    link: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    send_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    # Email delivery (notifications.mail): a sender's claim, taken at claimed_at, holds until
    # leased_until and is renewed while the sender works; handed_at is set just before the email's
    # DATA goes to the relay, so a pending row with it set may already be with the relay.
    claimed_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(40))
    leased_until: Mapped[datetime | None]
    handed_at: Mapped[datetime | None]
    # Chosen when the row is made, so every copy of the email carries the same one (None on rows
    # older than the column: they keep <notification-ID@SP_MAIL_DOMAIN>, see mail.message_id_of).
    message_id: Mapped[str | None] = mapped_column(String(250))
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
