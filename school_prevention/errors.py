"""The errors services raise: a refusal tied to a form field, and a change someone already made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class ServiceError(Exception):
    """A request the service refuses, with the form field it concerns (and any further refusals found in the
    same check, so a form shows every problem at once rather than one per round)."""

    field: str | None
    message: str
    others: tuple[tuple[str | None, str], ...] = ()

    @property
    def problems(self) -> list[tuple[str | None, str]]:
        """Every (field, message) of the refusal."""
        return [(self.field, self.message), *self.others]


def refuse(problems: Sequence[tuple[str | None, str]]) -> None:
    """Raise one ServiceError carrying every problem found, if any."""
    if problems:
        (field, message), *others = problems
        raise ServiceError(field, message, tuple(others))


@dataclass
class AlreadyDone(Exception):
    """The change was already made, usually by an identical request a moment earlier (a double
    click, two counselors at once): nothing more is done, and the user is told what happened and
    where to look. Answered 409 with the message (web.render_already_done)."""

    message: str
    next_url: str | None = None
