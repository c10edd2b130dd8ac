"""Links that carry a secret (an invitation or password-reset token) are kept encrypted in the outbox.

The email must still go out after a crash, so the outbox row keeps what the sender needs; but
nobody who reads the database (an operator, a backup, the outbox page) may take the token from
it. The link is stored as Fernet ciphertext under SP_DATA_KEY, opened only to build the email, and
replaced by its shape without the token ("/welcome/…") once the email has been handed over.
"""

from __future__ import annotations

from typing import TypeGuard

from school_prevention import crypto

PREFIX = "enc:"


def seal(link: str) -> str:
    """The stored form of a link with a secret in it."""
    sealed = crypto.encrypt(link)
    assert sealed is not None  # a link is never empty text
    return PREFIX + sealed


def is_sealed(stored: str | None) -> TypeGuard[str]:
    """Whether a stored link is the encrypted form of a secret link."""
    return stored is not None and stored.startswith(PREFIX)


def open_link(stored: str | None) -> str | None:
    """The link to put in the email (decrypted when sealed)."""
    if not is_sealed(stored):
        return stored
    return crypto.decrypt(stored[len(PREFIX) :])


def without_secret(stored: str | None) -> str | None:
    """What is kept after sending: the path without its last segment, the token ("/welcome/…")."""
    if not is_sealed(stored):
        return stored
    path = open_link(stored) or ""
    return path.rsplit("/", 1)[0] + "/…"
