"""A reporting group's suppressed table (its schools and totals), and what breaks its totals down:
the lines by severity, grade and concern, and the weekly trend (see reports.district)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from school_prevention.reports import measures
from school_prevention.reports.columns import (
    COVERAGE,
    COVERAGE_IDENTITY,
    DUE,
    ON_TIME,
    SNAPSHOT,
    SNAPSHOT_BLOCKS,
    SUPPRESSED,
    TREND,
    combine,
    shown,
    week_line,
)
from school_prevention.reports.district_data import Data, month_key
from school_prevention.reports.groups import Group
from school_prevention.reports.periods import ReportingPeriod, month_of
from school_prevention.reports.report import breakdown_lines
from school_prevention.reports.suppression import TOTAL, Block, suppress_alone, suppress_breakdown, suppress_with_totals


@dataclass
class GroupFigures:
    """One group's published cells: its schools' rows and totals row (month columns included)."""

    group: Group
    cells: dict  # school id or TOTAL -> column -> value or SUPPRESSED
    hidden: set
    totals: dict  # column -> the group's total (withheld or not)


def group_table(
    group: Group, values: dict, months: list[str], counts: dict, min_n: int, plain: dict | None = None
) -> GroupFigures:
    """A group's schools and totals, suppressed: the snapshot counts, and check-ins per reporting month.

    plain: the schools' plain figures; a school that runs no program has no seat taken or waited
    for, as anyone can tell from its programs_running: such cells are never complements.
    """
    table = {}
    for school_id in group.school_ids:
        row = {c: values[school_id][c] for c in SNAPSHOT}
        for m in months:
            due, on_time = counts.get(school_id, {}).get(m, (0, 0))
            row[DUE + m], row[ON_TIME + m] = due, on_time
        table[school_id] = row
    blocks = [*SNAPSHOT_BLOCKS, *(Block((p + m,)) for m in months for p in (DUE, ON_TIME))]
    known = no_programs(group.school_ids, plain or {})
    totals, hidden = suppress_with_totals(table, min_n, blocks, known)
    cells: dict[int | str, dict] = {row: shown(v, hidden, row) for row, v in table.items()}  # school ids, and TOTAL
    cells[TOTAL] = shown(totals, hidden, TOTAL)
    return GroupFigures(group, cells, hidden, totals)


def no_programs(school_ids, plain: dict) -> set:
    """Seat cells that are 0 by what is public: of schools that run no program."""
    return {
        (s, c)
        for s in school_ids
        if plain.get(s, {}).get("programs_running", 1) == 0
        for c in ("program_enrolled", "program_waitlisted")
    }


def grades_connected(fig: GroupFigures, lines: dict, by_school_grade) -> bool:
    """Whether, for every count of the grade breakdown, the group's schools and the grades they
    teach form one connected set.

    Anyone may know which grades a school teaches. When the schools split into sets teaching
    different grades (a middle school and a high school), the lines of one set add up to that
    set's schools, one school when the set has one: the breakdown would publish what the school
    table withholds. Connected, the lines and the schools meet only in the group's total. What
    anyone can tell is 0 is left out first: a school whose count is published as 0, and a grade
    whose line is 0 (counts are never negative, so every school's part of it is 0 too).
    """
    members = set(fig.group.school_ids)
    support = [(s, g or "") for s, g, n in by_school_grade if s in members and n]
    seen: dict = {}
    for column, school_column in (("active", "active_students"), *((c, c) for c in COVERAGE)):
        schools = frozenset(s for s in members if fig.cells[s][school_column] != 0)
        grades = frozenset(g for g, line in lines.items() if line.get(column, 0) != 0)
        if (schools, grades) not in seen:  # most columns leave out the same: worked out once
            seen[(schools, grades)] = _connected([(s, g) for s, g in support if s in schools and g in grades])
        if not seen[(schools, grades)]:
            return False
    return True


def _connected(edges) -> bool:
    """Whether a bipartite graph given by its (school, grade) edges is in one piece (no edge: yes)."""
    if not edges:
        return True
    neighbours: dict = defaultdict(list)
    for school, grade in edges:
        neighbours[("s", school)].append(("g", grade))
        neighbours[("g", grade)].append(("s", school))
    start = next(iter(neighbours))
    seen, todo = {start}, [start]
    while todo:
        for other in neighbours[todo.pop()]:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return len(seen) == len(neighbours)


def breakdowns(
    data: Data, figures: list[GroupFigures], min_n: int, names: dict[str, str]
) -> tuple[dict[str, list[dict]], list[Group]]:
    """Grade, severity and concern lines over the groups in view, each group suppressed on its own."""
    tables = _tables(data, figures)
    apart = [
        fig.group
        for fig in figures
        if not grades_connected(fig, tables[(fig.group.key, "grade")], data.by_school_grade)
    ]
    lines_of = _suppressed(figures, tables, apart, min_n)
    out = {dim: _combined(dim, figures, tables, lines_of, names) for dim in ("severity", "grade", "category")}
    return out, apart


def _tables(data: Data, figures: list[GroupFigures]) -> dict:
    """(group key, dim) -> line key -> counts: the coverage lines and active students of each group."""
    level_group = {lv: fig for fig in figures for lv in fig.group.levels}
    school_group = {s: fig for fig in figures for s in fig.group.school_ids}
    tables: dict = defaultdict(lambda: defaultdict(dict))

    def line(fig, dim, key):
        return tables[(fig.group.key, dim)].setdefault(key, dict.fromkeys(("active", *COVERAGE), 0))

    for dim, _, level, key, counts in measures.coverage_lines(data.cover):
        fig = level_group.get(level)
        if dim != "total" and fig is not None:
            target = line(fig, dim, key)
            for name, n in zip(COVERAGE, counts):
                target[name] += n
    for school_id, grade, n in data.by_school_grade:
        fig = school_group.get(school_id)
        if fig is not None:
            line(fig, "grade", grade or "")["active"] += n
    return tables


def _suppressed(figures: list[GroupFigures], tables: dict, apart: list[Group], min_n: int) -> dict:
    """(group key, dim) -> line key -> the line as shown (suppressed per group), or None when not shown."""
    coverage_block = Block(COVERAGE, COVERAGE_IDENTITY)
    lines_of: dict = {}
    for fig in figures:
        total = fig.cells[TOTAL]
        withheld = {c for c in ("active_students", *COVERAGE) if total[c] == SUPPRESSED}
        withheld = {"active" if c == "active_students" else c for c in withheld}
        totals = {"active": fig.totals["active_students"], **{c: fig.totals[c] for c in COVERAGE}}
        for dim in ("severity", "grade", "category"):
            table = tables[(fig.group.key, dim)]
            if dim == "grade" and fig.group in apart:
                lines_of[(fig.group.key, dim)] = None  # not shown: see grades_connected()
                continue
            # Concern lines count a student once per concern, so they add up to at least the
            # total; suppressing them as if they added up to it is the careful side.
            blocks = [coverage_block, Block(("active",))] if dim == "grade" else [coverage_block]
            hidden = suppress_breakdown(table, min_n, blocks, totals, withheld)
            lines_of[(fig.group.key, dim)] = {key: shown(v, hidden, key) for key, v in table.items()}
    return lines_of


def _combined(dim: str, figures: list[GroupFigures], tables: dict, lines_of: dict, names: dict[str, str]) -> list[dict]:
    """One dimension's lines over the groups in view, in the page's order."""
    keys = set().union(*(tables[(fig.group.key, dim)].keys() for fig in figures)) if figures else set()
    cells_by_key = {}
    for key in keys:
        parts = [lines_of[(fig.group.key, dim)] for fig in figures if key in tables[(fig.group.key, dim)]]
        if any(p is None for p in parts):
            continue  # a grade taught in a group whose grade breakdown is not shown
        cells = combine([p[key] for p in parts], ("active", *COVERAGE) if dim == "grade" else COVERAGE)
        if dim == "grade":
            cells["active_students"] = cells.pop("active")
        cells_by_key[key] = cells
    return breakdown_lines(dim, cells_by_key, names, biggest_first=False)


def weeks(period: ReportingPeriod, data: Data, figures: list[GroupFigures], min_n: int) -> list[dict]:
    """Weekly figures of the groups in view: check-ins broken down from each group's monthly totals,
    new flags and seats as counts of their own; summed over the groups.

    Weeks are keyed by their Monday, whatever the period: the same week is suppressed the same way
    in every period that holds it (ties between equal counts are broken by the key).
    """
    weeks = period.weeks()
    mondays = [monday for monday, _ in weeks]
    per_group = []
    for fig in figures:
        cells = {monday: dict.fromkeys(TREND, 0) for monday in mondays}
        for school_id in fig.group.school_ids:
            for monday, (due, on_time) in data.checkin_weeks.get(school_id, {}).items():
                if monday in cells:
                    cells[monday]["checkins_due"] += due
                    cells[monday]["checkins_on_time"] += on_time
        for metric, _, level, week, n in data.activity:
            # week 0 is the period's first Monday: the activity query reads the period alone
            if level in fig.group.levels and week is not None and 0 <= week < len(weeks):
                cells[mondays[week]]["flags_opened" if metric == "flags" else "enrollments_started"] += n
        hidden = set()
        total = fig.cells[TOTAL]
        for m in period.months:
            key = month_key(m)
            rows = {
                monday: {c: cells[monday][c] for c in ("checkins_due", "checkins_on_time")}
                for monday in mondays
                if month_of(monday) == m
            }
            withheld = {
                name
                for name, prefix in (("checkins_due", DUE), ("checkins_on_time", ON_TIME))
                if total[prefix + key] == SUPPRESSED
            }
            month_totals = {"checkins_due": fig.totals[DUE + key], "checkins_on_time": fig.totals[ON_TIME + key]}
            hidden |= suppress_breakdown(
                rows, min_n, [Block(("checkins_due",)), Block(("checkins_on_time",))], month_totals, withheld
            )
        hidden |= suppress_alone(
            {monday: {c: cells[monday][c] for c in ("flags_opened", "enrollments_started")} for monday in mondays},
            min_n,
        )
        per_group.append({monday: shown(v, hidden, monday) for monday, v in cells.items()})
    return [week_line(start, end, combine([g[start] for g in per_group], TREND)) for start, end in weeks]
