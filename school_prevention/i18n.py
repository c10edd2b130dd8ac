"""Languages: English and Spanish (Flask-Babel), the locale of each request, and dates and numbers in it.

The locale is the person's chosen language (user_account.locale), else the browser's best match
among the languages we have, else English. Times stay in the district's zone whatever the language.
English output keeps the formats the pages always had (strftime), so nothing changes for English readers.
"""

from __future__ import annotations

import functools
import logging
import os
from datetime import date, datetime, time
from pathlib import Path

from babel import Locale
from babel.dates import format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from flask import Flask, current_app, has_app_context, has_request_context, request
from flask_babel import get_locale, pgettext
from flask_login import current_user

from school_prevention.extensions import babel

# Code -> the language's own name: a picker names each language in itself.
LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT = "en"


def N_(message: str) -> str:
    """Mark a string for the catalogue where it is defined; it is translated where it is shown."""
    return message


# Shown through `_()` in templates (the header's role tag); listed here so extraction finds them.
ROLE_NAMES = [N_("counselor"), N_("principal"), N_("staff"), N_("district"), N_("admin")]
# School levels as the schools table shows them (home/_schools.html); "High" here is a school, not a severity.
_LEVELS = {
    "elementary": lambda: pgettext("school level", "Elementary"),
    "middle": lambda: pgettext("school level", "Middle"),
    "high": lambda: pgettext("school level", "High"),
    "other": lambda: pgettext("school level", "Other"),
}


def school_level(level: str) -> str:
    """A school's level in the page's language ("Elementary", "Primaria")."""
    name = _LEVELS.get(level)
    return name() if name else level.capitalize()


TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"

# The strftime formats the pages use, as CLDR skeletons: Babel orders and names the parts for the
# locale ("Dec 3, 2026 5:40 PM" in English is "3 dic 2026, 17:40" in Spanish).
_SKELETONS = {
    "%b %-d, %Y %-I:%M %p": "yMMMdjmm",
    "%b %-d, %Y": "yMMMd",
    "%b %-d": "MMMd",
    "%a %b %-d": "MMMEd",
    "%a %b %-d, %Y": "yMMMEd",
    "%A, %B %-d": "MMMMEEEEd",
    "%A, %B %-d, %Y": "yMMMMEEEEd",
    "%a %b %-d %-I:%M %p": "MMMEdjmm",
    "%a %b %-d, %-I:%M %p": "MMMEdjmm",
    "%A %b %-d, %Y, %-I:%M %p": "yMMMEdjmm",
    "%a %b %-d, %Y, %-I:%M %p": "yMMMEdjmm",
    "%-I:%M %p": "jmm",
    "%B %Y": "yMMMM",
}


def select_locale() -> str:
    """The chosen language of the signed-in person, else the browser's best match, else English."""
    if not has_request_context():
        return DEFAULT
    chosen = getattr(current_user, "locale", None) if current_user and current_user.is_authenticated else None
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT) or DEFAULT


def select_timezone() -> str:
    """Times are the district's whatever the language (SP_TIMEZONE)."""
    return current_app.config["SP_TIMEZONE"]


def language() -> str:
    """The current language code: the request's, or the recipient's an email is forced to (force_locale); "en"
    otherwise (a job with no forced language, or no app at all)."""
    if not has_app_context():
        return DEFAULT
    locale = get_locale()
    return _code(locale) if locale is not None else DEFAULT


@functools.lru_cache(maxsize=16)
def _code(locale: Locale) -> str:
    """str(locale), which Babel works out anew each time (a figure-heavy page asks thousands of times)."""
    return str(locale)


def is_english() -> bool:
    """True when the page is in English: its dates and figures keep their historic formats."""
    return language() == "en"


def format_local(value: datetime | date | time, fmt: str) -> str:
    """A date, a time of day or a datetime (already in the district's zone) in the page's language."""
    if is_english():
        return value.strftime(fmt)
    if isinstance(value, time):
        return format_time(value, "short", locale=language())
    skeleton = _SKELETONS.get(fmt, "yMMMdjmm" if isinstance(value, datetime) else "yMMMd")
    day_part = "".join(c for c in skeleton if c not in "jm")
    locale = Locale.parse(language())
    day = format_skeleton(day_part, value, locale=locale) if day_part else ""
    if not isinstance(value, datetime) or "j" not in skeleton:
        return day
    clock = format_time(value, "short", locale=locale)
    if not day:
        return clock
    # The locale's way of joining a date and a time ("{1}, {0}" in Spanish and English).
    return str(locale.datetime_formats["medium"]).replace("{1}", day).replace("{0}", clock)


def localdate(value: date | None, fmt: str = "%b %-d, %Y") -> str:
    """A calendar date in the page's language (template filter)."""
    if value is None:
        return "—"
    return format_local(value, fmt)


def number(value: float, decimals: int = 0) -> str:
    """A figure with the locale's grouping and decimal marks ("1,234.5" / "1234,5")."""
    lang = language()
    if lang == "en":
        return f"{value:,.{decimals}f}"
    return _number(value, decimals, lang)


@functools.lru_cache(maxsize=4096)
def _number(value: float, decimals: int, lang: str) -> str:
    """number() in another language than English: Babel's formatting, kept for the figures a page
    repeats (the district's table formats some 15,000 of them, most small counts)."""
    return format_decimal(value, format="#,##0" + ("." + "0" * decimals if decimals else ""), locale=lang)


def percent_text(share: float) -> str:
    """A share as a whole percentage ("45%" / "45 %")."""
    if is_english():
        return f"{share:.0%}"
    return format_percent(share, locale=language())


def compile_catalogues(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile each messages.po into messages.mo when the .mo is missing or older (app start, bin/_venv.sh).

    The binary .mo files are built, not committed: the .po is the one source a translator edits,
    and a stale binary could never disagree with it.
    """
    written = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        tmp = mo_path.with_name(f"{mo_path.name}.{os.getpid()}.tmp")
        try:
            with po_path.open("rb") as source:
                catalog = read_po(source)
            with tmp.open("wb") as target:
                write_mo(target, catalog)
            tmp.replace(mo_path)  # atomic: two workers starting together never read half a file
        except OSError as exc:  # a read-only install: run `bin/i18n compile` when building it instead
            logging.getLogger(__name__).warning("could not compile %s: %s", po_path, exc)
            continue
        written.append(mo_path)
    return written


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with our selectors; compile the catalogues if they are not yet."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config.get("SP_TIMEZONE", "UTC"))
    compile_catalogues()
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.add_template_filter(localdate, "localdate")
    app.add_template_filter(translate, "tr")
    app.add_template_filter(school_level, "school_level")
    app.add_template_global(language, "current_language")
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES  # a table, not a function: add_template_global wants one


def translate(message):
    """gettext for a message that may be ours (in the catalogue) or not (passes unchanged); never the
    catalogue's header, which is what gettext("") answers."""
    from flask_babel import gettext

    return gettext(str(message)) if message else message
