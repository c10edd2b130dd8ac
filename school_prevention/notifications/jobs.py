"""The email sender: a sweep over the outbox (see notifications.mail)."""

from __future__ import annotations

from datetime import datetime

from school_prevention.notifications.mail import deliver
from school_prevention.scheduler import job


@job("notifications.deliver", trigger="interval", minutes=1, misfire_grace_time=120)
def deliver_email(now: datetime) -> int:
    """Send due emails over SMTP (claimed with a lease first, so no sweep takes over another's)."""
    return deliver(now)
