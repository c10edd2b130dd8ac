"""The district's coverage table (one row per school), its totals, breakdowns and trend: publishable.

Counts below SP_SUPPRESSION_MIN_N are withheld, with complementary suppression (reports.suppression),
so that no withheld figure can be worked out from the published ones, the column totals and the
coverage identity (flagged = program and plan + program only + plan only + uncovered).

How the pieces stay consistent with one another:
- Suppression is worked out per school level, each level with its own published totals, and per
  block of linked columns (only the coverage columns share an identity; every other count is a
  block of its own). Filtering by level, or changing the date range, therefore never changes which
  coverage cells are withheld: one view cannot be held against another.
- A figure over several levels (the district total, a breakdown line of all levels) is the sum of
  the levels' figures and is shown only when every one of them is: it adds nothing new.
- Breakdowns (grade, severity, category) and the weekly trend have the level's totals as their
  column totals. They are suppressed assuming those totals are published; when the level's table
  has to withhold one of them, the linked block of the breakdown is withheld whole.
"""
from __future__ import annotations

import gc
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import current_app

from school_prevention.extensions import db
from school_prevention.reports import measures
from school_prevention.reports.coverage import NA, category_names, counselor_fte, share
from school_prevention.reports.measures import Period, Scope
from school_prevention.reports.side_by_side import fetch_all
from school_prevention.reports.suppression import RowIdentity, suppress
from school_prevention.schools.models import SCHOOL_LEVELS
from school_prevention.students.models import GRADE_ORDER, grade_label

SUPPRESSED = "S"  # how a withheld figure is shown on the page and in exports


@dataclass(frozen=True)
class Column:
    """One column of the district table and export: a count that may be withheld, a plain figure, or derived."""

    name: str
    label: str
    kind: str  # text, date, count, number, share
    doc: str
    suppressible: bool = False
    inputs: tuple[str, ...] = ()


