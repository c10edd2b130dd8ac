"""What the district sees: every page that shows the district a count gets it from here or from
reports.district, so each count goes through the same suppression (reports.suppression) in the
same reporting groups (reports.groups), and a figure is shown or withheld the same way on every
page, chart and export.

- district_release(): the district page and its downloads, for the filters of a form;
- program_seats(): the program list's seats taken and waiting (per program: a breakdown of the
  seats taken at each school, which the district table publishes);
- school_students(): the district home page's active students per school.
"""

from __future__ import annotations

from collections.abc import Hashable
from types import SimpleNamespace

from flask import current_app

from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.reports import measures
from school_prevention.reports.district import (
    SUPPRESSED,
    Report,
    add_up,
    district_report,
    no_programs,
    shown,
)
from school_prevention.reports.forms import DistrictFilterForm
from school_prevention.reports.groups import reporting_groups
from school_prevention.reports.measures import Scope
from school_prevention.reports.periods import FilterError, choose, offered, query_period
from school_prevention.reports.suppression import TOTAL, Block, suppress_alone, suppress_breakdown, suppress_with_totals
from school_prevention.timezones import district_zone

SEATS = ("program_enrolled", "program_waitlisted")


def district_release(form: DistrictFilterForm, *, table_only: bool = False) -> Report | None:
    """The district report a filter form asks for, or None with the reasons on the form's fields.

    Shared by the district page and its downloads, so both read the same choices the same way.
    The form is given the periods and levels to offer either way. table_only: the table of schools
    alone (district_report's table_only), for the CSV export.
    """
    now, zone = utcnow(), district_zone()
    periods = offered(now, zone)
    groups: list = []
    report = None
    if form.validate():
        try:
            period = choose(form.period.data, form.start.data, form.end.data, now, zone)
            if period not in periods:
                periods = [period, *periods]  # an older period asked for by its key
            report = district_report(
                period, form.level.data or None, current_app.config["SP_SUPPRESSION_MIN_N"], now, table_only=table_only
            )
        except FilterError as exc:
            getattr(form, exc.field).errors.append(exc.message)
            groups = getattr(exc, "groups", [])
    if report is not None:
        assert report.reporting is not None  # a district report has its reporting period
        groups = report.groups
        form.period.data, form.level.data = report.reporting.key, report.level or ""
        form.start.data = form.end.data = None
    form.offer(periods, groups if len(groups) > 1 else [])
    return report


def _schools_and_groups():
    """The active schools, their active students, and the district's reporting groups (as district_report makes them)."""
    run = db.session.connection().execute  # Core rows, as the district report reads them
    measures.prepare_session()
    schools = run(*measures.schools(Scope())).all()
    active: dict[int, int] = {}
    for school_id, _, n in run(*measures.students_by_grade(Scope())):
        active[school_id] = active.get(school_id, 0) + n
    groups = reporting_groups(((s.id, s.level) for s in schools), active, current_app.config["SP_SUPPRESSION_MIN_N"])
    return run, schools, active, groups  # (reports.training.reporting_groups_now: the same groups)


def school_students() -> tuple[list, object]:
    """Active schools with their active students, and the district's total, as the district sees them."""
    _, schools, active, _ = _schools_and_groups()
    cells, total = publish_school_students(
        [(s.id, s.level) for s in schools], active, current_app.config["SP_SUPPRESSION_MIN_N"]
    )
    rows = [SimpleNamespace(id=s.id, name=s.name, level=s.level, active_students=cells.get(s.id, 0)) for s in schools]
    return rows, total


def publish_school_students(schools, active, min_n: int) -> tuple[dict[int, object], object]:
    """school_students() from (id, level) of the active schools and their active students: no database."""
    cells, totals = {}, []
    for group in reporting_groups(schools, active, min_n):
        table = {s: {"active_students": active.get(s, 0)} for s in group.school_ids}
        total, hidden = suppress_with_totals(table, min_n, [Block(("active_students",))])
        cells.update({s: shown(v, hidden, s)["active_students"] for s, v in table.items()})
        totals.append(shown(total, hidden, TOTAL)["active_students"])
    return cells, add_up(totals)


