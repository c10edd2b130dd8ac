"""Signing in through the real forms when the account needs a second factor (tests that are about
something else: passwords, sessions, cookies)."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import update

from school_prevention import crypto
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol(user: User, secret: str = SECRET) -> None:
    """Give the account an authenticator app with a known secret (flushed, not committed)."""
    user.mfa_secret = crypto.encrypt(secret)
    user.mfa_enrolled_at = utcnow()
    db.session.flush()


def code_now(secret: str = SECRET) -> str:
    """The code an authenticator app with this secret shows now."""
    return pyotp.TOTP(secret).now()


def complete_second_factor(client, response, user: User, post=None):
    """After the password step's response: type a code (setting the app up first if asked); the
    final response. The replay guard is cleared first so one test can sign in many times."""
    post = post or client.post
    location = response.headers.get("Location", "") if response.status_code == 302 else ""
    if location == "/login/two-factor":
        db.session.execute(update(User).where(User.id == user.id).values(mfa_last_step=None))
        db.session.commit()
        return post("/login/two-factor", data={"code": code_now()})
    if location == "/login/two-factor/setup":
        page = client.get(location).get_data(as_text=True)
        secret = re.search(r'<code id="setup-key">([^<]+)</code>', page).group(1).replace(" ", "")
        return post(location, data={"code": code_now(secret)})
    return response