COVERAGE_PARTS = ("flagged_program_and_plan", "flagged_program_only", "flagged_plan_only", "flagged_uncovered")
COVERAGE = ("flagged_students", *COVERAGE_PARTS)
COVERAGE_IDENTITY = RowIdentity(parts=COVERAGE_PARTS, total="flagged_students")
C = Column
# The columns of the district table and its exports, in order. docs/exports.md documents each one,
# and tests/test_exports.py checks that it does: renaming or reordering is a breaking change.
COLUMNS: list[Column] = [
    C("row_type", "Row", "text", "`school` for a school; `total` for the totals of the schools listed"),
    C("school_sourced_id", "School sourcedId", "text", "the school's SIS (OneRoster) sourcedId; empty on the total row"),
    C("school_identifier", "School identifier", "text", "the school's state or district identifier, when known"),
    C("school_name", "School", "text", "the school's name"),
    C("school_level", "Level", "text", "`elementary`, `middle`, `high` or `other`; on the total row `all` or the level filtered on"),
    C("as_of", "As of", "date", "the day (district time zone) the snapshot figures describe"),
    C("period_start", "Period start", "date", "first day of the period of the `_period` columns"),
    C("period_end", "Period end", "date", "last day of the period"),
    C("active_students", "Active students", "count", "students enrolled at the school", True),
    C("flagged_students", "Flagged", "count", "active students with at least one open or monitoring flag", True),
    C("flagged_program_and_plan", "Flagged: program and plan", "count",
      "flagged students both in a running program and with a kept check-in plan", True),
    C("flagged_program_only", "Flagged: program only", "count", "flagged students in a running program and without a kept plan", True),
    C("flagged_plan_only", "Flagged: plan only", "count", "flagged students with a kept check-in plan and in no running program", True),
    C("flagged_uncovered", "Uncovered", "count", "flagged students with neither", True),
    C("flagged_in_program", "Flagged in a program", "count", "`flagged_program_and_plan + flagged_program_only`",
      inputs=("flagged_program_and_plan", "flagged_program_only")),
    C("flagged_with_plan", "Flagged with a plan", "count", "`flagged_program_and_plan + flagged_plan_only`",
      inputs=("flagged_program_and_plan", "flagged_plan_only")),
    C("share_flagged", "Share flagged", "share", "`flagged_students / active_students`",
      inputs=("flagged_students", "active_students")),
    C("share_in_program", "In a program", "share", "`flagged_in_program / flagged_students`",
      inputs=("flagged_program_and_plan", "flagged_program_only", "flagged_students")),
    C("share_with_plan", "With a plan", "share", "`flagged_with_plan / flagged_students`",
      inputs=("flagged_program_and_plan", "flagged_plan_only", "flagged_students")),
    C("share_uncovered", "Uncovered share", "share", "`flagged_uncovered / flagged_students`",
      inputs=("flagged_uncovered", "flagged_students")),
    C("checkins_due_30d", "Check-ins due, 30 days", "count", "check-ins whose on-time deadline fell in the last 30 days", True),
    C("checkins_on_time_30d", "On time, 30 days", "count", "of those, completed with an outcome by the deadline", True),
    C("share_on_time_30d", "On-time share, 30 days", "share", "`checkins_on_time_30d / checkins_due_30d`",
      inputs=("checkins_on_time_30d", "checkins_due_30d")),
    C("checkins_due_90d", "Check-ins due, 90 days", "count", "the same over the last 90 days", True),
    C("checkins_on_time_90d", "On time, 90 days", "count", "the same over the last 90 days", True),
    C("share_on_time_90d", "On-time share, 90 days", "share", "`checkins_on_time_90d / checkins_due_90d`",
      inputs=("checkins_on_time_90d", "checkins_due_90d")),
    C("checkins_due_period", "Check-ins due, period", "count", "check-ins due in the period whose deadline has passed", True),
    C("checkins_on_time_period", "On time, period", "count", "of those, completed with an outcome by the deadline", True),
    C("share_on_time_period", "On-time share, period", "share", "`checkins_on_time_period / checkins_due_period`",
      inputs=("checkins_on_time_period", "checkins_due_period")),
    C("programs_running", "Programs running", "number", "programs running today (not about students: never withheld)"),
    C("program_seats", "Seats", "number", "their capacity (never withheld)"),
    C("program_enrolled", "Seats taken", "count", "students holding a seat in them", True),
    C("program_waitlisted", "Waitlisted", "count", "students on their waitlists", True),
    C("share_seats_filled", "Seats filled", "share", "`program_enrolled / program_seats`",
      inputs=("program_enrolled", "program_seats")),
    C("counselor_fte", "Counselors (FTE)", "number",
      "active counselors assigned to the school; one who serves k schools counts 1/k at each (never withheld)"),
    C("students_per_counselor", "Students per counselor", "number",
      "`active_students / counselor_fte`; 250 is the recommended most", inputs=("active_students", "counselor_fte")),
]
del C
COLUMN = {c.name: c for c in COLUMNS}
BASE = tuple(c.name for c in COLUMNS if c.suppressible)
PLAIN = ("programs_running", "program_seats", "counselor_fte")
BLOCKS = [(COVERAGE, (COVERAGE_IDENTITY,))] + [((name,), ()) for name in BASE if name not in COVERAGE]
TREND = ("checkins_due", "checkins_on_time", "flags_opened", "enrollments_started")
# Breakdown and trend columns whose totals are the level table's totals.
LINKS = {"active": "active_students", **{c: c for c in COVERAGE},
         "checkins_due": "checkins_due_period", "checkins_on_time": "checkins_on_time_period"}


def _sum(values):
    return values[0] + values[1]


def _share_of_sum(values):
    return share(values[0] + values[1], values[2])


def _ratio(values):
    return share(values[0], values[1])


def _per_counselor(values):
    return round(values[0] / values[1], 1) if values[1] else NA


# How each derived column is made from its inputs (in COLUMNS order).
_RULES = {"flagged_in_program": _sum, "flagged_with_plan": _sum, "share_in_program": _share_of_sum,
          "share_with_plan": _share_of_sum, "students_per_counselor": _per_counselor}
DERIVED = [(c.name, c.inputs, _RULES.get(c.name, _ratio)) for c in COLUMNS if c.inputs]


def derive(name: str, cells: dict):
    """A derived column from its inputs: withheld when any input is, NA when it divides by zero."""
    inputs = COLUMN[name].inputs
    values = [cells.get(i) for i in inputs]
    if SUPPRESSED in values:
        return SUPPRESSED
    return _RULES.get(name, _ratio)(values)


_MISSING = object()


def complete(cells: dict) -> dict:
    """Add every derived column whose inputs are among the cells (withheld when any input is)."""
    for name, inputs, rule in DERIVED:
        values = [cells.get(i, _MISSING) for i in inputs]
        if _MISSING not in values:
            cells[name] = SUPPRESSED if SUPPRESSED in values else rule(values)
    return cells


