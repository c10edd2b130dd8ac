"""The report's columns (the district export's schema, which docs/exports.md documents), and how
derived figures are made, for a school's page and the district's alike: a sum or a share is
withheld when any count it is made of is."""

from __future__ import annotations

from dataclasses import dataclass

from school_prevention.reports.suppression import Block, RowIdentity

SUPPRESSED = "S"  # how a withheld figure is shown on the page and in exports


class _NotApplicable:
    """A share whose denominator is zero."""

    def __repr__(self) -> str:
        return "n/a"


NA = _NotApplicable()


def share(part: int, whole: int):
    """part / whole, or NA when whole is zero."""
    return part / whole if whole else NA


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
# The parts of a row's split are withheld together (RowIdentity.together): then the sums it also
# publishes (in a program, with a plan) cannot be worked out when they are withheld.
COVERAGE_IDENTITY = RowIdentity(parts=COVERAGE_PARTS, total="flagged_students", together=True)
C = Column
# The columns of the district table and its exports, in order. docs/exports.md documents each one,
# and tests/exports/test_exports.py checks that it does: renaming or reordering is a breaking change.
COLUMNS: list[Column] = [
    C("row_type", "Row", "text", "`school` for a school; `total` for the totals of the schools listed"),
    C(
        "school_sourced_id",
        "School sourcedId",
        "text",
        "the school's SIS (OneRoster) sourcedId; empty on the total row",
    ),
    C("school_identifier", "School identifier", "text", "the school's state or district identifier, when known"),
    C("school_name", "School", "text", "the school's name"),
    C(
        "school_level",
        "Level",
        "text",
        "`elementary`, `middle`, `high` or `other`; on the total row `all`, or the level (or levels joined by `-`) filtered on",
    ),
    C("as_of", "As of", "date", "the day (district time zone) the snapshot figures describe"),
    C("period_start", "Period start", "date", "first day (a Monday) of the reporting period of the `_period` columns"),
    C("period_end", "Period end", "date", "last day (a Sunday) of the period"),
    C("active_students", "Active students", "count", "students enrolled at the school", True),
    C("flagged_students", "Flagged", "count", "active students with at least one open or monitoring flag", True),
    C(
        "flagged_program_and_plan",
        "Flagged: program and plan",
        "count",
        "flagged students both in a running program and with a kept check-in plan",
        True,
    ),
    C(
        "flagged_program_only",
        "Flagged: program only",
        "count",
        "flagged students in a running program and without a kept plan",
        True,
    ),
    C(
        "flagged_plan_only",
        "Flagged: plan only",
        "count",
        "flagged students with a kept check-in plan and in no running program",
        True,
    ),
    C("flagged_uncovered", "Uncovered", "count", "flagged students with neither", True),
    C(
        "flagged_in_program",
        "Flagged in a program",
        "count",
        "`flagged_program_and_plan + flagged_program_only`",
        inputs=("flagged_program_and_plan", "flagged_program_only"),
    ),
    C(
        "flagged_with_plan",
        "Flagged with a plan",
        "count",
        "`flagged_program_and_plan + flagged_plan_only`",
        inputs=("flagged_program_and_plan", "flagged_plan_only"),
    ),
    C(
        "share_flagged",
        "Share flagged",
        "share",
        "`flagged_students / active_students`",
        inputs=("flagged_students", "active_students"),
    ),
    C(
        "share_in_program",
        "In a program",
        "share",
        "`flagged_in_program / flagged_students`",
        inputs=("flagged_program_and_plan", "flagged_program_only", "flagged_students"),
    ),
    C(
        "share_with_plan",
        "With a plan",
        "share",
        "`flagged_with_plan / flagged_students`",
        inputs=("flagged_program_and_plan", "flagged_plan_only", "flagged_students"),
    ),
    C(
        "share_uncovered",
        "Uncovered share",
        "share",
        "`flagged_uncovered / flagged_students`",
        inputs=("flagged_uncovered", "flagged_students"),
    ),
    C(
        "checkins_due_30d",
        "Check-ins due, last month",
        "count",
        "check-ins due in the last reporting month that is over",
        True,
    ),
    C(
        "checkins_on_time_30d",
        "On time, last month",
        "count",
        "of those, completed with an outcome by the deadline",
        True,
    ),
    C(
        "share_on_time_30d",
        "On-time share, last month",
        "share",
        "`checkins_on_time_30d / checkins_due_30d`",
        inputs=("checkins_on_time_30d", "checkins_due_30d"),
    ),
    C(
        "checkins_due_90d",
        "Check-ins due, last 3 months",
        "count",
        "the same over the last three reporting months that are over",
        True,
    ),
    C("checkins_on_time_90d", "On time, last 3 months", "count", "the same over the last three reporting months", True),
    C(
        "share_on_time_90d",
        "On-time share, last 3 months",
        "share",
        "`checkins_on_time_90d / checkins_due_90d`",
        inputs=("checkins_on_time_90d", "checkins_due_90d"),
    ),
    C("checkins_due_period", "Check-ins due, period", "count", "check-ins due in the reporting period", True),
    C(
        "checkins_on_time_period",
        "On time, period",
        "count",
        "of those, completed with an outcome by the deadline",
        True,
    ),
    C(
        "share_on_time_period",
        "On-time share, period",
        "share",
        "`checkins_on_time_period / checkins_due_period`",
        inputs=("checkins_on_time_period", "checkins_due_period"),
    ),
    C("programs_running", "Programs running", "number", "programs running today (not about students: never withheld)"),
    C("program_seats", "Seats", "number", "their capacity (never withheld)"),
    C("program_enrolled", "Seats taken", "count", "students holding a seat in them", True),
    C("program_waitlisted", "Waitlisted", "count", "students on their waitlists", True),
    C(
        "share_seats_filled",
        "Seats filled",
        "share",
        "`program_enrolled / program_seats`",
        inputs=("program_enrolled", "program_seats"),
    ),
    C(
        "counselor_fte",
        "Counselors (FTE)",
        "number",
        "active counselors assigned to the school; one who serves k schools counts 1/k at each (never withheld)",
    ),
    C(
        "students_per_counselor",
        "Students per counselor",
        "number",
        "`active_students / counselor_fte`; 250 is the recommended most",
        inputs=("active_students", "counselor_fte"),
    ),
    # Added after the others (issue 18), so the columns before keep their places.
    C(
        "flagged_outside_support",
        "Flagged: supported outside",
        "count",
        "flagged students an outside agency supports: a referral to it accepted, or services started "
        "(whatever their coverage in school)",
        True,
    ),
    C(
        "share_outside_support",
        "Supported outside",
        "share",
        "`flagged_outside_support / flagged_students`",
        inputs=("flagged_outside_support", "flagged_students"),
    ),
]
del C
COLUMN = {c.name: c for c in COLUMNS}
BASE = tuple(c.name for c in COLUMNS if c.suppressible)
PLAIN = ("programs_running", "program_seats", "counselor_fte")
SNAPSHOT = (
    "active_students",
    *COVERAGE,
    "program_enrolled",
    "program_waitlisted",
    "flagged_outside_support",
)  # counts as of now
# flagged_outside_support is a count of its own (like the seats taken): its complement among the
# flagged (not supported outside) is published nowhere, so it joins no equation but its column's.
SNAPSHOT_BLOCKS = [
    Block(("active_students",)),
    Block(COVERAGE, COVERAGE_IDENTITY),
    Block(("program_enrolled",)),
    Block(("program_waitlisted",)),
    Block(("flagged_outside_support",)),
]
TREND = ("checkins_due", "checkins_on_time", "flags_opened", "enrollments_started")
DUE, ON_TIME = "checkins_due@", "checkins_on_time@"  # + a reporting month: a group table's check-in columns


