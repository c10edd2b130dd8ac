"""Emails and notifications are written in their RECIPIENT's language (user_account.locale; English when
unset), never in the language of whoever or whatever sent them (a Spanish-speaking staff member's referral,
a job with no language at all)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from flask_babel import force_locale
from sqlalchemy import select

from school_prevention.i18n import DEFAULT, LANGUAGES

# A title composed later, in the recipient's language: functools.partial(fn, *values) -> str.
Compose = Callable[[], str]


def language_of(code: str | None) -> str:
    """A stored locale as one of ours; English when unset or unknown."""
    return code if code in LANGUAGES else DEFAULT


@contextmanager
def in_language(code: str | None) -> Iterator[None]:
    """gettext, format_local and the filters answer in this language inside the block (needs an app context)."""
    with force_locale(language_of(code)):
        yield


def languages_of(user_ids: Iterable[int]) -> dict[int, str]:
    """Each user's language, in one query per 5,000 users."""
    from school_prevention.auth.models import User
    from school_prevention.extensions import db

    ids = sorted(set(user_ids))
    found: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        found.update(
            (uid, language_of(code))
            for uid, code in db.session.execute(
                select(User.id, User.locale).where(User.id.in_(ids[start : start + 5000]))
            )
        )
    return found


def compose_titles(rows: list[dict], languages: dict[int, str] | None = None) -> None:
    """Replace each row's composable title by its text in the row's user's language (rows grouped by
    language, so a sweep of thousands switches language a few times, not once a row)."""
    pending = [row for row in rows if callable(row.get("title"))]
    if not pending:
        return
    if languages is None:
        languages = languages_of(row["user_id"] for row in pending)
    by_language: dict[str, list[dict]] = {}
    for row in pending:
        by_language.setdefault(languages.get(row["user_id"], DEFAULT), []).append(row)
    for code, group in by_language.items():
        with in_language(code):
            for row in group:
                row["title"] = str(row["title"]())