def suppress_table(values: dict, min_n: int, blocks) -> tuple[set, set]:
    """(withheld cells, withheld column totals) of one table, block by block.

    A column total below min_n is withheld too: it would be a small figure in its own right.
    """
    hidden, withheld = set(), set()
    if not values:
        return hidden, withheld
    for columns, identities in blocks:
        # A block without a small count has nothing to protect: suppress() would withhold
        # nothing (complementary cells are only ever chosen to protect a primary one).
        if any(0 < cells.get(c, 0) < min_n for cells in values.values() for c in columns):
            result = suppress({row: {c: cells.get(c, 0) for c in columns} for row, cells in values.items()},
                              min_n, identities)
            hidden |= result.cells
            withheld |= result.totals
        for c in columns:
            if 0 < sum(cells.get(c, 0) for cells in values.values()) < min_n:
                withheld.add(c)
    return hidden, withheld


def suppress_linked(values: dict, min_n: int, blocks, level_withheld: set) -> set:
    """Withheld cells of a breakdown or trend table whose totals are the level table's totals.

    A block is withheld whole when the level table withholds a total it sums to, or when the
    block cannot be protected with its totals published.
    """
    hidden, withheld = suppress_table(values, min_n, blocks)
    for columns, _ in blocks:
        if withheld & set(columns) or any(LINKS.get(c) in level_withheld for c in columns):
            hidden |= {(row, c) for row in values for c in columns}
    return hidden


def combine(parts: list[tuple[dict, set]], names) -> dict:
    """Sum cells over levels; a sum is withheld when any of its parts is."""
    out = {}
    for name in names:
        withheld = any(name in hidden for _, hidden in parts)
        out[name] = SUPPRESSED if withheld else sum(values.get(name, 0) for values, _ in parts)
    return out


@dataclass
class DistrictReport:
    """The district's table (one row per school), totals, breakdowns and trend, all publishable."""

    period: Period
    level: str | None
    min_n: int
    rows: list[dict]
    totals: dict
    breakdowns: dict[str, list[dict]]
    weeks: list[dict]
    caseload_bands: list[tuple[str, int]]
    levels: list[str] = field(default_factory=list)

    def sorted_rows(self, key: str, descending: bool) -> list[dict]:
        """Rows ordered by a column; withheld and not-applicable figures go last either way."""
        def known(row):
            value = row.get(key)
            return value is not SUPPRESSED and value is not NA and value is not None

        have = sorted((r for r in self.rows if known(r)), key=lambda r: r["school_name"])
        have.sort(key=lambda r: r[key], reverse=descending)
        return have + sorted((r for r in self.rows if not known(r)), key=lambda r: r["school_name"])


@dataclass
class _Data:
    """The measures' rows for a district scope (what the benchmark calls the floor); checkins and
    activity as measures.checkin_tallies() and activity_lines() read them."""

    schools: list
    by_school_grade: list
    cover: list
    checkins: list
    programs: list
    counselors: list
    activity: list


def statements(scope: Scope, period: Period) -> dict[str, measures.Measure]:
    """The district's queries by name: seven, whatever the number of schools (the benchmark's floor)."""
    return {
        "schools": measures.schools(scope),
        "by_school_grade": measures.students_by_grade(scope),
        "cover": measures.coverage(scope, period, group="level"),
        "checkins": measures.checkins(scope, period),
        "programs": measures.programs(scope, period, per_program=False),
        "counselors": measures.counselors(scope),
        "activity": measures.activity(scope, period, group="level"),
    }


# The longest first, so that no connection is left with a long one at the end (figures at 1M students).
_LONGEST_FIRST = ("cover", "checkins", "by_school_grade", "activity", "programs", "counselors", "schools")


def fetch(scope: Scope, period: Period) -> _Data:
    """Run the district's queries, side by side on SP_REPORT_CONNECTIONS connections when it can.

    Rows of schools outside the scope (inactive, or of another level) may come back from the
    queries that do not join the school table; the report only reads the schools it lists.
    """
    named = statements(scope, period)
    # The packed check-in codes and activity weeks are read while the other queries still run.
    then = {"checkins": lambda rows: list(measures.checkin_tallies(rows)),
            "activity": lambda rows: list(measures.activity_lines(rows, group="level"))}
    return _Data(**fetch_all(db.session, {name: named[name] for name in _LONGEST_FIRST},
                             current_app.config["SP_REPORT_CONNECTIONS"], measures.prepare, then))


