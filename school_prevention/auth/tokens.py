"""Single-use, expiring links for invitations and password resets, sent through the email outbox.

Only a SHA-256 of each token is stored. A token is spent by one conditional UPDATE (unused and
not expired), so two clicks on the same link, or two browsers, can set a password only once.
Issuing a new token of the same purpose retires the earlier unused ones.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from flask_babel import gettext
from sqlalchemy import CursorResult, delete, select, update

from school_prevention import audit
from school_prevention.auth import sessions
from school_prevention.auth.models import AccountToken, User
from school_prevention.auth.passwords import hash_password
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone
from school_prevention.extensions import db
from school_prevention.i18n import N_
from school_prevention.notifications import links
from school_prevention.notifications.models import Notification
from school_prevention.notifications.services import enqueue
from school_prevention.timezones import localtime

INVITE, RESET = "invite", "reset"
LIFETIME = {INVITE: timedelta(days=7), RESET: timedelta(hours=1)}
# Subjects: translated into the recipient's language when the email is made (notifications.locales).
EMAIL_TITLE = {
    INVITE: N_("Your invitation to the School Prevention Program Manager (link valid for 7 days)"),
    RESET: N_("Reset your School Prevention Program Manager password (link valid for 1 hour)"),
}
# Paths of auth.accept_invitation and auth.reset_password; built without a request, since
# invitations are also sent from the command line. tests/auth/test_account_links.py opens them.
LINK = {INVITE: "/welcome/{}", RESET: "/password/reset/{}"}


class TokenProblem(Exception):
    """The link cannot be used; message says why, in words for the person holding it."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message = message
        self.status = status


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def can_invite(user: User) -> bool:
    """An invitation is for an account that has never been used or never activated, not a deactivated one."""
    return user.deactivated_at is None and (user.is_active or user.password_hash is None)


