"""Talking to the relay: connect, hand one email over in steps, and read what a refusal means.

smtplib's send_message does MAIL, RCPT and DATA in one call. The sender needs a step between
them: it confirms (and records) that it still holds the email's claim after the relay took the
recipient and before DATA, the only command after which the relay may keep the email. So the
steps are done here one by one, with smtplib's own commands.

Replies: 4xx means "not now" (greylisting's 451, a full mailbox, a relay shutting down) and is
retried with backoff; 5xx means "never" and the email fails at once. A dropped connection or a
timeout is "not now" too.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import parseaddr

from flask import current_app


class Unavailable(Exception):
    """The relay could not be reached or lost the connection: retry every email of the batch later."""


def connect() -> smtplib.SMTP:
    """An open, greeted (and, if configured, encrypted and signed-in) connection to MAIL_SERVER."""
    config = current_app.config
    if config.get("MAIL_USE_SSL"):
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30)
        if config.get("MAIL_USE_TLS"):
            client.starttls(context=ssl.create_default_context())
    if config.get("MAIL_USERNAME"):
        client.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    client.ehlo_or_helo_if_needed()
    return client


def hand_over(client: smtplib.SMTP, message: EmailMessage, still_ours: Callable[[], bool]) -> bool:
    """MAIL, RCPT, then still_ours(), then DATA. Returns True once the relay accepted the email (250),
    False when still_ours() said no (nothing was handed over; the transaction is reset).

    Raises smtplib's exceptions for a refusal (SMTPSenderRefused, SMTPRecipientsRefused with the
    recipient's code, SMTPDataError) and OSError / SMTPServerDisconnected for a lost connection.
    """
    sender, recipient = parseaddr(message["From"])[1], parseaddr(message["To"])[1]
    international = not (sender.isascii() and recipient.isascii())
    options: list[str] = []
    if international:
        if not client.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError("the relay cannot take an address that is not ASCII (no SMTPUTF8)")
        options = ["SMTPUTF8", "BODY=8BITMIME"]
    policy = message.policy
    assert isinstance(policy, EmailPolicy)  # an EmailMessage's policy (email.policy.default) is one, with utf8
    data = message.as_bytes(policy=policy.clone(utf8=international, linesep="\r\n"))
    code, reply = client.mail(sender, options)
    if code != 250:
        _reset(client)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = client.rcpt(recipient)
    if code not in (250, 251):
        _reset(client)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    if not still_ours():
        _reset(client)
        return False
    code, reply = client.data(data)  # raises SMTPDataError for a refused DATA command
    if code != 250:
        _reset(client)
        raise smtplib.SMTPDataError(code, reply)
    return True


def _reset(client: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError, smtplib.SMTPException):  # the next command finds out the connection is gone
        client.rset()


def is_connection_lost(exc: BaseException) -> bool:
    """The relay is gone (timeout, reset, closed, 421): the rest of the batch cannot be sent now."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421
    # smtplib's exceptions are OSErrors too: only a socket's own error (timeout, reset) is left here
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def classify(exc: BaseException) -> tuple[bool, str]:
    """(permanent, reason) for a failed hand-over: 5xx is permanent, 4xx and a lost connection are not.

    A refused recipient carries its own code inside SMTPRecipientsRefused (greylisting answers RCPT
    with 451): permanent only when every recipient got a 5xx.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        replies = "; ".join(f"{code} {_text(reply)}" for code, reply in exc.recipients.values())
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        return permanent, f"recipient refused: {replies}"
    if isinstance(exc, smtplib.SMTPResponseException):
        what = {smtplib.SMTPSenderRefused: "sender refused", smtplib.SMTPDataError: "message refused"}.get(
            type(exc), "relay refused"
        )
        return 500 <= exc.smtp_code < 600, f"{what}: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return True, f"relay cannot take it: {exc}"
    return False, f"connection lost: {exc.__class__.__name__} {exc}".strip()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