def _school_values(data: _Data) -> tuple[dict[int, dict], dict[int, dict]]:
    """School id -> base counts, and school id -> plain figures."""
    values = {s.id: dict.fromkeys(BASE, 0) for s in data.schools}
    for school_id, _, n in data.by_school_grade:
        if school_id in values:
            values[school_id]["active_students"] += n
    for dim, school_id, _, _, counts in measures.coverage_lines(data.cover):
        if dim == "total" and school_id in values:
            values[school_id].update(zip(COVERAGE, counts))
    for tally in data.checkins:
        v = values.get(tally.school_id)
        if v is not None:
            for window, (due, on_time) in tally.windows.items():
                v[f"checkins_due_{window}"], v[f"checkins_on_time_{window}"] = due, on_time
    fte = counselor_fte(data.counselors)
    plain = {s.id: {"programs_running": 0, "program_seats": 0, "counselor_fte": round(fte.get(s.id, 0.0), 2)}
             for s in data.schools}
    for school_id, count, seats, active, waitlisted in data.programs:
        if school_id in values:
            values[school_id].update(program_enrolled=int(active or 0), program_waitlisted=int(waitlisted or 0))
            plain[school_id].update(programs_running=int(count), program_seats=int(seats or 0))
    return values, plain


def district_report(period: Period, level: str | None, min_n: int) -> DistrictReport:
    """Every active school of the district, or of one level: table, totals, breakdowns, trend."""
    data = fetch(Scope(level=level), period)
    values, plain = _school_values(data)
    levels = [lv for lv in SCHOOL_LEVELS if any(s.level == lv for s in data.schools)]
    common = {"as_of": period.today.isoformat(), "period_start": period.start.isoformat(),
              "period_end": period.end.isoformat()}
    rows, level_totals, level_withheld = [], [], {}
    for lv in levels:
        members = [s for s in data.schools if s.level == lv]
        group = {s.id: values[s.id] for s in members}
        hidden, withheld = suppress_table(group, min_n, BLOCKS)
        level_withheld[lv] = withheld
        level_totals.append(({name: sum(v[name] for v in group.values()) for name in BASE}, withheld))
        hidden_in: dict[int, list[str]] = defaultdict(list)
        for school_id, name in hidden:
            hidden_in[school_id].append(name)
        for school in members:
            cells = dict(values[school.id])  # the BASE counts
            for name in hidden_in.get(school.id, ()):
                cells[name] = SUPPRESSED
            cells.update(plain[school.id])
            cells.update(common)
            cells.update(row_type="school", school_id=school.id, school_sourced_id=school.sourced_id,
                         school_identifier=school.identifier or "", school_name=school.name, school_level=school.level)
            rows.append(complete(cells))
    totals = combine(level_totals, BASE)
    totals.update({name: round(sum(p[name] for p in plain.values()), 2) for name in PLAIN})
    totals.update(**common, row_type="total", school_id=None, school_sourced_id="", school_identifier="",
                  school_name="District total" if not level else f"Total, {level} schools", school_level=level or "all")
    complete(totals)
    return DistrictReport(period=period, level=level, min_n=min_n, rows=rows, totals=totals,
                          breakdowns=_breakdowns(data, levels, level_withheld, min_n),
                          weeks=_weeks(period, data, levels, level_withheld, min_n),
                          caseload_bands=caseload_bands(rows), levels=levels)


