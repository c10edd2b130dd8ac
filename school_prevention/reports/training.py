"""Training coverage on the coverage pages and in the district export: the share of staff trained, by school.

The counts come from training.queries (who is current, due for renewal, lapsed or not trained);
this module makes the district's table publishable the way the district coverage table is
(reports.district): counts from 1 to SP_SUPPRESSION_MIN_N - 1 are withheld, with complementary
cells (reports.suppression) so that none can be worked out from the published totals and the
row identity staff = current + due + lapsed + not trained. Suppression is decided per school
level, so the level filter never changes which cells are withheld, and a figure over several
levels is shown only when every level's is. Staff counts are about adults, but a school's few
people whose training lapsed are identifiable to their colleagues: they are protected the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from school_prevention.extensions import db
from school_prevention.reports.district import SUPPRESSED
from school_prevention.reports.suppression import RowIdentity, suppress
from school_prevention.schools.models import SCHOOL_LEVELS, School
from school_prevention.training.queries import Coverage, training_coverage

PARTS = ("staff_current", "staff_due", "staff_lapsed", "staff_untrained")
COUNTS = ("staff", *PARTS)
IDENTITY = RowIdentity(parts=PARTS, total="staff")

# The columns of the workbook's Training sheet, in order (documented in docs/exports.md).
COLUMNS: list[tuple[str, str]] = [
    ("row_type", "`school`, or `total` for the totals of the schools listed"),
    ("school_sourced_id", "the school's SIS (OneRoster) sourcedId; empty on the total row"),
    ("school_name", "the school's name"),
    ("school_level", "`elementary`, `middle`, `high` or `other`; on the total row `all` or the level filtered on"),
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
    return {"staff": coverage.staff, "staff_current": coverage.current, "staff_due": coverage.due,
            "staff_lapsed": coverage.lapsed, "staff_untrained": coverage.missing}


def share_trained(cells: dict):
    """(current + due) / staff: withheld when any of them is, None when there is no staff."""
    values = [cells[c] for c in ("staff_current", "staff_due", "staff")]
    if SUPPRESSED in values:
        return SUPPRESSED
    return (values[0] + values[1]) / values[2] if values[2] else None


def _withheld_cells(group: dict[int, dict[str, int]], min_n: int) -> tuple[set, set]:
    """(cells, column totals) to withhold in one level's table."""
    hidden, withheld = set(), set()
    if any(0 < cells[c] < min_n for cells in group.values() for c in COUNTS):
        result = suppress(group, min_n, (IDENTITY,))
        hidden, withheld = set(result.cells), set(result.totals)
    for c in COUNTS:
        if 0 < sum(cells[c] for cells in group.values()) < min_n:
            withheld.add(c)
    return hidden, withheld


@dataclass
class TrainingTable:
    """The district's training coverage: one row per active school and a total row, publishable."""

    rows: list[dict]
    totals: dict
    min_n: int


def district_training(level: str | None, min_n: int, today: date) -> TrainingTable:
    """Every active school (of one level) with its staff's training counts, small cells withheld."""
    query = select(School).where(School.is_active.is_(True)).order_by(School.name)
    if level:
        query = query.where(School.level == level)
    schools = db.session.scalars(query).all()
    values = {school_id: counts_of(c) for school_id, c in training_coverage([s.id for s in schools], today).items()}
    rows, parts = [], []
    for lv in SCHOOL_LEVELS:
        members = [s for s in schools if s.level == lv]
        if not members:
            continue
        group = {s.id: values[s.id] for s in members}
        hidden, withheld = _withheld_cells(group, min_n)
        parts.append(({c: sum(cells[c] for cells in group.values()) for c in COUNTS}, withheld))
        for school in members:
            cells = {c: SUPPRESSED if (school.id, c) in hidden else n for c, n in group[school.id].items()}
            rows.append({"row_type": "school", "school_id": school.id, "school_sourced_id": school.sourced_id,
                         "school_name": school.name, "school_level": school.level, "as_of": today.isoformat(),
                         **cells, "share_staff_trained": share_trained(cells)})
    rows.sort(key=lambda r: r["school_name"])
    totals = {c: SUPPRESSED if any(c in withheld for _, withheld in parts) else sum(p[c] for p, _ in parts)
              for c in COUNTS}
    totals.update(row_type="total", school_id=None, school_sourced_id="", as_of=today.isoformat(),
                  school_name="District total" if not level else f"Total, {level} schools", school_level=level or "all")
    totals["share_staff_trained"] = share_trained(totals)
    return TrainingTable(rows, totals, min_n)
