"""The steps of signing in, for the views: after the password or the provider, the second factor
(when the account needs one), then the server-side session."""

from __future__ import annotations

import time

from flask import current_app, flash, redirect, request, session, url_for
from flask_babel import gettext
from flask_login import login_user

from school_prevention.auth import sessions, twofactor
from school_prevention.auth.models import User
from school_prevention.extensions import db

# Between the first and the second factor the browser holds only this: an account id, how the
# first factor was given, when, and where to go next. Nobody is signed in yet.
PENDING = "sp_pending_signin"
ENROL_SECRET = "sp_enrol_secret"


def after_first_factor(user: User, method: str, next_url: str | None, *, provider_mfa: bool = False):
    """The response once the password (or the provider) checked out: a second factor, or signed in."""
    if provider_mfa:
        return start(user, f"{method}+provider_mfa", next_url)
    if twofactor.is_enrolled(user) or twofactor.is_required(user):
        session.clear()  # nothing from before survives (no session fixation)
        session[PENDING] = {"uid": user.id, "method": method, "since": int(time.time()), "next": next_url}
        if twofactor.is_enrolled(user):
            return redirect(url_for("auth.second_factor"))
        return redirect(url_for("auth.second_factor_setup"))
    return start(user, method, next_url)


def pending() -> tuple[User, dict] | None:
    """The account waiting for its second factor in this browser, or None (none, expired, deactivated)."""
    data = session.get(PENDING)
    if not isinstance(data, dict) or "uid" not in data:
        return None
    timeout = current_app.config["SECOND_FACTOR_PENDING_TIMEOUT"].total_seconds()
    if time.time() - float(data.get("since", 0)) > timeout:
        session.pop(PENDING, None)
        return None
    user = db.session.get(User, int(data["uid"]))
    if user is None or not user.is_active:
        session.pop(PENDING, None)
        return None
    return user, data


def start(user: User, method: str, next_url: str | None):
    """Start the server-side session and send the person on."""
    session.clear()  # a fresh session: nothing from before sign-in survives
    session["sid"] = sessions.start_session(
        user, ip=request.remote_addr, user_agent=request.user_agent.string, method=method
    )
    session.permanent = True
    login_user(user)
    if user.must_change_password:
        flash(gettext("Please choose your own password before you continue."), "info")
        return redirect(url_for("account.password"))
    return redirect(next_url or url_for("home.index"))
