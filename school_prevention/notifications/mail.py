"""Email delivery from the outbox: claim, send over SMTP, mark sent; retry with backoff; never lose one.

Each email is a Notification row on the "email" channel. A sender claims a batch (a claim token
and time written in its own committed transaction) before it talks to the SMTP server, so a
second sender, or a second scheduler, skips what is claimed. A claim older than CLAIM_TIMEOUT is
taken to belong to a sender that died between claim and send, and the row is sent again. With
no MAIL_SERVER configured nothing is sent: the rows wait in the outbox the admin sees.
"""
from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import and_, or_, select, update

from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification

log = logging.getLogger("school_prevention.mail")

CLAIM_TIMEOUT = timedelta(minutes=10)
BATCH = 200
MAX_ATTEMPTS = 8
FOOTER = ("This message carries no student details by design. Sign in to see the record.\n"
          "School Prevention Program Manager")


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4, ... minutes, at most 2 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 120))


def is_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def _due(now: datetime):
    return and_(Notification.channel == "email", Notification.state == "pending", Notification.send_at <= now,
                or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
                or_(Notification.claimed_at.is_(None), Notification.claimed_at < now - CLAIM_TIMEOUT))


def claim_batch(now: datetime, limit: int = BATCH) -> tuple[str, list[int]]:
    """Claim up to limit due emails for this sender and commit the claim; returns (token, ids)."""
    token = secrets.token_hex(16)
    candidates = select(Notification.id).where(_due(now)).order_by(Notification.send_at, Notification.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    # The outer condition repeats _due(): a row claimed by another sender meanwhile is not taken over.
    db.session.execute(update(Notification).where(Notification.id.in_(candidates.scalar_subquery()), _due(now))
                       .values(claim_token=token, claimed_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    ids = list(db.session.scalars(select(Notification.id).where(Notification.claim_token == token,
                                                                Notification.state == "pending")))
    return token, ids


def build_message(note: Notification, user: User) -> EmailMessage:
    """Title and link only: the title carries initials at most, never a name or case detail."""
    config = current_app.config
    message = EmailMessage()
    message["Subject"] = note.title
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = user.email
    message["Message-ID"] = f"<notification-{note.id}@{config['SP_MAIL_DOMAIN']}>"
    link = f"{config['SP_BASE_URL'].rstrip('/')}{note.link}" if note.link else config["SP_BASE_URL"]
    message.set_content(f"{note.title}\n\nOpen: {link}\n\n-- \n{FOOTER}\n")
    return message


def _connect():
    config = current_app.config
    if config.get("MAIL_USE_SSL"):
        client = smtplib.SMTP_SSL(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30,
                                  context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30)
        if config.get("MAIL_USE_TLS"):
            client.starttls(context=ssl.create_default_context())
    if config.get("MAIL_USERNAME"):
        client.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    return client


def _finish(note_id: int, token: str, **values) -> None:
    db.session.execute(update(Notification).where(Notification.id == note_id, Notification.claim_token == token)
                       .values(**values).execution_options(synchronize_session=False))
    db.session.commit()


def _fail(note: Notification, token: str, now: datetime, error: str, permanent: bool = False) -> None:
    attempts = note.attempts + 1
    gave_up = permanent or attempts >= MAX_ATTEMPTS
    _finish(note.id, token, attempts=attempts, last_error=error[:500], claim_token=None, claimed_at=None,
            state="failed" if gave_up else "pending", next_attempt_at=None if gave_up else now + backoff(attempts))


def deliver(now: datetime) -> int:
    """Send every due email in batches; returns how many were sent. Safe to run in several processes."""
    if not is_configured():
        return 0
    sent = 0
    while True:
        token, ids = claim_batch(now)
        if not ids:
            return sent
        notes = db.session.execute(select(Notification, User).join(User, User.id == Notification.user_id)
                                   .where(Notification.id.in_(ids)).order_by(Notification.id)).all()
        try:
            client = _connect()
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("SMTP server unavailable (%s); %d emails will be retried", exc.__class__.__name__, len(notes))
            for note, _ in notes:
                _fail(note, token, now, f"cannot connect: {exc}")
            return sent
        try:
            for note, user in notes:
                if not user.is_active:
                    _fail(note, token, now, "recipient account is deactivated", permanent=True)
                    continue
                try:
                    client.send_message(build_message(note, user))
                except smtplib.SMTPRecipientsRefused as exc:
                    _fail(note, token, now, f"recipient refused: {exc}", permanent=True)
                    continue
                except (OSError, smtplib.SMTPException) as exc:
                    _fail(note, token, now, f"send failed: {exc}")
                    continue
                _finish(note.id, token, state="sent", sent_at=now, attempts=note.attempts + 1,
                        claim_token=None, last_error=None)
                sent += 1
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                pass
