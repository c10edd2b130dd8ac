"""When a plan's check-ins fall: recurrence rules in local time, non-school days, conversion to UTC.

Occurrences are computed as naive local date-times in the district's zone and only then turned
into UTC, one by one: a weekly 10:00 plan stays at 10:00 local time across daylight-saving
changes (its UTC hour moves instead).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import MONTHLY, WEEKLY, rrule, rrulestr

ALLOWED_FREQS = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
TOO_OFTEN = {"HOURLY", "MINUTELY", "SECONDLY"}
# The parts a counselor may use; dateutil's own extensions (BYEASTER, ...) are not iCalendar.
RULE_PARTS = {
    "FREQ",
    "INTERVAL",
    "COUNT",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYSETPOS",
    "BYYEARDAY",
    "BYWEEKNO",
    "WKST",
}
NONZERO_PARTS = ("BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS")
MAX_OCCURRENCES = 2000  # a plan of several years at most a few a week; guards a runaway rule
MAX_INTERVAL = 52
# A custom rule must give a date this soon after its start.
FIRST_DATE_WITHIN = timedelta(days=3 * 366)
EXAMPLE = "Example: FREQ=WEEKLY;INTERVAL=2;BYDAY=TU."


class RuleError(ValueError):
    """A custom recurrence rule that cannot be used, with a message for the counselor."""


def build_rule(cadence: str, custom: str | None, starts_on: date, local_time: time):
    """The plan's recurrence as a dateutil rule over naive local date-times."""
    start = datetime.combine(starts_on, local_time)
    if cadence == "weekly":
        return rrule(WEEKLY, dtstart=start)
    if cadence == "biweekly":
        return rrule(WEEKLY, interval=2, dtstart=start)
    if cadence == "monthly":
        if starts_on.day > 28:
            # The 29th-31st: fall back to the month's last day rather than skipping short months.
            return rrule(MONTHLY, dtstart=start, bymonthday=(starts_on.day, -1), bysetpos=1)
        return rrule(MONTHLY, dtstart=start)
    if cadence == "custom":
        return parse_custom(custom or "", start)
    raise RuleError("Choose how often the check-ins happen.")


def _rule_parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for piece in text.strip(";").split(";"):
        name, sep, value = piece.partition("=")
        name = name.strip().upper()
        if not sep or not name or not value.strip():
            raise RuleError(f"This rule cannot be read: “{piece.strip()}” is not NAME=VALUE. {EXAMPLE}")
        if name in parts:
            raise RuleError(f"This rule cannot be read: {name} appears twice. {EXAMPLE}")
        parts[name] = value.strip().upper()
    return parts


def parse_custom(text: str, start: datetime):
    """An RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=MO,TH, refused when unusable."""
    text = _rrule_text(text)
    _check_parts(_rule_parts(text))
    return _usable_rule(text, start)


def _rrule_text(text: str) -> str:
    """The rule's text without an RRULE: prefix; refused when empty or more than an RRULE."""
    text = text.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:].strip()
    if not text:
        raise RuleError("Enter a rule, for example FREQ=WEEKLY;BYDAY=MO,TH.")
    if any(part in text.upper() for part in ("DTSTART", "\n", "EXDATE", "RDATE")):
        raise RuleError(
            "Enter only the RRULE part, for example FREQ=WEEKLY;BYDAY=MO,TH (start and end come from the form)."
        )
    return text


