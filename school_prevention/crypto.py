"""Encryption at rest for restricted narrative text (flag notes, referral observations, ...).

SP_DATA_KEY holds one or more Fernet keys separated by commas. The first encrypts; all of them
decrypt, so a key can be rotated: put the new key first, run `flask --app app crypto rotate`
(re-encrypts every stored value with it), then drop the old key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

# (model, attribute) pairs holding ciphertext; features register theirs for `crypto rotate`.
ENCRYPTED_FIELDS: list[tuple[type, str]] = []


class UnreadableNote(Exception):
    """Stored ciphertext that none of the configured keys can open."""


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in str(current_app.config["SP_DATA_KEY"]).split(",") if k.strip()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


def encrypt(text: str | None) -> str | None:
    """Ciphertext for text (None and empty text stay None)."""
    if not text:
        return None
    return _fernet().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str | None) -> str | None:
    """The text behind a ciphertext; UnreadableNote when no configured key opens it."""
    if not token:
        return None
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise UnreadableNote("this note was encrypted with a key that is not configured") from None


def encrypt_bytes(data: bytes) -> str:
    """Ciphertext for a file's bytes (a made export), as text."""
    return _fernet().encrypt(data).decode("ascii")


def decrypt_bytes(token: str) -> bytes:
    """The bytes behind encrypt_bytes' ciphertext; UnreadableNote when no configured key opens it."""
    try:
        return _fernet().decrypt(token.encode("ascii"))
    except InvalidToken:
        raise UnreadableNote("this file was encrypted with a key that is not configured") from None


def decrypt_for_display(token: str | None) -> str | None:
    """Like decrypt, but a note no configured key can open says so instead of failing the page."""
    try:
        return decrypt(token)
    except UnreadableNote:
        return "[This text cannot be read: it was encrypted with a key that is no longer configured.]"


def rotate(token: str | None) -> str | None:
    """The same text re-encrypted with the first (current) key."""
    if not token:
        return token
    return _fernet().rotate(token.encode("ascii")).decode("ascii")


def register(model: type, attribute: str) -> None:
    """Declare that model.attribute holds ciphertext (for key rotation)."""
    ENCRYPTED_FIELDS.append((model, attribute))
