"""The one shape of a coverage report, for one school's page and for the district's page and exports.

Both read the same figures (reports.figures) and give them the same names: a row per school and
a totals row in the export's columns (reports.columns.COLUMNS), breakdown lines and week lines
with the same keys, and what derives from the counts (in a program, with a plan, the shares)
made in one place, reports.columns.complete(). A school's report is one school shown as it is
to the people who work there (reports.coverage); the district's has gone through
reports.suppression, so any count may be SUPPRESSED (reports.district).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext

from school_prevention.reports.columns import NA, SUPPRESSED, complete
from school_prevention.reports.groups import Group
from school_prevention.reports.measures import SEVERITY_OF_RANK, Period
from school_prevention.reports.periods import ReportingPeriod
from school_prevention.schools.models import School
from school_prevention.students.models import GRADE_ORDER, grade_label

DIMENSIONS = ("severity", "grade", "category")  # the breakdowns, in the pages' order


@dataclass
class Report:
    """A coverage report: rows, totals, breakdowns and weeks in the same names for a school and the district.

    rows: one dict per school in the columns of reports.columns.COLUMNS (and school_id); totals:
    the same columns over the rows. On a school's page the _30d and _90d check-in columns are the
    last 30 and 90 days up to now; on the district's, the last reporting month and the last three
    (fixed periods, so a withheld month stays withheld). breakdowns: "severity", "grade" and
    "category" -> lines with key, label, the coverage columns and what derives from them, and
    active_students on grade lines. weeks: one line per week (columns.week_line()).
    """

    period: Period  # the days the check-ins and weekly figures are read over, and now
    rows: list[dict]
    totals: dict
    breakdowns: dict[str, list[dict]]
    weeks: list[dict]
    # One school's page only: the school, and its running programs and counselors by name.
    school: School | None = None
    programs: list = field(default_factory=list)
    counselors: list = field(default_factory=list)
    # The district's only: the reporting period asked for, the reporting group filtered on
    # (None: every school) and all the groups, the smallest count shown, schools by students per
    # counselor, the last three months that are over, and the groups whose grade lines are not shown.
    reporting: ReportingPeriod | None = None
    group: Group | None = None
    groups: list[Group] = field(default_factory=list)
    min_n: int = 0  # counts from 1 to min_n - 1 are withheld; 0 on a school's page, which withholds nothing
    caseload_bands: list[tuple[str, int]] = field(default_factory=list)
    recent: list[ReportingPeriod] = field(default_factory=list)
    grades_apart: list[Group] = field(default_factory=list)

    @property
    def level(self) -> str | None:
        """The group filtered on (its key), or None for every school."""
        return self.group.key if self.group else None

    def sorted_rows(self, key: str, descending: bool) -> list[dict]:
        """Rows ordered by a column; withheld and not-applicable figures go last either way."""

        def known(row):
            value = row.get(key)
            return value is not SUPPRESSED and value is not NA and value is not None

        have = sorted((r for r in self.rows if known(r)), key=lambda r: r["school_name"])
        have.sort(key=lambda r: r[key], reverse=descending)
        return have + sorted((r for r in self.rows if not known(r)), key=lambda r: r["school_name"])


def breakdown_lines(dim: str, cells_by_key: dict[str, dict], names: dict[str, str], biggest_first: bool) -> list[dict]:
    """One breakdown's lines in the pages' order: key, label, the counts given and what derives from them.

    cells_by_key: line key (a severity rank, a grade, a concern id, as text) -> counts in the
    report's column names. names: concern names by id. biggest_first: concerns with the most
    flagged students first (a school's page; the district's, where a count may be withheld, in
    the order of their names).
    """
    lines = [{"key": key, "label": line_label(dim, key, names), **complete(dict(c))} for key, c in cells_by_key.items()]
    return sorted(lines, key=lambda line: _order(dim, line, biggest_first))


def line_label(dim: str, key: str, names: dict[str, str]) -> str:
    """What a breakdown line is called on the pages and in the exports."""
    if dim == "severity":
        return SEVERITY_OF_RANK.get(int(key), key).capitalize()
    if dim == "grade":
        return gettext("Grade %(grade)s", grade=grade_label(key)) if key else gettext("No grade")
    return names.get(key) or gettext("Other")


def _order(dim: str, line: dict, biggest_first: bool):
    if dim == "severity":
        return (-int(line["key"]),)
    if dim == "grade":
        return (GRADE_ORDER.index(line["key"]) if line["key"] in GRADE_ORDER else len(GRADE_ORDER), line["key"])
    if biggest_first:
        return (-line["flagged_students"], line["label"])
    return (line["label"],)