def _check_parts(parts: dict[str, str]) -> None:
    """Refuse a frequency, part or value check-in rules do not use."""
    if parts.get("FREQ") in TOO_OFTEN:
        raise RuleError("Check-ins can repeat daily at most; hourly or more often is not allowed.")
    if parts.get("FREQ") not in ALLOWED_FREQS:
        raise RuleError(f"Start with FREQ=DAILY, FREQ=WEEKLY, FREQ=MONTHLY or FREQ=YEARLY. {EXAMPLE}")
    if {"BYHOUR", "BYMINUTE", "BYSECOND"} & parts.keys():
        raise RuleError("Set the time in the Time field, not in the rule (no BYHOUR, BYMINUTE or BYSECOND).")
    if "UNTIL" in parts:
        raise RuleError("Set the end date in the Until field, not in the rule (no UNTIL).")
    unknown = sorted(parts.keys() - RULE_PARTS)
    if unknown:
        raise RuleError(f"This rule cannot be read: {', '.join(unknown)} is not a part check-in rules use. {EXAMPLE}")
    for name, most in (("INTERVAL", MAX_INTERVAL), ("COUNT", MAX_OCCURRENCES)):
        # INTERVAL=0 would make dateutil loop forever; a negative one fails deep inside it.
        if name in parts and not (parts[name].isascii() and parts[name].isdigit() and 1 <= int(parts[name]) <= most):
            raise RuleError(f"{name} must be a whole number from 1 to {most}.")
    for name in NONZERO_PARTS:
        if name in parts and any(re.fullmatch(r"[+-]?0+", v.strip()) for v in parts[name].split(",")):
            raise RuleError(f"This rule cannot be read: {name} cannot be 0. {EXAMPLE}")


def _usable_rule(text: str, start: datetime):
    """The dateutil rule, refused when dateutil cannot read it or it gives no date soon enough."""
    try:
        rule = rrulestr(text, dtstart=start)
        # A rule that never matches (BYMONTH=2;BYMONTHDAY=30) makes dateutil walk day by day to
        # the year 9999 (seconds of CPU per request). The Gregorian calendar, weekdays included,
        # repeats every 400 years, so probe the same rule started 400*k years later, just before
        # dateutil's last year: the walk is then a few years long whatever the rule.
        probe_start = start.replace(year=start.year + (9990 - start.year) // 400 * 400)
        first = rrulestr(text, dtstart=probe_start).after(probe_start, inc=True)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RuleError(f"This rule cannot be read ({exc}). {EXAMPLE}") from None
    if first is None or first > probe_start + FIRST_DATE_WITHIN:
        raise RuleError(
            "This rule gives no dates in the next three years; check its BYMONTH, BYMONTHDAY, BYDAY and BYSETPOS parts."
        )
    return rule


def is_school_day(day: date, closed: set[date]) -> bool:
    """Weekdays that are not on the non-school-day list."""
    return day.weekday() < 5 and day not in closed


def next_school_day(day: date, closed: set[date]) -> date:
    """The day itself if it is a school day, else the next one."""
    for _ in range(366):
        if is_school_day(day, closed):
            return day
        day += timedelta(days=1)
    return day


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive local date-time in zone as aware UTC.

    fold=0 reads a wall time with the offset in force before a change: a time skipped by the
    spring-forward gap (2:30) moves forward by the gap (to 3:30), and a time the fall-back hour
    repeats (1:30) is its first occurrence.
    """
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def placements(
    rule, *, first: date, last: date, rule_choice: str, closed: set[date], zone: ZoneInfo
) -> list[tuple[date, datetime]]:
    """(occurrence date, due at UTC) for occurrences between first and last (inclusive).

    An occurrence on a non-school day is moved to the next school day at the same local time,
    or skipped, as the plan chose. A move never stacks meetings: it is dropped when the school
    day it would land on is nearer the plan's next regular check-in than its own day, or already
    has one (a Monday holiday moves a weekly Monday check-in to Tuesday; a two-week break does
    not pile three check-ins onto the first days back).
    """
    if last < first:
        return []
    start = datetime.combine(first, time.min)
    end = datetime.combine(last, time.max)
    locals_ = rule.between(start, end, inc=True)[:MAX_OCCURRENCES]
    result, taken = [], set()
    for index, local in enumerate(locals_):
        day = local.date()
        if not is_school_day(day, closed):
            if rule_choice == "skip":
                continue
            day = next_school_day(day, closed)
            following = locals_[index + 1] if index + 1 < len(locals_) else rule.after(local)
            if day in taken or (following is not None and (day - local.date()) > (following.date() - day)):
                continue
        taken.add(day)
        result.append((local.date(), to_utc(datetime.combine(day, local.time()), zone)))
    return result
