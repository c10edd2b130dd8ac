"""One school's coverage report (principals and counselors see names), and the pieces shared with the district's."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory
from school_prevention.permissions import StudentScope
from school_prevention.reports import measures
from school_prevention.reports.figures import gather
from school_prevention.reports.measures import Period, Scope
from school_prevention.schools.models import School
from school_prevention.students.models import GRADE_ORDER, display_name, grade_label
from school_prevention.timezones import district_zone

RECOMMENDED_CASELOAD = 250  # students per school counselor (ASCA's recommendation)
MAX_PERIOD_DAYS = 366
DEFAULT_WEEKS = 12


class _NotApplicable:
    """A share whose denominator is zero."""

    def __repr__(self) -> str:
        return "n/a"


NA = _NotApplicable()


@dataclass
class Split:
    """Flagged students split by coverage: both, program only, plan only, neither."""

    flagged: int = 0
    both: int = 0
    program_only: int = 0
    plan_only: int = 0
    neither: int = 0

    @property
    def in_program(self) -> int:
        return self.both + self.program_only

    @property
    def with_plan(self) -> int:
        return self.both + self.plan_only

    def add(self, counts) -> None:
        """Add (flagged, both, program_only, plan_only, neither)."""
        self.flagged += counts[0]
        self.both += counts[1]
        self.program_only += counts[2]
        self.plan_only += counts[3]
        self.neither += counts[4]


def share(part: int, whole: int):
    """part / whole, or NA when whole is zero."""
    return part / whole if whole else NA


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


@dataclass
class Breakdown:
    """One line of a breakdown: its label, active students when known, and the split of the flagged."""

    key: str
    label: str
    split: Split
    active: int | None = None


@dataclass
class Week:
    """One week of activity."""

    start: date
    end: date
    checkins_due: int = 0
    checkins_on_time: int = 0
    flags_opened: int = 0
    enrollments_started: int = 0


@dataclass
class SchoolReport:
    """Everything on a school's coverage page."""

    school: School
    period: Period
    active: int
    split: Split
    breakdowns: dict[str, list[Breakdown]]
    adherence: dict[str, tuple[int, int]]
    programs: list
    counselors: list
    counselor_fte: float
    weeks: list[Week]

    @property
    def students_per_counselor(self):
        return self.active / self.counselor_fte if self.counselor_fte else NA

    @property
    def program_totals(self) -> dict:
        return {
            "seats": sum(p.capacity for p in self.programs),
            "active": sum(p.active for p in self.programs),
            "waitlisted": sum(p.waitlisted for p in self.programs),
        }


_CATEGORY_NAMES = select(FlagCategory.id, FlagCategory.name)  # built once: it has no parameter


def category_names() -> dict[str, str]:
    """Flag category id (as text, as the coverage rows carry it) -> name."""
    return {str(i): name for i, name in db.session.connection().execute(_CATEGORY_NAMES)}


def _breakdowns(rows, active_by_grade: dict[str, int]) -> dict[str, list[Breakdown]]:
    """Coverage rows of one group (a school or a level) as ordered breakdown lines."""
    splits: dict[str, dict[str, Split]] = defaultdict(lambda: defaultdict(Split))
    for dim, _, _, key, counts in rows:
        if dim != "total":
            splits[dim][key].add(counts)
    names = category_names() if splits.get("category") else {}
    grade_keys = sorted(
        set(splits["grade"]) | set(active_by_grade),
        key=lambda g: (GRADE_ORDER.index(g) if g in GRADE_ORDER else len(GRADE_ORDER), g or ""),
    )
    out = {
        "severity": [
            Breakdown(str(rank), measures.SEVERITY_OF_RANK[rank].capitalize(), splits["severity"][str(rank)])
            for rank in (4, 3, 2, 1)
            if str(rank) in splits["severity"]
        ],
        "grade": [
            Breakdown(
                g or "",
                gettext("Grade %(grade)s", grade=grade_label(g)) if g else gettext("No grade"),
                splits["grade"].get(g, Split()),
                active_by_grade.get(g, 0),
            )
            for g in grade_keys
        ],
        "category": sorted(
            (Breakdown(k, names.get(k) or gettext("Other"), s) for k, s in splits["category"].items()),
            key=lambda b: (-b.split.flagged, b.label),
        ),
    }
    return out


def adherence_windows(tallies) -> dict[str, tuple[int, int]]:
    """(due, on time) per window, summed over measures.checkin_tallies()."""
    sums = dict.fromkeys(("30d", "90d", "period"), (0, 0))
    for tally in tallies:
        sums = {
            name: (due + tally.windows[name][0], kept + tally.windows[name][1]) for name, (due, kept) in sums.items()
        }
    return sums


def _weeks(period: Period, tallies, activity_rows) -> list[Week]:
    weeks = [Week(start, end) for start, end in period.weeks]
    for tally in tallies:
        for week, (due, on_time) in tally.weeks.items():
            if 0 <= week < len(weeks):
                weeks[week].checkins_due += due
                weeks[week].checkins_on_time += on_time
    for metric, _, _, week, n in activity_rows:
        if week is not None and 0 <= week < len(weeks):
            if metric == "flags":
                weeks[week].flags_opened += n
            else:
                weeks[week].enrollments_started += n
    return weeks


def counselor_fte(rows) -> dict[int, float]:
    """School id -> counselor full-time equivalents: one counselor of k schools counts 1/k at each."""
    fte: dict[int, float] = defaultdict(float)
    for row in rows:
        fte[row.school_id] += 1 / max(row.n_schools, 1)
    return fte


def school_report(school: School, period: Period) -> SchoolReport:
    """One school's figures: the report model (reports.figures) for the one school."""
    figures = gather(Scope(school_ids=(school.id,)), period)
    by_grade: dict[str, int] = defaultdict(int)
    for _, grade, n in figures.by_school_grade:
        by_grade[grade or ""] += n  # no grade on record: one "No grade" line
    cover = list(measures.coverage_lines(figures.cover))
    split = Split()
    for dim, _, _, _, counts in cover:
        if dim == "total":
            split.add(counts)
    return SchoolReport(
        school=school,
        period=period,
        active=sum(by_grade.values()),
        split=split,
        breakdowns=_breakdowns(cover, by_grade),
        adherence=adherence_windows(figures.tallies),
        programs=figures.programs,
        counselors=figures.counselors,
        counselor_fte=counselor_fte(figures.counselors).get(school.id, 0.0),
        weeks=_weeks(period, figures.tallies, figures.activity),
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


def coverage_splits(school_ids, period: Period) -> dict[int, Split]:
    """Each school's flagged students split by coverage, as the headline of its coverage page counts
    them (school_report's split), in one statement for all the schools."""
    if not school_ids:
        return {}
    measures.prepare_session()
    run = db.session.connection().execute
    splits: dict[int, Split] = defaultdict(Split)
    for dim, school_id, _, _, counts in measures.coverage_lines(
        run(*measures.coverage(Scope(school_ids=tuple(school_ids)), period))
    ):
        if dim == "total":
            splits[school_id].add(counts)
    return splits
