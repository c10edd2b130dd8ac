"""When a plan's check-ins fall: recurrence rules in local time, non-school days, conversion to UTC.

Occurrences are computed as naive local date-times in the district's zone and only then turned
into UTC, one by one: a weekly 10:00 plan stays at 10:00 local time across daylight-saving
changes (its UTC hour moves instead).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr

ALLOWED_FREQS = {DAILY, WEEKLY, MONTHLY, YEARLY}
MAX_OCCURRENCES = 2000  # a plan of several years at most a few a week; guards a runaway rule


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


def parse_custom(text: str, start: datetime):
    """An RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=MO,TH, refused when unusable."""
    text = text.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text:
        raise RuleError("Enter a rule, for example FREQ=WEEKLY;BYDAY=MO,TH.")
    if any(part in text.upper() for part in ("DTSTART", "\n", "EXDATE", "RDATE")):
        raise RuleError("Enter only the RRULE part, for example FREQ=WEEKLY;BYDAY=MO,TH (start and end come from the form).")
    try:
        rule = rrulestr(text, dtstart=start)
    except (ValueError, TypeError) as exc:
        raise RuleError(f"This rule cannot be read ({exc}). Example: FREQ=WEEKLY;INTERVAL=2;BYDAY=TU.") from None
    if getattr(rule, "_freq", None) not in ALLOWED_FREQS:
        raise RuleError("Check-ins can repeat daily at most; hourly or more often is not allowed.")
    if rule._byhour not in (None, (start.hour,)) or rule._byminute not in (None, (start.minute,)):
        raise RuleError("Set the time in the Time field, not in the rule (no BYHOUR or BYMINUTE).")
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
    """A naive local date-time in zone as aware UTC (a time skipped by DST moves forward by the gap)."""
    aware = local.replace(tzinfo=zone)
    # A wall time inside a spring-forward gap does not exist: normalise through UTC and back.
    roundtrip = aware.astimezone(timezone.utc).astimezone(zone)
    if roundtrip.replace(tzinfo=None) != local:
        aware = local.replace(tzinfo=zone, fold=1)
    return aware.astimezone(timezone.utc)


def placements(rule, *, first: date, last: date, rule_choice: str, closed: set[date],
               zone: ZoneInfo) -> list[tuple[date, datetime]]:
    """(occurrence date, due at UTC) for occurrences between first and last (inclusive).

    An occurrence on a non-school day is moved to the next school day at the same local time,
    or skipped, as the plan chose.
    """
    if last < first:
        return []
    start = datetime.combine(first, time.min)
    end = datetime.combine(last, time.max)
    result = []
    for local in rule.between(start, end, inc=True)[:MAX_OCCURRENCES]:
        day = local.date()
        if not is_school_day(day, closed):
            if rule_choice == "skip":
                continue
            day = next_school_day(day, closed)
        result.append((local.date(), to_utc(datetime.combine(day, local.time()), zone)))
    return result
