"""The district's figures before suppression: the report model (reports.figures) over every school, as counts per school.

Nothing here is shown to anyone: reports.district suppresses it, and every district page and
export reads the result of that.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from flask import current_app

from school_prevention.reports import figures, measures
from school_prevention.reports.coverage import counselor_fte
from school_prevention.reports.figures import Figures, gather
from school_prevention.reports.measures import Period, Scope
from school_prevention.reports.periods import ReportingPeriod, month_of, query_period


def month_key(m: tuple[int, int]) -> str:
    """A reporting month as text: 2026-11."""
    return f"{m[0]:04d}-{m[1]:02d}"


Data = Figures  # the district's figures: the one report model, for the whole district


def spans(
    period: ReportingPeriod, recent: list[ReportingPeriod], now: datetime, zone, stale_after_days: int
) -> tuple[Period, Period | None]:
    """The Periods the check-in queries read: the reporting period widened to the last three
    months when they meet, or the reporting period and the last three months apart."""
    first = query_period(now, zone, period.start, period.end, stale_after_days)
    if not recent:
        return _fixed(first), None
    r_start, r_end = recent[0].start, recent[-1].end
    if r_start <= period.end + timedelta(days=1) and period.start <= r_end + timedelta(days=1):
        both = query_period(now, zone, min(period.start, r_start), max(period.end, r_end), stale_after_days)
        return _fixed(both), None
    return _fixed(first), _fixed(query_period(now, zone, r_start, r_end, stale_after_days))


def _fixed(period: Period) -> Period:
    """Without the windows that end now: the district's figures are over fixed periods only."""
    return Period(
        now=period.now,
        start=period.start,
        end=period.end,
        zone=period.zone,
        stale_after_days=period.stale_after_days,
        rolling=False,
    )


def _arguments(period: ReportingPeriod, recent: list[ReportingPeriod], now: datetime, zone) -> tuple[Period, dict]:
    """The check-ins' Period and the other arguments of gather() for the district."""
    stale = current_app.config.get("SP_ESCALATION_DAYS", 7)
    checkins, extra = spans(period, recent, now, zone, stale)
    activity = _fixed(query_period(now, zone, period.start, period.end, stale))
    return checkins, {"district": True, "activity": activity, "more_checkins": extra}


def fetch(
    period: ReportingPeriod, recent: list[ReportingPeriod], now: datetime, zone, *, table_only: bool = False
) -> Figures:
    """The district's figures for a reporting period and the last three months that are over
    (table_only: for the table of schools alone, as the CSV export has it).

    Rows of schools outside the scope (inactive) may come back from the queries that do not join
    the school table; the report only reads the schools it lists.
    """
    checkins, options = _arguments(period, recent, now, zone)
    return gather(Scope(), checkins, **options, table_only=table_only)


def statements(
    period: ReportingPeriod, recent: list[ReportingPeriod], now: datetime, zone, *, table_only: bool = False
) -> dict:
    """The statements fetch() runs, by name (bench/coverage.py runs them bare for its floor)."""
    checkins, options = _arguments(period, recent, now, zone)
    return figures.statements(Scope(), checkins, **options, table_only=table_only)


def snapshot_counts(data: Data, names: tuple[str, ...]) -> tuple[dict[int, dict], dict[int, dict]]:
    """School id -> counts as of now (students, coverage, seats), and school id -> plain figures."""
    from school_prevention.reports.district import COVERAGE  # the column names, defined with the schema

    values = {s.id: dict.fromkeys(names, 0) for s in data.schools}
    for school_id, _, n in data.by_school_grade:
        if school_id in values:
            values[school_id]["active_students"] += n
    for dim, school_id, _, _, counts in measures.coverage_lines(data.cover):
        if dim == "total" and school_id in values:
            values[school_id].update(zip(COVERAGE, counts))
    for school_id, n in data.outside:
        if school_id in values and "flagged_outside_support" in values[school_id]:
            values[school_id]["flagged_outside_support"] = int(n)
    fte = counselor_fte(data.counselors)
    plain = {
        s.id: {"programs_running": 0, "program_seats": 0, "counselor_fte": round(fte.get(s.id, 0.0), 2)}
        for s in data.schools
    }
    for school_id, count, seats, active, waitlisted in data.programs:
        if school_id in values:
            values[school_id].update(program_enrolled=int(active or 0), program_waitlisted=int(waitlisted or 0))
            plain[school_id].update(programs_running=int(count), program_seats=int(seats or 0))
    return values, plain


def month_counts(data: Data, months: list[str]) -> dict[int, dict[str, tuple[int, int]]]:
    """School id -> reporting month (2026-11) -> check-ins (due, on time), for the months asked for."""
    wanted = set(months)
    key_of: dict[date, str] = {}  # a few dozen Mondays, for every school
    out: dict[int, dict[str, tuple[int, int]]] = {}
    for school_id, weeks in data.checkin_weeks.items():
        mine = dict.fromkeys(months, (0, 0))
        for monday, (due, on_time) in weeks.items():
            key = key_of.get(monday) or key_of.setdefault(monday, month_key(month_of(monday)))
            if key in wanted:
                old = mine[key]
                mine[key] = (old[0] + due, old[1] + on_time)
        out[school_id] = mine
    return out


def active_by_school(data: Data) -> dict[int, int]:
    """School id -> active students."""
    out: dict[int, int] = defaultdict(int)
    for school_id, _, n in data.by_school_grade:
        out[school_id] += n
    return out