@contextmanager
def collector_paused():
    """Hold Python's cycle collector while a district report is built and written out.

    A report makes a few hundred thousand short-lived objects and no reference cycles (reference
    counting frees them as usual). Left running, the collector counts those allocations and now
    and then starts a full collection, which walks every object of the process (the app, the
    ORM, the report) for tens of milliseconds and finds nothing to free. It resumes afterwards.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _breakdowns(data: _Data, levels, level_withheld, min_n) -> dict[str, list[dict]]:
    """Grade, severity and category lines over the levels in scope, each level suppressed on its own."""
    school_level = {s.id: s.level for s in data.schools}
    tables: dict = defaultdict(lambda: defaultdict(dict))  # (level, dim) -> key -> counts

    def line(level, dim, key):
        return tables[(level, dim)].setdefault(key, dict.fromkeys(("active", *COVERAGE), 0))

    for dim, _, level, key, counts in measures.coverage_lines(data.cover):
        if dim != "total" and level in level_withheld:
            target = line(level, dim, key)
            for name, n in zip(COVERAGE, counts):
                target[name] += n
    for school_id, grade, n in data.by_school_grade:
        if school_id in school_level:
            line(school_level[school_id], "grade", grade or "")["active"] += n
    blocks = [(COVERAGE, (COVERAGE_IDENTITY,)), (("active",), ())]
    hidden = {key: suppress_linked(table, min_n, blocks if key[1] == "grade" else blocks[:1], level_withheld[key[0]])
              for key, table in tables.items()}
    names = category_names()
    out = {}
    for dim in ("severity", "grade", "category"):
        keys = set().union(*(tables[(lv, dim)].keys() for lv in levels)) if levels else set()
        lines = []
        for key in keys:
            parts = [(tables[(lv, dim)][key], {c for (r, c) in hidden[(lv, dim)] if r == key})
                     for lv in levels if key in tables[(lv, dim)]]
            cells = combine(parts, ("active", *COVERAGE) if dim == "grade" else COVERAGE)
            if dim == "grade":
                cells["active_students"] = cells.pop("active")
            lines.append({"key": key, "label": _label(dim, key, names), **complete(cells)})
        out[dim] = sorted(lines, key=lambda line: _order(dim, line))
    return out


def _label(dim: str, key: str, names: dict) -> str:
    if dim == "severity":
        return measures.SEVERITY_OF_RANK.get(int(key), key).capitalize()
    if dim == "grade":
        return f"Grade {grade_label(key)}" if key else "No grade"
    return names.get(key, "Other")


def _order(dim: str, line: dict):
    if dim == "severity":
        return (-int(line["key"]),)
    if dim == "grade":
        return (GRADE_ORDER.index(line["key"]) if line["key"] in GRADE_ORDER else len(GRADE_ORDER), line["key"])
    return (line["label"],)


def _weeks(period: Period, data: _Data, levels, level_withheld, min_n) -> list[dict]:
    """Weekly activity over the levels in scope, suppressed per level and per metric."""
    n_weeks = len(period.weeks)
    per_level = {lv: {i: dict.fromkeys(TREND, 0) for i in range(n_weeks)} for lv in levels}
    school_level = {s.id: s.level for s in data.schools}
    for tally in data.checkins:
        level = school_level.get(tally.school_id)
        if level is not None:
            for week, (due, on_time) in tally.weeks.items():
                if 0 <= week < n_weeks:
                    cells = per_level[level][week]
                    cells["checkins_due"] += due
                    cells["checkins_on_time"] += on_time
    for metric, _, level, week, n in data.activity:
        if level in per_level and week is not None and 0 <= week < n_weeks:
            per_level[level][week]["flags_opened" if metric == "flags" else "enrollments_started"] += n
    blocks = [((name,), ()) for name in TREND]
    hidden = {lv: suppress_linked(weeks, min_n, blocks, level_withheld[lv]) for lv, weeks in per_level.items()}
    out = []
    for i, (start, end) in enumerate(period.weeks):
        cells = combine([(per_level[lv][i], {c for (r, c) in hidden[lv] if r == i}) for lv in levels], TREND)
        on_time = (SUPPRESSED if SUPPRESSED in (cells["checkins_due"], cells["checkins_on_time"])
                   else share(cells["checkins_on_time"], cells["checkins_due"]))
        out.append({**cells, "start": start, "end": end, "share_on_time": on_time})
    return out


CASELOAD_BANDS = [("Up to 250", 0, 250), ("251 to 350", 250, 350), ("351 to 450", 350, 450), ("Over 450", 450, None)]


def caseload_bands(rows) -> list[tuple[str, int]]:
    """How many schools fall in each band of students per counselor (counts of schools, not students)."""
    counts = {label: 0 for label, _, _ in CASELOAD_BANDS}
    none = withheld = 0
    for row in rows:
        ratio = row["students_per_counselor"]
        if ratio is NA:
            none += 1
        elif ratio is SUPPRESSED:
            withheld += 1
        else:
            label = next(lb for lb, low, high in CASELOAD_BANDS if ratio > low and (high is None or ratio <= high)) \
                if ratio > 0 else "Up to 250"
            counts[label] += 1
    bands = [(label, counts[label]) for label, _, _ in CASELOAD_BANDS] + [("No counselor", none)]
    if withheld:
        bands.append(("Not shown (few students)", withheld))
    return bands
