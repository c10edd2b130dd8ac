"""The district's reporting periods: fixed, whole periods made of whole calendar weeks.

Why fixed: a figure over an arbitrary range of days can be subtracted from the same figure over a
range one day shorter, and what is left is one day's count, however small (the outside review
did exactly that). So the district chooses from a fixed list, and every period is made of the
same building blocks:

- a *week* is a calendar week, Monday to Sunday (never counted from a chosen day);
- a *reporting month* is the weeks whose Thursday falls in that calendar month (the rule ISO 8601
  uses to number weeks), so every month is four or five whole weeks and every week belongs to
  exactly one month;
- a *term* is the reporting months July to December, or January to June, of a school year, and a
  *school year* is the reporting months July to June.

A period is offered once it is over and its last check-ins' on-time deadline has passed, so its
figures no longer change with the day they are asked for. Per-school figures are worked out per
month; a term or a year only adds its months up (and shows a sum only when every month's figure
is shown), so choosing a longer period can never give away what a month withholds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import gettext

from school_prevention.i18n import format_local
from school_prevention.reports.measures import GRACE, Period

EARLIEST_YEAR = 2000  # no record in the app is older (reporting months from January 2000)
LATEST_YEAR = 9998  # a later month's end would overflow Python's dates


class FilterError(ValueError):
    """A filter of a district report that cannot be used: the field it concerns and a message for the user."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


Month = tuple[int, int]  # (year, month) of a reporting month