def issue(user: User, purpose: str, *, actor: User | None, now: datetime | None = None) -> str:
    """Retire the user's unused links of this purpose, make a new one and queue its email.

    Returns the secret (only its hash is kept); callers other than tests have no use for it.
    """
    now = now or utcnow()
    retired = list(
        db.session.scalars(
            update(AccountToken)
            .where(
                AccountToken.user_id == user.id,
                AccountToken.purpose == purpose,
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > now,
            )
            .values(expires_at=now)
            .returning(AccountToken.id)
            .execution_options(synchronize_session=False)
        )
    )
    if retired:
        # Their emails, if still unsent, would only carry a dead link: take them out of the outbox.
        db.session.execute(
            delete(Notification)
            .where(
                Notification.subject_type == "account_token",
                Notification.subject_id.in_(retired),
                Notification.state == "pending",
            )
            .execution_options(synchronize_session=False)
        )
    raw = secrets.token_urlsafe(32)
    token = AccountToken(
        user_id=user.id,
        purpose=purpose,
        token_hash=_hash(raw),
        created_at=now,
        expires_at=now + LIFETIME[purpose],
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(token)
    db.session.flush()
    # The link must reach the sender even after a crash, so the outbox row carries it, encrypted,
    # and only until it is sent (notifications.links): no raw token is stored anywhere.
    enqueue(
        [
            {
                "user_id": user.id,
                "kind": f"account.{purpose}",
                "channel": "email",
                "subject_type": "account_token",
                "subject_id": token.id,
                "title": partial(gettext, EMAIL_TITLE[purpose]),
                "link": links.seal(LINK[purpose].format(raw)),
                "send_at": now,
            }
        ]
    )
    audit.record(f"user.{purpose}_sent", actor=actor, obj=user, detail={"expires_at": token.expires_at.isoformat()})
    return raw


def latest_invitation(user: User) -> AccountToken | None:
    """The user's most recent invitation, used or not (the admin page names it in its form)."""
    return db.session.scalars(
        select(AccountToken)
        .where(AccountToken.user_id == user.id, AccountToken.purpose == INVITE)
        .order_by(AccountToken.id.desc())
        .limit(1)
    ).first()


def invite(user: User, *, actor: User | None, seen: int | None) -> str:
    """Send an invitation from the admin page, once per click on a page that showed invitation `seen`.

    The page carries the id of the latest invitation it showed (None: there was none). If another
    one was issued since, this request repeats a click already answered (a double click, two admins
    at once): it is refused, so the person gets one email, not two. The caller holds the account's
    row lock, so two such requests run one after the other.
    """
    latest = latest_invitation(user)
    if latest is not None and latest.id != seen:
        sender = latest.created_by.name if latest.created_by is not None else gettext("someone")
        state = (
            gettext("it has been used")
            if latest.used_at is not None
            else gettext("its link works until %(when)s", when=localtime(latest.expires_at))
        )
        raise AlreadyDone(
            gettext(
                "An invitation was already sent to %(email)s by %(sender)s (%(when)s); %(state)s. "
                "Nothing more was sent.",
                email=user.email,
                sender=sender,
                when=localtime(latest.created_at),
                state=state,
            ),
            next_url=f"/admin/users/{user.id}",
        )
    return issue(user, INVITE, actor=actor)


def check(raw: str, purpose: str, now: datetime | None = None) -> AccountToken:
    """The unused, unexpired token behind a link, or TokenProblem."""
    now = now or utcnow()
    token = db.session.scalars(
        select(AccountToken).where(AccountToken.token_hash == _hash(raw or ""), AccountToken.purpose == purpose)
    ).first()
    again = (
        gettext("Ask your administrator for a new invitation.")
        if purpose == INVITE
        else gettext("You can ask for a new link below.")
    )
    if token is None:
        raise TokenProblem(
            gettext("This link is not valid. Check that you opened the whole link from the email.") + " " + again, 404
        )
    if token.used_at is not None:
        raise TokenProblem(gettext("This link has already been used.") + " " + again, 410)
    if token.expires_at <= now:
        raise TokenProblem(gettext("This link has expired.") + " " + again, 410)
    if not (can_invite(token.user) if purpose == INVITE else token.user.is_active):
        raise TokenProblem(gettext("This account has been deactivated. Ask your administrator."), 410)
    return token


def redeem(raw: str, purpose: str, new_password: str, now: datetime | None = None) -> User:
    """Spend the token (once) and set the password; every session of the account is ended."""
    now = now or utcnow()
    token = check(raw, purpose, now)
    spent = cast(
        CursorResult[Any],
        db.session.execute(
            update(AccountToken)
            .where(AccountToken.id == token.id, AccountToken.used_at.is_(None), AccountToken.expires_at > now)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if spent != 1:
        raise TokenProblem(gettext("This link has already been used."), 410)
    user = token.user
    if purpose == INVITE and not user.is_active:
        user.is_active = True  # a never-activated roster account: the invitation activates it
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    user.must_change_password = False
    ended = sessions.end_all_sessions(user, "password_changed")
    audit.record(f"user.{purpose}_used", actor=user, obj=user, detail={"sessions_ended": ended})
    return user


RESET_REQUEST_LIMITS = (("reset-request-account", "3 per 15 minutes"), ("reset-request-ip", "20 per hour"))


def request_reset(email: str, ip: str | None) -> bool:
    """Send a reset link when the email belongs to an active account; False when throttled.

    The answer is the same whether or not the account exists, so the page cannot be used to
    find out who has one; asking too often is throttled per address and per computer.
    """
    from limits import parse

    from school_prevention.auth.queries import normalise_email, user_by_email
    from school_prevention.extensions import limiter

    email = normalise_email(email)
    keys = [(RESET_REQUEST_LIMITS[0], email), (RESET_REQUEST_LIMITS[1], ip or "unknown")]
    for (name, rate), value in keys:
        if not limiter.limiter.hit(parse(rate), name, value):
            return False
    user = db.session.scalars(user_by_email(email)).one_or_none()
    if user is not None and user.is_active and user.password_hash is not None:
        issue(user, RESET, actor=None)
    else:
        audit.record("user.reset_requested_unknown", ip=ip, detail={"known": user is not None})
    return True
