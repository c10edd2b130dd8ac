"""The errors services raise: a refusal tied to a form field, and a change someone already made."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServiceError(Exception):
    """A request the service refuses, with the form field it concerns."""

    field: str | None
    message: str


@dataclass
class AlreadyDone(Exception):
    """The change was already made, usually by an identical request a moment earlier (a double
    click, two counselors at once): nothing more is done, and the user is told what happened and
    where to look. Answered 409 with the message (web.render_already_done)."""

    message: str
    next_url: str | None = None
