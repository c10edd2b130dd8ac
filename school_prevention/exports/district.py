"""The district export: one row per school and a total row, suppressed, as CSV or XLSX.

The figures are the district page's own (reports.district), so the page and the file cannot
disagree. The column schema is reports.district.COLUMNS, documented in docs/exports.md.
"""

from __future__ import annotations

from typing import IO

from flask_babel import gettext as _

from school_prevention import audit
from school_prevention.exports.training import training_sheet
from school_prevention.reports.district import COLUMNS, NA, SUPPRESSED, Report
from school_prevention.reports.training import district_training
from school_prevention.spreadsheets import Withheld, csv_bytes, write_xlsx

MARK = Withheld(SUPPRESSED)


def cell(value, kind: str):
    """A figure as written to a file: the marker for withheld, blank for not applicable."""
    if value is SUPPRESSED:
        return MARK
    if value is NA or value is None:
        return ""
    if kind == "share":
        return round(value, 4)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def table_rows(report: Report):
    """The schools' rows and then the total row, as lists in COLUMNS order."""
    for row in [*report.rows, report.totals]:
        yield [cell(row.get(c.name), c.kind) for c in COLUMNS]


def _breakdown_sheet(report: Report, dim: str, title: str):
    names = [
        "flagged_students",
        *("flagged_program_and_plan", "flagged_program_only", "flagged_plan_only", "flagged_uncovered"),
        "share_in_program",
        "share_with_plan",
        "share_uncovered",
    ]
    if dim == "grade":
        names = ["active_students", *names]
    header = [dim, *names]
    rows = (
        [line["label"], *(cell(line.get(n), "share" if n.startswith("share") else "count") for n in names)]
        for line in report.breakdowns[dim]
    )
    return (title, header, rows, {i + 1: "0.0%" for i, n in enumerate(names) if n.startswith("share")})


def _weekly_sheet(report: Report):
    header = [
        "week_start",
        "week_end",
        "checkins_due",
        "checkins_on_time",
        "share_on_time",
        "flags_opened",
        "enrollments_started",
    ]
    rows = (
        [
            w["start"].isoformat(),
            w["end"].isoformat(),
            cell(w["checkins_due"], "count"),
            cell(w["checkins_on_time"], "count"),
            cell(w["share_on_time"], "share"),
            cell(w["flags_opened"], "count"),
            cell(w["enrollments_started"], "count"),
        ]
        for w in report.weeks
    )
    return ("Weekly", header, rows, {4: "0.0%"})


def about(report: Report) -> list[str]:
    """The notes that travel with the figures, in the downloader's language (the column names do not change)."""
    p, rp = report.period, report.reporting
    assert rp is not None  # a district report has its reporting period
    recent = report.recent
    notes = [
        _("District coverage export: %(app)s", app=_("School Prevention Program Manager")),
        _(
            "Snapshot as of %(day)s; reporting period %(period)s, %(start)s to %(end)s; schools: %(schools)s.",
            day=p.today.isoformat(),
            period=rp.label,
            start=rp.start.isoformat(),
            end=rp.end.isoformat(),
            schools=report.group.label.lower() if report.group else _("all levels"),
        ),
        _(
            "Weeks run Monday to Sunday; a reporting month is the weeks whose Thursday falls in it, and terms and "
            "school years are whole months."
        ),
    ]
    if recent:
        notes.append(
            _(
                "_30d columns: %(last)s; _90d columns: %(first)s to %(last)s.",
                last=recent[-1].label,
                first=recent[0].label,
            )
        )
    notes += [
        _(
            "%(mark)s = withheld: counts from 1 to %(most)s are not shown, nor some others chosen so that "
            "no withheld count can be worked out from the totals, from the other figures of its row, or from the "
            "figures of any other period, level or page.",
            mark=SUPPRESSED,
            most=report.min_n - 1,
        ),
        _("A share or sum is withheld when any count it is made of is. Blank = not applicable (nothing to divide by)."),
        _("Shares are fractions from 0 to 1. One row per active school, then the total row."),
        *(
            _(
                "%(levels)s schools are reported together: on its own, a level would show too few schools or students.",
                levels=g.label,
            )
            for g in report.groups
            if len(g.levels) > 1
        ),
        *(
            [
                _(
                    "By grade: not shown for %(levels)s schools, which teach different grades (a grade's figures would be "
                    "one school's).",
                    levels=", ".join(g.label.lower() for g in report.grades_apart),
                )
            ]
            if report.grades_apart
            else []
        ),
        _("Definitions of every column: docs/exports.md in the application's source."),
        _("No student is named or identified in this file."),
    ]
    return notes


def write_district(out: IO[bytes], fmt: str, report: Report, *, actor) -> int:
    """Write a district report (reports.district) to out as CSV or XLSX and add its audit row;
    returns the number of school rows. The caller builds the report."""
    assert report.reporting is not None  # a district report has its reporting period
    header = [c.name for c in COLUMNS]
    if fmt == "csv":
        out.write(csv_bytes(header, table_rows(report)))
    else:
        shares = {i: "0.0%" for i, c in enumerate(COLUMNS) if c.kind == "share"}
        write_xlsx(
            out,
            [
                ("Schools", header, table_rows(report), shares),
                _breakdown_sheet(report, "severity", "By severity"),
                _breakdown_sheet(report, "grade", "By grade"),
                _breakdown_sheet(report, "category", "By category"),
                _weekly_sheet(report),
                training_sheet(district_training(report.level, report.min_n, report.period.today, report.groups), cell),
            ],
            notes=about(report),
        )
    audit.record(
        "export.district",
        actor=actor,
        detail={"format": fmt, "level": report.level, "schools": len(report.rows), "period": report.reporting.key},
    )
    return len(report.rows)
