"""One school's coverage report (principals and counselors see names), and the pieces shared with the district's."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import select

from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory
from school_prevention.permissions import StudentScope
from school_prevention.reports import measures
from school_prevention.reports.columns import (  # noqa: F401 (NA and share: imported from here too)
    COVERAGE,
    NA,
    TREND,
    complete,
    share,
    week_line,
)
from school_prevention.reports.figures import gather
from school_prevention.reports.measures import Period, Scope
from school_prevention.reports.report import DIMENSIONS, Report, breakdown_lines
from school_prevention.schools.models import School
from school_prevention.students.models import display_name, grade_label
from school_prevention.timezones import district_zone

RECOMMENDED_CASELOAD = 250  # students per school counselor (ASCA's recommendation)
MAX_PERIOD_DAYS = 366
DEFAULT_WEEKS = 12


def make_period(
    now: datetime, start: date | None = None, end: date | None = None, weeks: int = DEFAULT_WEEKS
) -> Period:
    """A Period in the district's zone; by default the last `weeks` calendar weeks (Monday to
    Sunday), this one included, up to today."""
    zone = district_zone()
    today = now.astimezone(zone).date()
    end = end or today
    start = start or end - timedelta(days=end.weekday() + 7 * (weeks - 1))
    return Period(
        now=now, start=start, end=end, zone=zone, stale_after_days=current_app.config.get("SP_ESCALATION_DAYS", 7)
    )


# No record in the app is older; earlier dates (year 1, say) would overflow the week arithmetic.
EARLIEST = date(2000, 1, 1)


class PeriodError(ValueError):
    """A date range that cannot be used, with the field it concerns and a message for the user."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def build_period(start: date | None, end: date | None, now=None) -> Period:
    """The period of a district report: by default the last 12 weeks; at most a year, not in the future."""
    now = now or utcnow()
    today = now.astimezone(district_zone()).date()
    end = end or today
    if end < EARLIEST:
        raise PeriodError("end", f"Choose dates from {EARLIEST:%B %-d, %Y} on.")
    start = start or end - timedelta(days=7 * DEFAULT_WEEKS - 1)
    if start < EARLIEST:
        raise PeriodError("start", f"Choose dates from {EARLIEST:%B %-d, %Y} on.")
    if end > today:
        raise PeriodError("end", "The period cannot end after today.")
    if start > end:
        raise PeriodError("start", "The first day must be on or before the last day.")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise PeriodError("start", f"Choose a period of at most {MAX_PERIOD_DAYS} days.")
    return make_period(now, start, end)


# --- one school (principals and counselors) -------------------------------------------------------


_CATEGORY_NAMES = select(FlagCategory.id, FlagCategory.name)  # built once: it has no parameter


def category_names() -> dict[str, str]:
    """Flag category id (as text, as the coverage rows carry it) -> name."""
    return {str(i): name for i, name in db.session.connection().execute(_CATEGORY_NAMES)}


def _add(cells: dict, counts) -> None:
    """Add coverage counts (flagged, both, program only, plan only, neither) to cells in the report's column names."""
    for name, n in zip(COVERAGE, counts):
        cells[name] = cells.get(name, 0) + n


def _breakdowns(rows, active_by_grade: dict[str, int]) -> dict[str, list[dict]]:
    """Coverage rows of one school as breakdown lines (reports.report.breakdown_lines); every grade
    with students has a line, flagged or not."""
    cells: dict[str, dict[str, dict]] = {dim: defaultdict(dict) for dim in DIMENSIONS}
    for dim, _, _, key, counts in rows:
        if dim != "total":
            _add(cells[dim][key], counts)
    for grade in set(cells["grade"]) | set(active_by_grade):
        line = cells["grade"][grade]
        line.update({name: line.get(name, 0) for name in COVERAGE}, active_students=active_by_grade.get(grade, 0))
    names = category_names() if cells["category"] else {}
    return {dim: breakdown_lines(dim, cells[dim], names, biggest_first=True) for dim in DIMENSIONS}


WINDOWS = ("30d", "90d", "period")


def checkin_windows(tallies) -> dict[str, int]:
    """Check-ins due and kept on time in the last 30 and 90 days and in the period, summed over
    measures.checkin_tallies(), as the report's columns (checkins_due_30d, checkins_on_time_30d, ...)."""
    out = {}
    for window in WINDOWS:
        out[f"checkins_due_{window}"] = sum(tally.windows[window][0] for tally in tallies)
        out[f"checkins_on_time_{window}"] = sum(tally.windows[window][1] for tally in tallies)
    return out


def _weeks(period: Period, tallies, activity_rows) -> list[dict]:
    """One school's week lines (columns.week_line) over the period's weeks."""
    weeks = [dict.fromkeys(TREND, 0) for _ in period.weeks]
    for tally in tallies:
        for week, (due, on_time) in tally.weeks.items():
            if 0 <= week < len(weeks):
                weeks[week]["checkins_due"] += due
                weeks[week]["checkins_on_time"] += on_time
    for metric, _, _, week, n in activity_rows:
        if week is not None and 0 <= week < len(weeks):
            weeks[week]["flags_opened" if metric == "flags" else "enrollments_started"] += n
    return [week_line(start, end, counts) for (start, end), counts in zip(period.weeks, weeks)]


