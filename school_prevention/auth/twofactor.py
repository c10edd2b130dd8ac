"""The second sign-in factor: authenticator-app codes (TOTP), one-time recovery codes, who must have one."""

from __future__ import annotations

import hmac
import math
import secrets
import time
from datetime import datetime
from typing import Any, cast

import pyotp
import segno
from flask import current_app
from flask_babel import gettext
from limits import parse
from markupsafe import Markup
from sqlalchemy import CursorResult, delete, or_, select, update

from school_prevention import audit, crypto
from school_prevention.auth.models import RecoveryCode, User
from school_prevention.auth.passwords import hash_password, verify_password
from school_prevention.auth.services import SignInThrottled
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db, limiter
from school_prevention.roles import Role

# Roles that read case data or decide who may (DESIGN.md): their accounts need a second factor.
REQUIRED_ROLES = frozenset({Role.COUNSELOR, Role.PRINCIPAL, Role.DISTRICT})
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: the codes are read off paper.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def is_required(user: User) -> bool:
    """Whether the account must use a second factor: it sees case data or holds a case-data grant."""
    if not current_app.config.get("SP_SECOND_FACTOR_REQUIRED", True):
        return False
    return user.role_enum in REQUIRED_ROLES or bool(user.can_export_student_level) or bool(user.is_privacy_officer)


def is_enrolled(user: User) -> bool:
    """Whether the person has set up an authenticator app."""
    return bool(user.mfa_secret)


def new_secret() -> str:
    """A fresh TOTP secret (160 bits, base32), not yet saved."""
    return pyotp.random_base32(32)


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// link an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=current_app.config["SP_TOTP_ISSUER"])


def qr_svg(uri: str) -> Markup:
    """The QR code of uri as inline SVG, drawn on the server (no script, no image request)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff", omitsize=False)
    return Markup(svg)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (of now, or one either side for clock drift) whose code is `code`."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _clean(code: str | None) -> str:
    return "".join((code or "").split()).replace("-", "").lower()


# --- throttling, like passwords (auth.services.check_not_throttled) ------------------------------


def _failure_keys(user: User, ip: str | None) -> list[tuple[str, str]]:
    return [("second-factor-fail-account", str(user.id)), ("second-factor-fail-ip", ip or "unknown")]


def check_not_throttled(user: User, ip: str | None) -> None:
    """Raise SignInThrottled when this account or address has given too many wrong codes lately."""
    limit = parse(current_app.config["SECOND_FACTOR_FAILURE_LIMIT"])
    for key in _failure_keys(user, ip):
        if not limiter.limiter.test(limit, *key):
            reset_at = limiter.limiter.get_window_stats(limit, *key).reset_time
            raise SignInThrottled(max(1, math.ceil(reset_at - time.time())))


def _count_failure(user: User, ip: str | None) -> None:
    limit = parse(current_app.config["SECOND_FACTOR_FAILURE_LIMIT"])
    for key in _failure_keys(user, ip):
        limiter.limiter.hit(limit, *key)


# --- checking a code at sign-in -----------------------------------------------------------------


def verify(user: User, code: str | None, *, ip: str | None, now: datetime | None = None) -> str | None:
    """ "totp" or "recovery" when code is a good, unused second factor of user; None otherwise.

    Raises SignInThrottled before checking anything when wrong codes are over the limit. Each
    code is spent by a conditional update, so two requests with the same code make one sign-in.
    """
    check_not_throttled(user, ip)
    now = now or utcnow()
    cleaned = _clean(code)
    kind = None
    if is_enrolled(user) and cleaned.isdigit() and len(cleaned) == 6:
        try:
            secret = crypto.decrypt(user.mfa_secret)
        except crypto.UnreadableNote:  # stored under a data key no longer configured
            raise ServiceError(
                "code",
                gettext(
                    "Your authenticator app's set-up can no longer be read here. Use "
                    "a recovery code, or ask your administrator to reset your second "
                    "sign-in step."
                ),
            ) from None
        assert secret is not None  # is_enrolled: a stored secret, and decrypt keeps non-empty text
        step = _matching_step(secret, cleaned, now)
        if step is not None and _spend_step(user, step):
            kind = "totp"
    elif is_enrolled(user) and len(cleaned) == 12 and _spend_recovery_code(user, cleaned, now):
        kind = "recovery"
    if kind is None:
        _count_failure(user, ip)
        audit.record("auth.second_factor_failed", actor=user, ip=ip)
        return None
    audit.record("auth.second_factor_used", actor=user, ip=ip, detail={"kind": kind})
    return kind


def _spend_step(user: User, step: int) -> bool:
    """Record step as used unless it (or a later one) already was: a code works once."""
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.mfa_last_step.is_(None), User.mfa_last_step < step))
        .values(mfa_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def _spend_recovery_code(user: User, cleaned: str, now: datetime) -> bool:
    unused = db.session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    for row in unused:
        if verify_password(row.code_hash, cleaned):
            result = db.session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            return cast(CursorResult[Any], result).rowcount == 1
    return False


def recovery_codes_left(user: User) -> int:
    """How many unused recovery codes the person has."""
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )


# --- enrolment ----------------------------------------------------------------------------------


def enrol(user: User, secret: str, code: str | None, *, ip: str | None, now: datetime | None = None) -> list[str]:
    """Save the authenticator app once the person typed a code it shows; returns new recovery codes
    (shown once, stored hashed). A second enrolment racing the first finds it done (AlreadyDone)."""
    check_not_throttled(user, ip)
    now = now or utcnow()
    cleaned = _clean(code)
    step = _matching_step(secret, cleaned, now) if cleaned.isdigit() and len(cleaned) == 6 else None
    if step is None:
        _count_failure(user, ip)
        raise ServiceError(
            "code",
            gettext(
                "That code does not match. Type the six digits your app shows now "
                "(check that your phone's clock is right)."
            ),
        )
    saved = cast(
        CursorResult[Any],
        db.session.execute(
            update(User)
            .where(User.id == user.id, User.mfa_secret.is_(None))
            .values(mfa_secret=crypto.encrypt(secret), mfa_enrolled_at=now, mfa_last_step=step)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if saved != 1:
        raise AlreadyDone(
            gettext("Your authenticator app is already set up. Sign in with a code from it."), next_url="/login"
        )
    db.session.refresh(user)
    codes = _new_recovery_codes(user, now)
    audit.record("user.second_factor_enrolled", actor=user, obj=user, ip=ip)
    return codes


def renew_recovery_codes(user: User, code: str | None, *, ip: str | None) -> list[str]:
    """New recovery codes (the old ones stop working), after a code from the app or a recovery code."""
    if not verify(user, code, ip=ip):
        raise ServiceError("code", gettext("That code does not match. Type the six digits your app shows now."))
    codes = _new_recovery_codes(user, utcnow())
    audit.record("user.recovery_codes_renewed", actor=user, obj=user, ip=ip)
    return codes


def _new_recovery_codes(user: User, now: datetime) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    raw = ["".join(secrets.choice(_ALPHABET) for _ in range(12)) for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=hash_password(c), created_at=now) for c in raw)
    db.session.flush()
    return [f"{c[:4]}-{c[4:8]}-{c[8:]}" for c in raw]
