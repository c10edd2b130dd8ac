"""The one report model: a scope's figures before suppression, read in one moment by plain GROUP BY statements.

A school's page (reports.coverage.school_report) and the district's page and exports
(reports.district) read the same Figures, gathered by gather() for their scope: one school (its
breakdowns per school), or every active school of the district (breakdowns per school level),
and give them one shape, reports.report.Report.
Nothing here is shown as it is: the school page shows one school to the people who work there,
and every figure the district sees goes through reports.suppression first.

The figures are read live, every time: an enrollment saved a moment ago is in the next page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection, Engine

from school_prevention.agencies.queries import flagged_supported_by_school
from school_prevention.extensions import db
from school_prevention.reports import measures
from school_prevention.reports.measures import CheckinTally, Period, Scope


@dataclass
class Figures:
    """A scope's rows, as the measures return them (what the benchmark calls the floor).

    check-ins come as (due, on time) per school and week (keyed by the week's Monday), and, for
    the rolling windows of a school's page, per school (`tallies`); activity as
    measures.activity_lines() reads it.
    """

    schools: list
    by_school_grade: list
    cover: list
    programs: list
    counselors: list
    activity: list
    outside: list = field(default_factory=list)  # (school_id, flagged students an outside agency supports)
    checkin_weeks: dict[int, dict[date, tuple[int, int]]] = field(default_factory=dict)
    tallies: list[CheckinTally] = field(default_factory=list)


@contextmanager
def one_moment(session) -> Iterator[Connection]:
    """A connection on which every query of a report reads the same moment of the database.

    The figures are linked (the four coverage parts add up to the flagged students, a school's
    months to its term), and suppression relies on it: a record saved between two queries must
    be in both or in neither.
    - SQLite: the session's own connection; its transaction is one snapshot, and it holds the
      write lock (db.py: BEGIN IMMEDIATE), so nobody saves in between.
    - PostgreSQL: the request's transaction is READ COMMITTED, a new moment per statement, so
      the report reads on a connection of its own in one REPEATABLE READ, READ ONLY transaction.
      A session bound to one connection (the tests' per-test transaction, whose rows no other
      connection sees) reads on that one.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or not isinstance(bind, Engine):
        connection = session.connection()
        measures.prepare(connection)
        yield connection
        return
    with bind.connect() as connection:
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        measures.prepare(connection)
        try:
            yield connection
        finally:
            connection.rollback()  # read only: nothing to keep


def _weeks_by_monday(rows, period: Period, into: dict) -> None:
    """Add each school's weekly check-ins of a period (rows of measures.checkins) to `into`
    (school id -> Monday -> (due, on time)), the weeks with any due only."""
    first = period.first_monday
    mondays = {  # week number -> its Monday, for the weeks that meet the period (the same few dozen for every school)
        week: first + timedelta(days=7 * week) for week in range((period.end - first).days // 7 + 1)
    }
    for school_id, week, *_windows, due, on_time in rows:
        mine = into.setdefault(school_id, {})
        monday = mondays.get(int(week))
        if due and monday is not None:
            mine[monday] = (int(due), int(on_time or 0))


def statements(
    scope: Scope,
    period: Period,
    *,
    district: bool = False,
    activity: Period | None = None,
    more_checkins: Period | None = None,
    table_only: bool = False,
) -> dict[str, measures.Measure]:
    """The statements of gather(), by name (the benchmark runs them bare for its floor)."""
    group = "level" if district else "school"
    named = {
        "schools": measures.schools(scope),
        "by_school_grade": measures.students_by_grade(scope),
        # The same coverage statement for a table alone: with only its totals, PostgreSQL plans the
        # flagged students' CTE inline and takes longer (640 ms against 384 ms at a million students).
        "cover": measures.coverage(scope, period, group=group),
        "checkins": measures.checkins(scope, period),
        "programs": measures.programs(scope, period, per_program=not district),
        "counselors": measures.counselors(scope),
    }
    if not table_only:
        named["activity"] = measures.activity(scope, activity or period, group=group)
    if district:
        # Not filtered by scope: the report reads only the schools it lists (see measures.Scope).
        named["outside"] = measures.Measure(flagged_supported_by_school(), {})
    if more_checkins is not None:
        named["more_checkins"] = measures.checkins(scope, more_checkins)
    return named


def gather(
    scope: Scope,
    period: Period,
    *,
    district: bool = False,
    activity: Period | None = None,
    more_checkins: Period | None = None,
    table_only: bool = False,
) -> Figures:
    """The figures of a scope: one statement per family, run one after another in one moment.

    district=True groups the breakdowns and the activity by school level (a school's page: by
    school), counts the programs per school (a school's page lists them) and adds the flagged
    students outside agencies support. period: the check-ins read; activity: the period of the
    weekly new flags and seats (default: period); more_checkins: a second span of check-ins (the
    district's last three months, when they are apart from the period asked for). table_only: what a
    table of schools needs (the CSV export), without the breakdowns' and the weekly activity's rows.
    """
    group = "level" if district else "school"
    named = statements(
        scope, period, district=district, activity=activity, more_checkins=more_checkins, table_only=table_only
    )
    with one_moment(db.session) as connection:
        # list(): the dataclass keeps lists (Result.all() is typed as a Sequence; it is a list already)
        rows = {name: list(connection.execute(statement, params).all()) for name, (statement, params) in named.items()}
    weeks: dict[int, dict[date, tuple[int, int]]] = {}
    _weeks_by_monday(rows["checkins"], period, weeks)
    if more_checkins is not None:
        _weeks_by_monday(rows["more_checkins"], more_checkins, weeks)
    # The rolling windows (the last 30 and 90 days) are a school page's; the district's periods are fixed.
    tallies = measures.checkin_tallies(rows["checkins"]) if period.rolling else []
    return Figures(
        schools=rows["schools"],
        by_school_grade=rows["by_school_grade"],
        cover=rows["cover"],
        programs=rows["programs"],
        counselors=rows["counselors"],
        activity=list(measures.activity_lines(rows.get("activity", []), group)),
        outside=rows.get("outside", []),
        checkin_weeks=weeks,
        tallies=tallies,
    )