def counselor_fte(rows) -> dict[int, float]:
    """School id -> counselor full-time equivalents: one counselor of k schools counts 1/k at each."""
    fte: dict[int, float] = defaultdict(float)
    for row in rows:
        fte[row.school_id] += 1 / max(row.n_schools, 1)
    return fte


def school_report(school: School, period: Period) -> Report:
    """One school's report: the report model (reports.figures) for the one school, nothing withheld.

    Its one row (also its totals) has the district export's columns but the outside support,
    which the page reads with the students it lists (agencies.queries.outside_support).
    """
    figures = gather(Scope(school_ids=(school.id,)), period)
    by_grade: dict[str, int] = defaultdict(int)
    for _, grade, n in figures.by_school_grade:
        by_grade[grade or ""] += n  # no grade on record: one "No grade" line
    cover = list(measures.coverage_lines(figures.cover))
    flagged = dict.fromkeys(COVERAGE, 0)
    for dim, _, _, _, counts in cover:
        if dim == "total":
            _add(flagged, counts)
    row = {
        "row_type": "school",
        "school_id": school.id,
        "school_sourced_id": school.sourced_id,
        "school_identifier": school.identifier or "",
        "school_name": school.name,
        "school_level": school.level,
        "as_of": period.today.isoformat(),
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "active_students": sum(by_grade.values()),
        **flagged,
        **checkin_windows(figures.tallies),
        "programs_running": len(figures.programs),
        "program_seats": sum(p.capacity for p in figures.programs),
        "program_enrolled": sum(p.active for p in figures.programs),
        "program_waitlisted": sum(p.waitlisted for p in figures.programs),
        # Not rounded as in the district's export: the page divides by the exact share of each counselor.
        "counselor_fte": counselor_fte(figures.counselors).get(school.id, 0.0),
    }
    complete(row)
    return Report(
        period=period,
        rows=[row],
        totals={**row, "row_type": "total"},  # the one school's
        breakdowns=_breakdowns(cover, by_grade),
        weeks=_weeks(period, figures.tallies, figures.activity),
        school=school,
        programs=figures.programs,
        counselors=figures.counselors,
    )


class UncoveredStudent(NamedTuple):
    """A row of the list of flagged students covered by neither a program nor a plan."""

    id: int
    family_name: str
    given_name: str
    preferred_name: str | None
    grade: str | None
    severity: int
    since: datetime
    waiting: bool
    plan_id: int | None  # an active plan not kept (or not started yet)

    @property
    def lapsed(self) -> bool:
        """Whether the student has a check-in plan that is not kept."""
        return self.plan_id is not None

    @property
    def display_name(self) -> str:
        """As Student.display_name."""
        return display_name(self.family_name, self.given_name, self.preferred_name)

    @property
    def grade_label(self) -> str:
        """As Student.grade_label."""
        return grade_label(self.grade)


@dataclass
class UncoveredList:
    """The first `limit` uncovered students of a school, whether there are more, and each one's concerns."""

    students: list[UncoveredStudent]
    more: bool
    categories: dict[int, list[str]]


def uncovered_list(scope: StudentScope, school_id: int, period: Period, limit: int) -> UncoveredList:
    """The uncovered students of one school that the scope may see, in two queries."""
    run = db.session.connection().execute  # Core rows, as for the figures
    found = [UncoveredStudent(*row) for row in run(*measures.uncovered_students(scope, school_id, period, limit + 1))]
    students = found[:limit]
    categories: dict[int, list[str]] = {}
    if students:
        for student_id, name in run(*measures.categories_of([s.id for s in students])):
            categories.setdefault(student_id, []).append(name)
    return UncoveredList(students, len(found) > limit, categories)


def school_coverage(school_ids, period: Period) -> dict[int, dict]:
    """Each school's flagged students by coverage, in the report's columns with what derives from
    them (flagged_in_program, share_with_plan, ...), as the headline of its coverage page counts them
    (school_report's row), in one statement for all the schools. A school with no flagged student
    has no entry: empty_coverage() stands for it."""
    if not school_ids:
        return {}
    measures.prepare_session()
    run = db.session.connection().execute
    cells: dict[int, dict] = defaultdict(lambda: dict.fromkeys(COVERAGE, 0))
    for dim, school_id, _, _, counts in measures.coverage_lines(
        run(*measures.coverage(Scope(school_ids=tuple(school_ids)), period))
    ):
        if dim == "total":
            _add(cells[school_id], counts)
    return {school_id: complete(c) for school_id, c in cells.items()}


def empty_coverage() -> dict:
    """The coverage columns of a school with no flagged student."""
    return complete(dict.fromkeys(COVERAGE, 0))
