"""Email delivery from the outbox: claim, send over SMTP, mark sent; retry with backoff; never lose one.

Each email is a Notification row on the "email" channel. A sender claims a batch (a claim token
and time written in its own committed transaction) before it talks to the SMTP server, so a
second sender, or a second scheduler, skips what is claimed. A claim older than CLAIM_TIMEOUT is
taken to belong to a sender that died, and the row is sent again. Delivery is at-least-once: a
sender killed after the SMTP server accepted an email but before "sent" was committed leaves that
one email to go again (same Message-ID). With no MAIL_SERVER configured nothing is sent: the rows
wait in the outbox the admin sees.
"""
from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.orm import Session

from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.notifications import links
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


def claim_batch(now: datetime, limit: int = BATCH, session: Session | None = None) -> tuple[str, list[int]]:
    """Claim up to limit due emails for this sender and commit the claim; returns (token, ids)."""
    session = session or db.session
    token = secrets.token_hex(16)
    candidates = select(Notification.id).where(_due(now)).order_by(Notification.send_at, Notification.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Two statements on purpose. Rows another sender is claiming right now are skipped, not
        # waited for. As one `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`
        # PostgreSQL may rescan the subquery for every row, skip the rows it has just updated, and
        # so claim every due row instead of n, leaving a second sender nothing to do.
        picked = list(session.scalars(candidates.with_for_update(skip_locked=True)))
        chosen = Notification.id.in_(picked) if picked else None
    else:
        # SQLite: one statement, so the write lock is taken before anything is read (a read
        # followed by a write could fail at once with "database is locked" beside another sender).
        chosen = Notification.id.in_(candidates.scalar_subquery())
    if chosen is not None:
        # The condition repeats _due(): a row another sender claimed meanwhile is not taken over.
        session.execute(update(Notification).where(chosen, _due(now))
                        .values(claim_token=token, claimed_at=now).execution_options(synchronize_session=False))
    session.commit()
    ids = list(session.scalars(select(Notification.id).where(Notification.claim_token == token,
                                                             Notification.state == "pending")))
    return token, ids


def build_message(note, user) -> EmailMessage:
    """Title and link only: the title carries initials at most, never a name or case detail.

    note needs id, title and link; user needs email (a Notification and a User, or one plain row).
    """
    config = current_app.config
    message = EmailMessage()
    message["Subject"] = note.title
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = user.email
    message["Message-ID"] = f"<notification-{note.id}@{config['SP_MAIL_DOMAIN']}>"
    path = links.open_link(note.link)
    link = f"{config['SP_BASE_URL'].rstrip('/')}{path}" if path else config["SP_BASE_URL"]
    # The link on a line of its own: short enough for most mail to stay unencoded, easy to copy.
    message.set_content(f"{note.title}\n\nOpen:\n{link}\n\n-- \n{FOOTER}\n")
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


class _Sweep:
    """The database side of one sending sweep: claims through a session, each result in its own commit."""

    def __init__(self, session: Session, results: Connection | None = None) -> None:
        self.session = session
        self._results = results

    def record(self, note_id: int, token: str, **values) -> None:
        """Write one email's result at once (only while this sweep's claim on it stands)."""
        stmt = (update(Notification).where(Notification.id == note_id, Notification.claim_token == token)
                .values(**values))
        if self._results is not None:
            self._results.execute(stmt)  # autocommit: committed, in one round trip, when this returns
            return
        self.session.execute(stmt.execution_options(synchronize_session=False))
        self.session.commit()

    def fail(self, note, token: str, now: datetime, error: str, permanent: bool = False) -> None:
        attempts = note.attempts + 1
        gave_up = permanent or attempts >= MAX_ATTEMPTS
        self.record(note.id, token, attempts=attempts, last_error=error[:500], claim_token=None, claimed_at=None,
                    state="failed" if gave_up else "pending",
                    next_attempt_at=None if gave_up else now + backoff(attempts))


@contextmanager
def _sweep() -> Iterator[_Sweep]:
    """Database connections held for the whole sweep.

    The sweep commits once per email. Through the app's pooled session every commit would hand the
    connection back and the next statement would check one out again (a pre-ping and a reset),
    and each commit would need BEGIN, UPDATE and COMMIT: several round trips per email. So the
    claims get a connection of their own and, on PostgreSQL, the results a second one in
    autocommit. When the app's session is already bound to one connection (the tests' per-test
    transaction), that session does everything.
    """
    bind = db.session.get_bind()
    if isinstance(bind, Connection):
        yield _Sweep(db.session)
        return
    with bind.connect() as claims:
        session = Session(bind=claims)
        try:
            if bind.dialect.name == "postgresql":
                with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as results:
                    with _results_not_flushed(results):
                        yield _Sweep(session, results)
            else:
                yield _Sweep(session)
        finally:
            session.close()


@contextmanager
def _results_not_flushed(results: Connection) -> Iterator[None]:
    """Results that do not wait for the WAL flush to disk (synchronous_commit off), this sweep only.

    A result must outlive the sender process, and it does: it is committed and visible when the
    UPDATE returns. Only a crash of the database server itself can lose the last fraction of a
    second of them; such an email is then still claimed, not sent, and goes again after
    CLAIM_TIMEOUT: a duplicate, never a loss. Claims stay fully durable. Waiting for a flush per
    email made a 10,000-email sweep about 2.5 times slower, and no faster with a second sender.
    """
    results.exec_driver_sql("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        try:
            # The connection goes back to the pool: other work on it must flush as usual.
            results.exec_driver_sql("RESET synchronous_commit")
        except Exception:
            results.invalidate()


def _outgoing(session: Session, ids: list[int]):
    """What the emails of a claimed batch need, as plain rows.

    Plain values, not ORM objects: every "sent" commit would expire loaded objects and cost two
    reloads per email.
    """
    return session.execute(
        select(Notification.id, Notification.title, Notification.link, Notification.attempts, User.email,
               User.is_active)
        .join(User, User.id == Notification.user_id).where(Notification.id.in_(ids)).order_by(Notification.id)).all()


def deliver(now: datetime) -> int:
    """Send every due email in batches; returns how many were sent. Safe to run in several processes.

    Each email is marked sent in its own commit right after the SMTP server accepted it. A sender
    killed between those two steps sends that one email again after CLAIM_TIMEOUT (at-least-once,
    with the same Message-ID); nothing is ever lost.
    """
    if not is_configured():
        return 0
    with _sweep() as sweep:
        return _deliver(sweep, now)


def _deliver(sweep: _Sweep, now: datetime) -> int:
    sent = 0
    while True:
        token, ids = claim_batch(now, session=sweep.session)
        if not ids:
            return sent
        notes = _outgoing(sweep.session, ids)
        sweep.session.commit()  # hold no transaction open while talking to the SMTP server
        try:
            client = _connect()
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("SMTP server unavailable (%s); %d emails will be retried", exc.__class__.__name__, len(notes))
            for note in notes:
                sweep.fail(note, token, now, f"cannot connect: {exc}")
            return sent
        try:
            for note in notes:
                if not note.is_active:
                    sweep.fail(note, token, now, "recipient account is deactivated", permanent=True)
                    continue
                try:
                    message = build_message(note, note)
                except (ValueError, TypeError) as exc:
                    # A message that cannot be built never will be: fail it rather than retry it forever.
                    sweep.fail(note, token, now, f"cannot build the message: {exc}", permanent=True)
                    continue
                try:
                    client.send_message(message)
                except smtplib.SMTPRecipientsRefused as exc:
                    sweep.fail(note, token, now, f"recipient refused: {exc}", permanent=True)
                    continue
                except (OSError, smtplib.SMTPException) as exc:
                    sweep.fail(note, token, now, f"send failed: {exc}")
                    continue
                # Between the send above and this commit a killed sender leaves the email claimed but
                # not marked sent: it goes again after CLAIM_TIMEOUT, with the same Message-ID.
                # A link with a secret in it is kept no longer than it is needed (notifications.links).
                kept = {"link": links.without_secret(note.link)} if links.is_sealed(note.link) else {}
                sweep.record(note.id, token, state="sent", sent_at=now, attempts=note.attempts + 1,
                             claim_token=None, last_error=None, **kept)
                sent += 1
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                pass
