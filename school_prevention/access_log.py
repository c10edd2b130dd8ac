"""gunicorn's logger with the secret tokens of URL paths replaced by '…' before anything is written.

Invitation, password-reset and calendar-feed links carry their secret in the path
(`/welcome/<token>`, `/password/reset/<token>`, `/calendar/<token>.ics`). Anyone who can read the
logs (an operator, a log shipper, a support ticket with a pasted excerpt) could otherwise set a
new user's password, take over an account, or read a counselor's check-in calendar. The request
line, the path and the Referer (a page opened from such a link sends it to the next page) are all
scrubbed, whatever the access log format names; so are messages of the error log and Flask's own
"Exception on /welcome/…" lines. Used by gunicorn.conf.py (`logger_class`).
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger, SafeAtoms

# A slash may arrive percent-encoded in the raw request line (%2F): the app would still route it.
_SLASH = r"(?:/|%2[fF])"
TOKEN_IN_PATH = re.compile(
    rf"(?P<prefix>{_SLASH}(?:welcome|password{_SLASH}reset|calendar){_SLASH})"
    r"[^/?#\s\"]+?(?P<suffix>\.ics)?(?=[/?#\s\"]|$)",
    re.IGNORECASE,
)
HIDDEN = "…"


def scrub(text: str) -> str:
    """The text with every token segment of a link path replaced by '…' (the .ics suffix kept)."""
    if "/" not in text and "%" not in text:
        return text
    return TOKEN_IN_PATH.sub(lambda m: f"{m['prefix']}{HIDDEN}{m['suffix'] or ''}", text)


class _ScrubbedAtoms(SafeAtoms):
    """Access-log values, scrubbed as the format reads them (only the atoms a line uses cost anything)."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        return scrub(value) if isinstance(value, str) else value


class ScrubTokens(logging.Filter):
    """A log record whose message names a token link is rewritten without the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


class ScrubbingLogger(Logger):
    """gunicorn's Logger whose access and error lines never carry a link's token."""

    atoms_wrapper_class = _ScrubbedAtoms

    def setup(self, cfg) -> None:
        super().setup(cfg)
        from flask.logging import default_handler  # where Flask writes "Exception on <path>"

        for handler in [*self.error_log.handlers, default_handler]:
            if not any(isinstance(f, ScrubTokens) for f in handler.filters):
                handler.addFilter(ScrubTokens())