def program_seats(programs, seats: dict[int, tuple[int, int]]) -> tuple[dict[int, tuple], dict]:
    """Seats taken and waitlisted per listed program, and their totals, as the district may see them.

    programs: the listed programs; seats: their (seated, waiting), as the program list counts them.
    """
    run, schools, active, _ = _schools_and_groups()
    now, zone = utcnow(), district_zone()
    today = now.astimezone(zone).date()
    period = query_period(now, zone, today, today)
    per_school = run(*measures.programs(Scope(), period, per_program=False)).all()
    running = run(*measures.programs(Scope(), period)).all()
    return publish_program_seats(
        [(s.id, s.level) for s in schools],
        active,
        per_school,
        running,
        [(p.id, p.capacity) for p in programs],
        seats,
        current_app.config["SP_SUPPRESSION_MIN_N"],
    )


def publish_program_seats(
    schools, active, per_school, running, listed, seats, min_n: int
) -> tuple[dict[int, tuple], dict]:
    """program_seats() from the measures' rows: no database (the attacker test runs it).

    A running program's counts add up, with the school's other running programs, to the school's
    seats taken and waitlisted, which the district table publishes (or withholds): they are that
    figure's breakdown, suppressed with it as their total, whatever programs the list shows. A
    program that is not running adds up to nothing published: only its small counts are withheld.
    schools: (id, level) of the active schools; per_school, running: measures.programs() rows per
    school and per program; listed: (id, capacity) of the programs listed.
    """
    groups = reporting_groups(schools, active, min_n)
    active_schools = {school_id for school_id, _ in schools}
    table = {s: dict.fromkeys(SEATS, 0) for s in active_schools}
    plain = {s: {"programs_running": 0} for s in active_schools}
    for school_id, count, _, seated, waiting in per_school:
        if school_id in table:
            table[school_id].update(program_enrolled=int(seated or 0), program_waitlisted=int(waiting or 0))
            plain[school_id]["programs_running"] = int(count)
    withheld: dict[Hashable, set[str]] = {}  # school id -> its withheld columns (cells' row keys are Hashable)
    blocks = [Block((c,)) for c in SEATS]
    for group in groups:
        _, hidden = suppress_with_totals(
            {s: table[s] for s in group.school_ids}, min_n, blocks, no_programs(group.school_ids, plain)
        )
        hidden = {cell for cell in hidden if cell[0] != TOTAL}
        for row, column in hidden:
            withheld.setdefault(row, set()).add(column)
    by_school: dict[int, dict[int, dict]] = {}
    for program_id, school_id, _, _, _, seated, waiting in running:
        if school_id in active_schools:
            by_school.setdefault(school_id, {})[program_id] = {
                "program_enrolled": int(seated or 0),
                "program_waitlisted": int(waiting or 0),
            }
    published: dict[int, dict] = {}
    for school_id, lines in by_school.items():
        hidden = suppress_breakdown(lines, min_n, blocks, table[school_id], withheld.get(school_id, ()))
        published.update({pid: shown(v, hidden, pid) for pid, v in lines.items()})
    out = {}
    for program_id, _ in listed:
        if program_id in published:
            cells = published[program_id]
        else:  # not running, or at a school that is not: counted in no published total
            raw = dict(zip(SEATS, seats.get(program_id, (0, 0))))
            cells = shown(raw, suppress_alone({program_id: raw}, min_n), program_id)
        out[program_id] = (cells["program_enrolled"], cells["program_waitlisted"])
    # A list's totals are given only when every program's figure is shown. Otherwise they are left
    # out (None), not withheld: a list's total is not a figure of the district's release, and
    # whether one could be worked out depends on the list (all of a school's running programs add
    # up to the school's seats taken, which the coverage page may publish).
    totals = {
        "capacity": sum(capacity for _, capacity in listed),
        "active": _given(out[pid][0] for pid, _ in listed),
        "waiting": _given(out[pid][1] for pid, _ in listed),
    }
    return out, totals


def _given(values):
    total = add_up(values)
    return None if total == SUPPRESSED else total
