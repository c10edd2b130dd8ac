"""The district's figures: one row per school, totals, breakdowns and the weekly trend, all publishable.

Every figure the district sees on a page, a chart or an export comes from here (or, for the
program list and the home page, from reports.published, which works out the same cells the
same way), and every count goes through reports.suppression:

- Schools are suppressed in reporting groups (reports.groups): a level on its own, or levels
  merged when one would show a single school or fewer than SP_SUPPRESSION_MIN_N students. Each
  group's table has its totals row; a small total is withheld, and is a complement like any cell.
  A level filter shows one group; every school and total is withheld the same way whatever is
  filtered, so one view cannot be held against another. A figure over several groups (the
  district's totals, a line of every level) is their sum, shown only when every part is.
- Periods are fixed reporting periods (reports.periods). Check-ins are counted per school and
  reporting month; a term or a year, and the last-month and last-three-months columns, add months
  up and are shown only where every month is. Withholding a month therefore never depends on
  the period asked for.
- Breakdowns (severity, concern, grade) and the weekly trend break a group's totals down: they
  are withheld whole where the total they add up to is. The grade breakdown is shown only for a
  group whose schools share grades (one connected set): a grade taught at one school alone would
  otherwise make a line, or a few lines together, one school's figure.
- Weekly new flags and students seated add up to nothing published: only small counts are withheld.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import gettext

from school_prevention.db import utcnow
from school_prevention.i18n import N_
from school_prevention.reports.breakdowns import GroupFigures, breakdowns, group_table, no_programs, weeks
from school_prevention.reports.columns import (  # noqa: F401 (the schema and its rules, imported from here too)
    BASE,
    COLUMN,
    COLUMNS,
    COVERAGE,
    COVERAGE_IDENTITY,
    COVERAGE_PARTS,
    DUE,
    NA,
    ON_TIME,
    PLAIN,
    SNAPSHOT,
    SUPPRESSED,
    Column,
    add_up,
    combine,
    complete,
    derive,
    shown,
)
from school_prevention.reports.coverage import category_names
from school_prevention.reports.district_data import (
    Data,
    active_by_school,
    fetch,
    month_counts,
    month_key,
    snapshot_counts,
)
from school_prevention.reports.groups import choose_group, reporting_groups
from school_prevention.reports.measures import Period
from school_prevention.reports.periods import FilterError, ReportingPeriod, last_complete_months, query_period
from school_prevention.reports.report import Report
from school_prevention.reports.suppression import TOTAL
from school_prevention.timezones import district_zone

__all__ = ["GroupFigures", "Report", "build_report", "district_report", "no_programs"]


def _period_columns(cells: dict, period: ReportingPeriod, recent: list[ReportingPeriod]) -> dict:
    """The check-in columns of a row from its months: sums shown only where every month is."""
    months = [month_key(m) for m in period.months]
    out = {
        "checkins_due_period": add_up(cells[DUE + m] for m in months),
        "checkins_on_time_period": add_up(cells[ON_TIME + m] for m in months),
    }
    last = [month_key(p.months[0]) for p in recent]
    if last:
        out.update(
            checkins_due_30d=cells[DUE + last[-1]],
            checkins_on_time_30d=cells[ON_TIME + last[-1]],
            checkins_due_90d=add_up(cells[DUE + m] for m in last),
            checkins_on_time_90d=add_up(cells[ON_TIME + m] for m in last),
        )
    else:
        out.update(
            dict.fromkeys(("checkins_due_30d", "checkins_on_time_30d", "checkins_due_90d", "checkins_on_time_90d"), 0)
        )
    return out


def district_report(
    period: ReportingPeriod, level: str | None, min_n: int, now: datetime | None = None, *, table_only: bool = False
) -> Report:
    """Every active school of the district, or of one reporting group: table, totals, breakdowns, trend.

    table_only: the table and its totals alone, no breakdowns and no weekly trend (the CSV export);
    the table is the same either way (its suppression never depends on the breakdowns).
    Raises periods.FilterError when the level asks for a group the district does not report apart.
    """
    now = now or utcnow()
    zone = district_zone()
    recent = last_complete_months(now, zone, 3)
    data = fetch(period, recent, now, zone, table_only=table_only)
    query = query_period(now, zone, period.start, period.end, current_app.config.get("SP_ESCALATION_DAYS", 7))
    names = {} if table_only else category_names()
    return build_report(data, period, recent, query, level, min_n, names, table_only=table_only)


def build_report(
    data: Data,
    period: ReportingPeriod,
    recent: list[ReportingPeriod],
    query: Period,
    level: str | None,
    min_n: int,
    names: dict[str, str],
    *,
    table_only: bool = False,
) -> Report:
    """The report from the measures' rows: no database (tests/reports/test_suppression_attack.py runs it on
    many made-up districts). recent: the last three months that are over; names: concern names;
    table_only: without breakdowns and weekly trend (data read with table_only)."""
    groups = reporting_groups(((s.id, s.level) for s in data.schools), active_by_school(data), min_n)
    try:
        group = choose_group(groups, level)
    except FilterError as exc:
        exc.groups = groups  # type: ignore[attr-defined]  # for the form to offer the right ones
        raise
    in_view = [group] if group else groups
    months = sorted({month_key(m) for m in period.months} | {month_key(p.months[0]) for p in recent})
    values, plain = snapshot_counts(data, SNAPSHOT)
    counts = month_counts(data, months)
    figures = [group_table(g, values, months, counts, min_n, plain) for g in in_view]
    schools = {s.id: s for s in data.schools}
    common = {
        "as_of": query.today.isoformat(),
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
    }
    rows, group_totals = [], []
    for fig in figures:
        for school_id in fig.group.school_ids:
            school, cells = schools[school_id], fig.cells[school_id]
            row = {c: cells[c] for c in SNAPSHOT}
            row.update(_period_columns(cells, period, recent), **plain[school_id], **common)
            row.update(
                row_type="school",
                school_id=school.id,
                school_sourced_id=school.sourced_id,
                school_identifier=school.identifier or "",
                school_name=school.name,
                school_level=school.level,
            )
            rows.append(complete(row))
        total = fig.cells[TOTAL]
        group_totals.append({**{c: total[c] for c in SNAPSHOT}, **_period_columns(total, period, recent)})
    rows.sort(key=lambda r: (r["school_name"], r["school_id"]))
    totals = combine(group_totals, BASE)
    listed = [plain[r["school_id"]] for r in rows]
    totals.update({name: round(sum(p[name] for p in listed), 2) for name in PLAIN})
    totals.update(
        **common,
        row_type="total",
        school_id=None,
        school_sourced_id="",
        school_identifier="",
        school_name=gettext("Total, %(level)s schools", level=group.label.lower())
        if group
        else gettext("District total"),
        school_level=group.key if group else "all",
    )
    complete(totals)
    lines, apart = ({}, []) if table_only else breakdowns(data, figures, min_n, names)
    return Report(
        period=query,
        rows=rows,
        totals=totals,
        breakdowns=lines,
        weeks=[] if table_only else weeks(period, data, figures, min_n),
        reporting=period,
        group=group,
        groups=groups,
        min_n=min_n,
        caseload_bands=caseload_bands(rows),
        recent=recent,
        grades_apart=apart,
    )


# Labels in English (the bands' keys); pages show them through the `tr` filter.
CASELOAD_BANDS = [
    (N_("Up to 250"), 0, 250),
    (N_("251 to 350"), 250, 350),
    (N_("351 to 450"), 350, 450),
    (N_("Over 450"), 450, None),
]


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
            label = (
                next(lb for lb, low, high in CASELOAD_BANDS if ratio > low and (high is None or ratio <= high))
                if ratio > 0
                else "Up to 250"
            )
            counts[label] += 1
    bands = [(label, counts[label]) for label, _, _ in CASELOAD_BANDS] + [(N_("No counselor"), none)]
    if withheld:
        bands.append((N_("Not shown (few students)"), withheld))
    return bands
