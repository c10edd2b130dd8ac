"""Account actions on the admin's pages beside create and edit (auth.services): deactivating and
reactivating, inviting, removing a second factor. For an account that holds case data, what would hand
it to someone (a reactivation, an emailed link, a second-factor removal) is proposed instead and waits
for a district user's approval (grants.services).
"""

from __future__ import annotations

from flask_babel import gettext as _

from school_prevention import audit
from school_prevention.auth import sessions, tokens
from school_prevention.auth.models import User
from school_prevention.auth.services import by_whom, last_done_by
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.grants import services as grant_services
from school_prevention.grants.models import REACTIVATE, RESET_LINK, SECOND_FACTOR


def _waiting(user: User, kind: str):
    """The account's pending request of this kind, if any."""
    return next((r for r in grant_services.pending_of(user) if r.kind == kind), None)


def _already_asked(user: User, kind: str, what: str) -> AlreadyDone | None:
    req = _waiting(user, kind)
    if req is None:
        return None
    return AlreadyDone(
        _(
            "%(what)s was already asked for by %(who)s; it waits for approval by the district. "
            "Nothing more was changed.",
            what=what,
            who=by_whom(req.proposed_by, req.proposed_at),
        ),
        next_url=f"/admin/users/{user.id}",
    )


def _ask_district(actor: User, user: User, kind: str) -> None:
    """Propose the change for a district user's approval and tell those who may decide it."""
    req = grant_services.propose(actor, user, kind)
    assert req is not None  # the caller's _already_asked found none pending, under the account's row lock
    grant_services.announce(user, [req])


def set_active(actor: User, user: User, active: bool) -> int | None:
    """Deactivate (ending every session) or reactivate an account; returns sessions ended.

    Reactivating an account that holds case data gives it back to whoever signs in with it: it is
    proposed instead (None), for a district user to approve.
    """
    if user.id == actor.id and not active:
        raise ServiceError(None, _("You cannot deactivate your own account."))
    if user.is_active == active:
        # The loader locked the account: the second of two identical requests finds it done.
        verb = "reactivated" if active else "deactivated"
        who = last_done_by(user, f"user.{verb}", default=None)
        if active:
            said = (
                _("%(name)s’s account is already active: reactivated by %(who)s. Nothing more was changed.")
                if who
                else _("%(name)s’s account is already active. Nothing more was changed.")
            )
        else:
            said = (
                _("%(name)s’s account is already deactivated: deactivated by %(who)s. Nothing more was changed.")
                if who
                else _("%(name)s’s account is already deactivated. Nothing more was changed.")
            )
        raise AlreadyDone(said % {"name": user.name, "who": who}, next_url=f"/admin/users/{user.id}")
    if active and grant_services.holds_case_access(user):
        if done := _already_asked(user, REACTIVATE, _("Reactivating %(name)s’s account", name=user.name)):
            raise done
        _ask_district(actor, user, REACTIVATE)
        return None
    user.is_active = active
    ended = 0
    if active:
        user.deactivated_at = None
    else:
        user.deactivated_at = utcnow()
        ended = sessions.end_all_sessions(user, "deactivated")
    audit.record(
        "user.reactivated" if active else "user.deactivated", actor=actor, obj=user, detail={"sessions_ended": ended}
    )
    return ended


def send_invitation(actor: User, user: User, *, seen: int | None) -> bool:
    """Email an invitation link from the admin page (tokens.invite); True when it was sent.

    For an account that holds case data the link would let its reader take the account over: the
    email is proposed instead (False) and sent when a district user approves it.
    """
    if grant_services.holds_case_access(user):
        if done := _already_asked(user, RESET_LINK, _("An invitation to %(email)s", email=user.email)):
            raise done
        _ask_district(actor, user, RESET_LINK)
        return False
    tokens.invite(user, actor=actor, seen=seen)
    return True


def reset_second_factor(actor: User, user: User) -> bool:
    """Remove the account's second sign-in factor (the person then signs in with the password
    alone); True when done now, False when it waits for the district's approval (case data)."""
    if not user.mfa_secret:
        raise AlreadyDone(
            _("%(name)s has no second sign-in factor. Nothing was changed.", name=user.name),
            next_url=f"/admin/users/{user.id}",
        )
    if grant_services.holds_case_access(user):
        if done := _already_asked(user, SECOND_FACTOR, _("Removing %(name)s’s second sign-in factor", name=user.name)):
            raise done
        _ask_district(actor, user, SECOND_FACTOR)
        return False
    user.mfa_secret = None
    ended = sessions.end_all_sessions(user, "second_factor_reset")
    audit.record("user.second_factor_reset", actor=actor, obj=user, detail={"sessions_ended": ended})
    return True
