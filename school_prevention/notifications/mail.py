"""Email delivery from the outbox: claim with a lease, hand over to the relay, mark sent; back off on 4xx.

Each email is a Notification row on the "email" channel. A sender claims a batch with a lease it
renews while it works (notifications.claims), so a second sender or scheduler never takes over a
live sweep, however slow the relay; only a claim whose lease ran out (its sender died) is taken
over. Right before each email's DATA the sender confirms, in a committed UPDATE, that the claim is
still its own and marks the email handed over; right after the relay's 250 it marks it sent.

What a crash can do: a sender killed between the relay's 250 and the "sent" commit (one database
round trip) leaves the email pending and handed over. Once the lease runs out it is sent again,
with the same Message-ID (stored on the row when it was made), so receiving mail systems can drop
the copy. At most one email per killed sender, and never a lost one. Killed at any other moment,
nothing the relay accepted is sent again.

Replies (notifications.smtp): 4xx, a refused recipient's 4xx and a lost connection are retried
with backoff (1, 2, 4 ... minutes, MAX_ATTEMPTS tries); 5xx fails the email at once. With no
MAIL_SERVER configured nothing is sent: the rows wait in the outbox the admin sees.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import smtplib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app
from flask_babel import gettext

from school_prevention.i18n import N_
from school_prevention.notifications import links, smtp
from school_prevention.notifications.claims import LEASE, RENEW_EVERY, Sweep, claim_batch, outgoing, sweep_connections
from school_prevention.notifications.locales import in_language

log = logging.getLogger("school_prevention.mail")

BATCH = 200
MAX_ATTEMPTS = 8
FOOTER = N_("This message carries no student details by design. Sign in to see the record.")
APP_NAME = N_("School Prevention Program Manager")
Clock = Callable[[], datetime]


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4, ... minutes, at most 2 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 120))


def is_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def new_message_id() -> str:
    """A Message-ID for a new email row: random (it says nothing about the student or the reminder)."""
    return f"<{secrets.token_hex(16)}@{current_app.config['SP_MAIL_DOMAIN']}>"


def message_id_of(note) -> str:
    """The row's Message-ID; rows made before it was stored keep the one they were always sent with."""
    return getattr(note, "message_id", None) or f"<notification-{note.id}@{current_app.config['SP_MAIL_DOMAIN']}>"


def build_message(note, user) -> EmailMessage:
    """Title and link only: the title carries initials at most, never a name or case detail.

    note needs id, title, link (and message_id); user needs email, and locale for the language of the email's
    own words (a Notification and a User, or one plain row). The title was written in that language when made.
    """
    config = current_app.config
    message = EmailMessage()
    message["Subject"] = note.title
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = user.email
    message["Message-ID"] = message_id_of(note)
    path = links.open_link(note.link)
    link = f"{config['SP_BASE_URL'].rstrip('/')}{path}" if path else config["SP_BASE_URL"]
    # The link on a line of its own: short enough for most mail to stay unencoded, easy to copy.
    with in_language(getattr(user, "locale", None)):
        open_, footer, name = gettext("Open:"), gettext(FOOTER), gettext(APP_NAME)
    message.set_content(f"{note.title}\n\n{open_}\n{link}\n\n-- \n{footer}\n{name}\n")
    return message


def running_clock(now: datetime) -> Clock:
    """The sender's clock: the job's now, moving on with real time (leases are measured on it)."""
    started = time.monotonic()
    return lambda: now + timedelta(seconds=time.monotonic() - started)


def deliver(now: datetime, clock: Clock | None = None, batch: int = BATCH) -> int:
    """Send every due email in batches; returns how many were sent. Safe to run in several processes.

    clock: the sender's current time (default: now, running on); tests move it by hand.
    """
    if not is_configured():
        return 0
    clock = clock or running_clock(now)
    with sweep_connections() as sweep:
        return _deliver(sweep, clock, batch)


def _deliver(sweep: Sweep, clock: Clock, batch: int) -> int:
    sent = 0
    while True:
        token, ids = claim_batch(clock(), batch, session=sweep.session)
        if not ids:
            return sent
        notes = outgoing(sweep.session, ids)
        sweep.session.commit()  # hold no transaction open while talking to the SMTP server
        done, stop = _send_batch(sweep, token, notes, clock)
        sent += done
        if stop:
            return sent


def _still_ours(sweep: Sweep, note_id: int, token: str, clock: Clock) -> Callable[[], bool]:
    """The check smtp.hand_over makes right before DATA: mark the email handed over while its claim is ours."""
    return lambda: sweep.hand_over(note_id, token, clock())


def _send_batch(sweep: Sweep, token: str, notes, clock: Clock) -> tuple[int, bool]:
    """Send one claimed batch on one connection; returns (sent, whether the relay is unavailable)."""
    try:
        client = smtp.connect()
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("SMTP server unavailable (%s); %d emails will be retried", exc.__class__.__name__, len(notes))
        at = clock()
        for note in notes:
            _fail(sweep, note, token, at, f"cannot connect: {exc}", permanent=False)
        return 0, True
    sent, renewed = 0, clock()
    ids = [note.id for note in notes]
    try:
        for position, note in enumerate(notes):
            if clock() - renewed >= RENEW_EVERY:
                renewed = clock()
                sweep.renew(ids[position:], token, renewed + LEASE)
            if not note.is_active:
                _fail(sweep, note, token, clock(), "recipient account is deactivated", permanent=True)
                continue
            try:
                message = build_message(note, note)
            except (ValueError, TypeError) as exc:
                # A message that cannot be built never will be: fail it rather than retry it forever.
                _fail(sweep, note, token, clock(), f"cannot build the message: {exc}", permanent=True)
                continue
            try:
                # Confirmed and marked right before DATA: a claim lost to another sender (this one
                # stalled past its lease) is skipped; after the mark the relay may have the email.
                accepted = smtp.hand_over(client, message, _still_ours(sweep, note.id, token, clock))
            except (OSError, smtplib.SMTPException) as exc:
                permanent, reason = smtp.classify(exc)
                _fail(sweep, note, token, clock(), reason, permanent=permanent)
                if smtp.is_connection_lost(exc):
                    # The rest were not tried: back in the queue for the next sweep, no try counted.
                    sweep.release(ids[position + 1 :], token)
                    return sent, True
                continue
            if not accepted:
                log.info("email %d is no longer this sender's claim; skipped", note.id)
                continue
            # Between the relay's 250 and this commit a killed sender leaves the email handed over
            # but not sent: it goes again when the lease runs out, with the same Message-ID.
            # A link with a secret in it is kept no longer than it is needed (notifications.links).
            kept = {"link": links.without_secret(note.link)} if links.is_sealed(note.link) else {}
            sweep.sent(note.id, clock(), note.attempts + 1, **kept)
            sent += 1
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()
    return sent, False


def _fail(sweep: Sweep, note, token: str, at: datetime, error: str, permanent: bool) -> None:
    attempts = note.attempts + 1
    gave_up = permanent or attempts >= MAX_ATTEMPTS
    sweep.failed(note.id, token, at, attempts, error, retry_at=None if gave_up else at + backoff(attempts))
