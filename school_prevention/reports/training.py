"""Training coverage on the coverage pages and in the district export: the share of staff trained, by school.

The counts come from training.queries (who is current, due for renewal, lapsed or not trained);
this module makes the district's table publishable the way the district coverage table is
(reports.district), by the same path: counts from 1 to SP_SUPPRESSION_MIN_N - 1 are withheld,
with complementary cells (reports.suppression) so that none can be worked out from the group's
totals and the row identity staff = current + due + lapsed + not trained, whose four parts are
withheld together (so "trained", current + due, cannot be worked out either). Suppression is
decided per reporting group (reports.groups, the district report's own), so the level filter
never changes which cells are withheld, and a figure over several groups is shown only when
every group's is. Staff counts are about adults, but a school's few people whose training lapsed
are identifiable to their colleagues: they are protected the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from school_prevention.extensions import db
from school_prevention.reports.columns import SUPPRESSED, add_up, shown
from school_prevention.reports.groups import Group, choose_group, reporting_groups
from school_prevention.reports.measures import Scope, students_by_grade
from school_prevention.reports.measures import schools as schools_measure
from school_prevention.reports.suppression import TOTAL, Block, RowIdentity, suppress_with_totals
from school_prevention.training.queries import Coverage, training_coverage

PARTS = ("staff_current", "staff_due", "staff_lapsed", "staff_untrained")
COUNTS = ("staff", *PARTS)
IDENTITY = RowIdentity(parts=PARTS, total="staff", together=True)

# The columns of the workbook's Training sheet, in order (documented in docs/exports.md).
COLUMNS: list[tuple[str, str]] = [
    ("row_type", "`school`, or `total` for the totals of the schools listed"),
    ("school_sourced_id", "the school's SIS (OneRoster) sourcedId; empty on the total row"),
    ("school_name", "the school's name"),
    (
        "school_level",
        "`elementary`, `middle`, `high` or `other`; on the total row `all`, or the level (or levels joined by `-`) filtered on",
    ),
    ("as_of", "the day (district time zone) the figures describe"),
    ("staff", "active staff, counselors and principals assigned to the school (one at k schools counts at each)"),
    ("staff_current", "of them, holding every course required of their role, none expiring within 30 days"),
    ("staff_due", "holding every required course, one or more expiring within 30 days"),
    ("staff_lapsed", "with a required course whose last completion has expired (and none never taken)"),
    ("staff_untrained", "with a required course they never completed"),
    ("share_staff_trained", "`(staff_current + staff_due) / staff`: the share in date today"),
]


def counts_of(coverage: Coverage) -> dict[str, int]:
    """A school's Coverage as the table's counts."""
    return {
        "staff": coverage.staff,
        "staff_current": coverage.current,
        "staff_due": coverage.due,
        "staff_lapsed": coverage.lapsed,
        "staff_untrained": coverage.missing,
    }


def share_trained(cells: dict):
    """(current + due) / staff: withheld when any of them is, None when there is no staff."""
    values = [cells[c] for c in ("staff_current", "staff_due", "staff")]
    if SUPPRESSED in values:
        return SUPPRESSED
    return (values[0] + values[1]) / values[2] if values[2] else None


@dataclass
class TrainingTable:
    """The district's training coverage: one row per active school and a total row, publishable."""

    rows: list[dict]
    totals: dict
    min_n: int


def district_training(level: str | None, min_n: int, today: date, groups: list[Group] | None = None) -> TrainingTable:
    """Every active school (of one reporting group, by its key) with its staff's training counts,
    small cells withheld. groups: the district's reporting groups when known (reports.report.Report.groups);
    worked out as the district report does otherwise. A level the district does not report apart
    raises periods.FilterError."""
    if groups is None:
        groups = reporting_groups_now(min_n)
    group = choose_group(groups, level)
    ids = {s for g in ([group] if group else groups) for s in g.school_ids}
    # The schools as the report lists them (rows, not School objects: the district has thousands).
    schools = [s for s in db.session.connection().execute(*schools_measure(Scope())) if s.id in ids]
    found = training_coverage(None, today)  # every school's at once; a school without staff has none
    values = {s.id: counts_of(found.get(s.id, Coverage())) for s in schools}
    return publish_training(schools, values, group, groups, min_n, today)


def reporting_groups_now(min_n: int) -> list[Group]:
    """The district's reporting groups (reports.groups), from its active schools and students."""
    run = db.session.connection().execute
    active: dict[int, int] = {}
    for school_id, _, n in run(*students_by_grade(Scope())):
        active[school_id] = active.get(school_id, 0) + n
    return reporting_groups(((s.id, s.level) for s in run(*schools_measure(Scope()))), active, min_n)


def publish_training(
    schools, values: dict[int, dict[str, int]], group: Group | None, groups: list[Group], min_n: int, today: date
) -> TrainingTable:
    """district_training() from the schools and their counts: no database (the attacker test runs it)."""
    by_id = {s.id: s for s in schools}
    rows, totals = [], []
    for g in [group] if group else groups:
        table = {s: values.get(s, dict.fromkeys(COUNTS, 0)) for s in g.school_ids if s in by_id}
        group_total, hidden = suppress_with_totals(table, min_n, [Block(COUNTS, IDENTITY)])
        totals.append(shown(group_total, hidden, TOTAL))
        for school_id, counts in table.items():
            school, cells = by_id[school_id], shown(counts, hidden, school_id)
            rows.append(
                {
                    "row_type": "school",
                    "school_id": school.id,
                    "school_sourced_id": school.sourced_id,
                    "school_name": school.name,
                    "school_level": school.level,
                    "as_of": today.isoformat(),
                    **cells,
                    "share_staff_trained": share_trained(cells),
                }
            )
    rows.sort(key=lambda r: r["school_name"])
    total = {c: add_up(t[c] for t in totals) for c in COUNTS}
    total.update(
        row_type="total",
        school_id=None,
        school_sourced_id="",
        as_of=today.isoformat(),
        school_name=f"Total, {group.label.lower()} schools" if group else "District total",
        school_level=group.key if group else "all",
    )
    total["share_staff_trained"] = share_trained(total)
    return TrainingTable(rows, total, min_n)