def month_start(year: int, month: int) -> date:
    """The Monday that starts a reporting month: of the week holding the month's first Thursday."""
    first = date(year, month, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return thursday - timedelta(days=3)


def _next(m: Month) -> Month:
    return (m[0] + 1, 1) if m[1] == 12 else (m[0], m[1] + 1)


def _previous(m: Month) -> Month:
    return (m[0] - 1, 12) if m[1] == 1 else (m[0], m[1] - 1)


def month_bounds(m: Month) -> tuple[date, date]:
    """First (Monday) and last (Sunday) day of a reporting month."""
    return month_start(*m), month_start(*_next(m)) - timedelta(days=1)


def month_of(day: date) -> Month:
    """The reporting month a day belongs to: the month of its week's Thursday."""
    thursday = day - timedelta(days=day.weekday()) + timedelta(days=3)
    return thursday.year, thursday.month


def _short(day: date) -> str:
    return format_local(day, "%b %-d")


@dataclass(frozen=True)
class ReportingPeriod:
    """A month, a term or a school year: whole reporting months, so whole calendar weeks."""

    kind: str  # month, term, year
    key: str  # 2026-11 (a month), 2026-27-t1 and 2026-27-t2 (terms), 2026-27-sy (a school year)
    label: str
    months: tuple[Month, ...]

    @property
    def start(self) -> date:
        return month_bounds(self.months[0])[0]

    @property
    def end(self) -> date:
        return month_bounds(self.months[-1])[1]

    @property
    def span(self) -> str:
        """Its first and last day, for people: 'Nov 2 – Nov 29, 2026'."""
        return (
            f"{_short(self.start)}, {self.start.year} – {_short(self.end)}, {self.end.year}"
            if self.start.year != self.end.year
            else f"{_short(self.start)} – {_short(self.end)}, {self.end.year}"
        )

    @property
    def calendar(self) -> tuple[date, date]:
        """The calendar dates it stands for: first day of its first month to last day of its last."""
        (y1, m1), last = self.months[0], _next(self.months[-1])
        return date(y1, m1, 1), date(last[0], last[1], 1) - timedelta(days=1)

    def is_over(self, now: datetime, zone) -> bool:
        """Over, and the on-time deadline of its last check-ins passed: its figures are final."""
        return query_period(now, zone, self.start, self.end).midnight(self.end + timedelta(days=1)) <= now - GRACE

    def weeks(self) -> list[tuple[date, date]]:
        """Its calendar weeks, Monday to Sunday."""
        return [
            (self.start + timedelta(days=7 * i), self.start + timedelta(days=7 * i + 6))
            for i in range(((self.end - self.start).days + 1) // 7)
        ]


def month(year: int, m: int) -> ReportingPeriod:
    """One reporting month."""
    return ReportingPeriod("month", f"{year:04d}-{m:02d}", format_local(date(year, m, 1), "%B %Y"), ((year, m),))


def school_year_of(m: Month) -> int:
    """The year a school year starts in (July 1), for a reporting month."""
    return m[0] if m[1] >= 7 else m[0] - 1


def _sy(start_year: int) -> str:
    return f"{start_year}–{(start_year + 1) % 100:02d}"


def term(start_year: int, number: int) -> ReportingPeriod:
    """The first (July to December) or second (January to June) term of a school year."""
    if number == 1:
        months = tuple((start_year, m) for m in range(7, 13))
        label = gettext("First term %(years)s (July–December)", years=_sy(start_year))
    else:
        months = tuple((start_year + 1, m) for m in range(1, 7))
        label = gettext("Second term %(years)s (January–June)", years=_sy(start_year))
    return ReportingPeriod("term", f"{start_year}-{(start_year + 1) % 100:02d}-t{number}", label, months)


def school_year(start_year: int) -> ReportingPeriod:
    """A school year: the reporting months July to June."""
    months = tuple((start_year, m) for m in range(7, 13)) + tuple((start_year + 1, m) for m in range(1, 7))
    return ReportingPeriod(
        "year",
        f"{start_year}-{(start_year + 1) % 100:02d}-sy",
        gettext("School year %(years)s", years=_sy(start_year)),
        months,
    )


_MONTH_KEY = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR_KEY = re.compile(r"^(\d{4})-(\d{2})-(t1|t2|sy)$")


def parse(key: str) -> ReportingPeriod | None:
    """The period a key names (2026-11, 2026-27-t1, 2026-27-sy), or None when it names none."""
    key = (key or "").strip()
    found = _MONTH_KEY.match(key)
    if found and 1 <= int(found[2]) <= 12 and EARLIEST_YEAR <= int(found[1]) <= LATEST_YEAR:
        return month(int(found[1]), int(found[2]))
    found = _YEAR_KEY.match(key)
    if found and int(found[2]) == (int(found[1]) + 1) % 100 and EARLIEST_YEAR <= int(found[1]) <= LATEST_YEAR:
        start_year = int(found[1])
        return school_year(start_year) if found[3] == "sy" else term(start_year, int(found[3][1]))
    return None


def query_period(now: datetime, zone, start: date, end: date, stale_after_days: int = 7) -> Period:
    """The measures' Period for a range of days (Monday to Sunday for a reporting period)."""
    return Period(now=now, start=start, end=end, zone=zone, stale_after_days=stale_after_days)


def last_complete_months(now: datetime, zone, count: int) -> list[ReportingPeriod]:
    """The last `count` reporting months that are over, oldest first."""
    m = month_of(now.astimezone(zone).date())
    out: list[ReportingPeriod] = []
    while len(out) < count and m[0] >= EARLIEST_YEAR:
        candidate = month(*m)
        if candidate.is_over(now, zone):
            out.append(candidate)
        m = _previous(m)
    return out[::-1]


def offered(now: datetime, zone) -> list[ReportingPeriod]:
    """The periods the district page lists: this school year's and last year's months, terms and
    years that are over, newest first within each kind. Older ones can still be asked for by key."""
    today = now.astimezone(zone).date()
    current = school_year_of(month_of(today))
    out: list[ReportingPeriod] = []
    for start_year in (current, current - 1):
        candidates = [month(y, m) for y, m in reversed(school_year(start_year).months)] + [
            term(start_year, 2),
            term(start_year, 1),
            school_year(start_year),
        ]
        out += [p for p in candidates if p.start.year >= EARLIEST_YEAR and p.is_over(now, zone)]
    order = {"month": 0, "term": 1, "year": 2}
    return sorted(out, key=lambda p: (order[p.kind], -p.start.toordinal()))


def choose(key: str | None, start: date | None, end: date | None, now: datetime, zone) -> ReportingPeriod:
    """The period asked for: by key, by its first and last day, or by default the last month that is over.

    Dates must be a whole period: its calendar dates (2026-10-01 to 2026-10-31 is October 2026)
    or its weeks (2026-09-28 to 2026-11-01). Anything else is refused, with what to ask instead.
    """
    if key:
        period = parse(key)
        if period is None:
            raise FilterError("period", "Choose a reporting period from the list.")
    elif start or end:
        period = _from_dates(start, end)
    else:
        last = last_complete_months(now, zone, 1)
        if not last:
            raise FilterError("period", "No reporting period is over yet.")
        return last[0]
    if not period.is_over(now, zone):
        raise FilterError(
            "period",
            f"{period.label} is not over yet: its figures can be shown from "
            f"{period.end + timedelta(days=2):%B %-d, %Y}.",
        )
    return period


def _from_dates(start: date | None, end: date | None) -> ReportingPeriod:
    example = "for example from 2026-10-01 to 2026-10-31 for October 2026, 2026-07-01 to 2026-12-31 for a term"
    if start is None or end is None:
        raise FilterError(
            "start" if start is None else "end",
            f"Give both the first and the last day of a whole month, term or school year ({example}).",
        )
    if not EARLIEST_YEAR <= start.year <= LATEST_YEAR:
        raise FilterError("start", f"Choose a period from January {EARLIEST_YEAR} on.")
    months = {month_of(start), (start.year, start.month)}
    candidates = [month(*m) for m in months]
    for sy in {school_year_of(m) for m in months}:
        candidates += [term(sy, 1), term(sy, 2), school_year(sy)]
    for period in candidates:
        if (start, end) in (period.calendar, (period.start, period.end)) and period.start.year >= EARLIEST_YEAR:
            return period
    raise FilterError(
        "start",
        f"Figures are published for whole reporting periods only: a month, a term (July to "
        f"December, January to June) or a school year, not {start:%Y-%m-%d} to "
        f"{end:%Y-%m-%d} ({example}).",
    )
