"""Password hashing (argon2id) and the password policy: length and guessability, no composition rules."""

from __future__ import annotations

import contextlib
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from flask_babel import gettext
from zxcvbn import zxcvbn

from school_prevention.i18n import is_english


@lru_cache(maxsize=4)
def _hasher_for(params: tuple) -> tuple[PasswordHasher, str]:
    hasher = PasswordHasher(**dict(params))
    # A hash to verify against when the account does not exist, so a wrong email takes as
    # long as a wrong password and sign-in does not reveal which addresses have accounts.
    return hasher, hasher.hash("not-a-real-password-for-timing")


def _hasher() -> tuple[PasswordHasher, str]:
    """argon2id with the library's recommended parameters (tests may configure cheaper ones)."""
    params = current_app.config.get("PASSWORD_HASH_PARAMS") or {}
    return _hasher_for(tuple(sorted(params.items())))


# zxcvbn scores at most 72 characters (4.5 raises ValueError past that, a 500): score the first 72,
# which is plenty to tell a guessable password; longer ones up to PASSWORD_MAX_LENGTH are allowed.
_ZXCVBN_MAX = 72
MIN_SCORE = 3


def hash_password(password: str) -> str:
    """An argon2id hash of password."""
    return _hasher()[0].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when password matches the hash; constant work when there is no hash."""
    hasher, dummy = _hasher()
    if not password_hash:
        with contextlib.suppress(VerificationError):
            hasher.verify(dummy, password)
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher()[0].check_needs_rehash(password_hash)


def password_problems(password: str, user_inputs: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Why a new password is refused, as messages for the person choosing it ([] if fine)."""
    min_len = current_app.config["PASSWORD_MIN_LENGTH"]
    max_len = current_app.config["PASSWORD_MAX_LENGTH"]
    if len(password) < min_len:
        return [
            gettext(
                "Use at least %(num)s characters. A few unrelated words make a strong, memorable password.", num=min_len
            )
        ]
    if len(password) > max_len:
        return [gettext("Use at most %(num)s characters.", num=max_len)]
    inputs = [part for value in user_inputs if value for part in _split_input(value)]
    if _mostly_personal(password, inputs):
        return [gettext("Do not build your password from your name or email address: it is easy to guess.")]
    result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=inputs)
    if result["score"] >= MIN_SCORE:
        return []
    feedback = result.get("feedback") or {}
    message = gettext("This password is too common or easy to guess.")
    if not is_english():
        return [message]  # zxcvbn's warnings and hints are English only
    if feedback.get("warning"):
        message = f"{feedback['warning'].rstrip('.')}: this password is too easy to guess."
    hints = " ".join(feedback.get("suggestions") or [])
    return [f"{message} {hints}".strip()]


def _mostly_personal(password: str, inputs: list[str]) -> bool:
    """True when little is left once the person's own name and email words are taken out."""
    rest = password.lower()
    for word in sorted({w.lower() for w in inputs}, key=len, reverse=True):
        rest = rest.replace(word, "")
    return len(rest) < 8 and len(rest) < len(password)


def _split_input(value: str) -> list[str]:
    """Words of a name or email the password should not be built from."""
    words = [value]
    for sep in ("@", ".", " ", "-", "_"):
        words = [p for w in words for p in w.split(sep)]
    return [value] + [w for w in words if len(w) >= 3]