def _sum(values):
    return values[0] + values[1]


def _share_of_sum(values):
    return share(values[0] + values[1], values[2])


def _ratio(values):
    return share(values[0], values[1])


def _per_counselor(values):
    return round(values[0] / values[1], 1) if values[1] else NA


# How each derived column is made from its inputs (in COLUMNS order).
_RULES = {
    "flagged_in_program": _sum,
    "flagged_with_plan": _sum,
    "share_in_program": _share_of_sum,
    "share_with_plan": _share_of_sum,
    "students_per_counselor": _per_counselor,
}
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


def week_line(start, end, counts: dict) -> dict:
    """One week of the trend: its first and last day, its TREND counts, and the share of its
    check-ins kept on time (withheld when either count is)."""
    due, on_time = counts["checkins_due"], counts["checkins_on_time"]
    on_time_share = SUPPRESSED if SUPPRESSED in (due, on_time) else share(on_time, due)
    return {**counts, "start": start, "end": end, "share_on_time": on_time_share}


def add_up(values):
    """The sum of figures, withheld when any of them is: a sum adds nothing to what its parts say."""
    values = list(values)
    return SUPPRESSED if SUPPRESSED in values else sum(values)


def combine(parts: list[dict], names) -> dict:
    """Sum cells over groups; a sum is withheld when any of its parts is."""
    return {name: add_up(p.get(name, 0) for p in parts) for name in names}


def shown(values: dict, hidden: set, row) -> dict:
    """A row's cells with the withheld ones marked."""
    return {c: SUPPRESSED if (row, c) in hidden else v for c, v in values.items()}
