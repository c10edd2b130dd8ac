"""The coverage measures: one GROUP BY query per family, shared by the pages, the exports and the benchmark.

What counts (real activity, not labels):
- a *flagged* student is an active student with at least one open or monitoring flag;
- *in a program*: an active enrollment (a seat, not the waitlist) in a program running today
  (marked running, started, not ended);
- *with a check-in plan*: an active plan that has started and not passed its end date, and whose
  check-ins are being kept: one with a check-in still open more than SP_ESCALATION_DAYS after it
  was due (in the last 90 days) does not count until that check-in is closed;
- a check-in is *due* once its on-time deadline (due time + GRACE) has passed; cancelling it after
  its time does not take it out of the count; it is *on time* only when completed with an outcome
  by that deadline.

Each family is built once per shape (dialect, kind of scope, grouping) with bind parameters and
returned as a Measure (statement, parameters): pages pay no statement building per request, and
the benchmark can run exactly the SQL the pages run.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date, Float, Integer, Select, String, and_, bindparam, case, cast, exists, func, literal, null, or_, select, text,
    true, union_all,
)

from school_prevention.auth.models import User, user_school
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.db import UTCDateTime
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory, RiskFlag
from school_prevention.programs.models import CURRENT_ENROLLMENT, Enrollment, Program, ProgramType
from school_prevention.roles import Role
from school_prevention.schools.models import School
from school_prevention.students.models import Student

GRACE = timedelta(hours=24)  # on time: completed with an outcome within a day of the time it was due
STALE_LOOKBACK = timedelta(days=90)
CURRENT_FLAG = ("open", "monitoring")
SEVERITY_RANK = {"low": 1, "moderate": 2, "high": 3, "urgent": 4}
SEVERITY_OF_RANK = {rank: name for name, rank in SEVERITY_RANK.items()}
WINDOWS = {"30d": timedelta(days=30), "90d": timedelta(days=90)}


def _param(name: str, type_=None):
    return bindparam(name, type_=type_) if type_ is not None else bindparam(name)


@dataclass(frozen=True)
class Scope:
    """Which schools: the given ids, or every active school of the district (optionally of one level).

    For the district, queries that do not join the school table are not filtered in SQL: an
    IN (subquery) over the schools makes SQLite loop over them for every row, and the report
    keeps only the rows of the schools it lists anyway. Queries that join the school table (to
    group by level) filter there, at no extra cost.
    """

    school_ids: tuple[int, ...] | None = None
    level: str | None = None

    @property
    def kind(self) -> str:
        return "ids" if self.school_ids is not None else "level" if self.level else "all"

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.school_ids is not None:
            out["school_ids"] = list(self.school_ids)
        if self.level:
            out["level"] = self.level
        return out


def _filter(kind: str, column):
    """WHERE clause on a school id column (true for the whole district)."""
    return column.in_(bindparam("school_ids", expanding=True)) if kind == "ids" else true()


def school_condition(kind: str):
    """WHERE clause on the joined school table for a kind of scope."""
    condition = School.is_active.is_(True)
    if kind == "level":
        condition = and_(condition, School.level == _param("level", String()))
    if kind == "ids":
        condition = and_(condition, School.id.in_(bindparam("school_ids", expanding=True)))
    return condition


@dataclass(frozen=True)
class Period:
    """When the figures are taken (now), and the date range of activity, in the district's zone."""

    now: datetime
    start: date
    end: date
    zone: ZoneInfo
    stale_after_days: int = 7

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def midnight(self, day: date) -> datetime:
        """Local midnight at the start of day, in UTC."""
        return datetime.combine(day, time()).replace(tzinfo=self.zone).astimezone(timezone.utc)

    @property
    def weeks(self) -> list[tuple[date, date]]:
        """Seven-day buckets from the first day of the range; the last one may be shorter."""
        out, day = [], self.start
        while day <= self.end:
            out.append((day, min(day + timedelta(days=6), self.end)))
            day += timedelta(days=7)
        return out

    def windows(self) -> dict[str, tuple[datetime, datetime]]:
        """Due-time bounds [from, to) of the check-ins counted in each adherence window."""
        deadline = self.now - GRACE
        out = {name: (deadline - length, deadline) for name, length in WINDOWS.items()}
        out["period"] = (self.midnight(self.start), min(self.midnight(self.end + timedelta(days=1)), deadline))
        return out

    def params(self) -> dict[str, Any]:
        """The values of the bind parameters the families use."""
        windows = self.windows()
        out: dict[str, Any] = {
            "today": self.today,
            "stale_before": self.now - timedelta(days=self.stale_after_days),
            "stale_since": self.now - STALE_LOOKBACK,
            "week0": self.midnight(self.start).timestamp(),
            "period_from": self.midnight(self.start),
            "period_to": self.midnight(self.end + timedelta(days=1)),
            "span_from": min(low for low, _ in windows.values()),
            "span_to": max(high for _, high in windows.values()),
        }
        for name, (low, high) in windows.items():
            out[f"w{name}_from"], out[f"w{name}_to"] = low, high
        return out


class Measure(NamedTuple):
    """A family's statement and the values of its parameters: db.session.execute(*measure)."""

    statement: Any
    params: dict[str, Any]


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def prepare_session() -> None:
    """On PostgreSQL, run this transaction's report queries with JIT off and an in-memory cost model.

    The planner takes the correlated subqueries for long-running work and JIT-compiles them,
    which alone costs seconds; and the default random_page_cost (made for spinning disks) makes
    it scan a whole table rather than look up one school's rows. SET LOCAL ends with the transaction.
    """
    if _dialect() == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))
        db.session.execute(text("SET LOCAL random_page_cost = 1.1"))


def _epoch(dialect: str, column):
    """Seconds since 1970 of a UTC timestamp column, on either backend."""
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.extract("epoch", column)


def _week_of(dialect: str, column):
    """The 0-based seven-day bucket of a timestamp, counted from the period's first day."""
    weeks = (_epoch(dialect, column) - _param("week0", Float())) / (7 * 86400.0)
    # SQLite's CAST truncates toward zero; floor() keeps days before the period out of week 0 on PostgreSQL.
    return cast(weeks if dialect == "sqlite" else func.floor(weeks), Integer)


# --- the coverage tests, shared by the figures and the list of uncovered students ------------

def running_program() -> list:
    """Conditions on Program: marked running, started and not ended today."""
    today = _param("today", Date())
    return [Program.is_active.is_(True), or_(Program.starts_on.is_(None), Program.starts_on <= today),
            or_(Program.ends_on.is_(None), Program.ends_on >= today)]


def kept_plan() -> list:
    """Conditions on CheckInPlan: active, started, not expired, and its check-ins are being kept."""
    today = _param("today", Date())
    # One probe of the (plan_id, status, due_at) index per plan.
    neglected = exists().where(
        CheckIn.plan_id == CheckInPlan.id, CheckIn.status == "scheduled",
        CheckIn.due_at < _param("stale_before", UTCDateTime()), CheckIn.due_at >= _param("stale_since", UTCDateTime()))
    return [CheckInPlan.status == "active", CheckInPlan.starts_on <= today, CheckInPlan.until >= today, ~neglected]


def in_running_program(student_id=Student.id):
    """EXISTS: the student holds a seat in a program running today."""
    return exists().where(Enrollment.student_id == student_id, Enrollment.status == "active",
                          Program.id == Enrollment.program_id, *running_program())


def with_kept_plan(student_id=Student.id):
    """EXISTS: the student has a started, unexpired check-in plan whose check-ins are being kept."""
    return exists().where(CheckInPlan.student_id == student_id, *kept_plan())


def has_current_flag():
    """EXISTS: the student has an open or monitoring flag."""
    return exists().where(RiskFlag.student_id == Student.id, RiskFlag.status.in_(CURRENT_FLAG))


def severity_rank(column=RiskFlag.severity):
    """A flag's severity as 1 (low) to 4 (urgent), so the highest can be taken with max()."""
    return case(SEVERITY_RANK, value=column, else_=0)


def checkin_on_time():
    """A check-in completed with an outcome by its deadline (due time + GRACE)."""
    return _on_time(_dialect())


def _on_time(dialect: str):
    return and_(CheckIn.status == "completed", CheckIn.outcome.is_not(None), CheckIn.completed_at.is_not(None),
                _epoch(dialect, CheckIn.completed_at) <= _epoch(dialect, CheckIn.due_at) + GRACE.total_seconds())


# --- the families ------------------------------------------------------------------------------

def students_by_grade(scope: Scope) -> Measure:
    """(school_id, grade, active students)."""
    return Measure(_students_by_grade(scope.kind), scope.params())


@lru_cache(maxsize=None)
def _students_by_grade(kind: str):
    return (select(Student.school_id, Student.grade, func.count().label("n"))
            .where(Student.is_active.is_(True), _filter(kind, Student.school_id))
            .group_by(Student.school_id, Student.grade))


def coverage(scope: Scope, period: Period, group: str = "school") -> Measure:
    """Flagged students split four ways (program and plan, program only, plan only, neither).

    Rows (dim, school_id, level, key, key2, flagged, both, program_only, plan_only, neither): dim
    'total' per school; 'grade_severity' (grade, highest current severity) and 'category' per
    school, or per school level when group='level' (school_id then NULL). Read them with
    coverage_lines(). One statement: the flagged students are worked out once (CTEs).
    """
    return Measure(_coverage(_dialect(), scope.kind, group), {**scope.params(), **period.params()})


@lru_cache(maxsize=None)
def _coverage(dialect: str, kind: str, group: str):
    # One row per current flag of an active student (the flags are read once, from their index)...
    rows = (select(RiskFlag.student_id, RiskFlag.category_id, severity_rank().label("severity"),
                   Student.school_id, School.level, Student.grade)
            .select_from(RiskFlag)
            .join(Student, Student.id == RiskFlag.student_id)
            .join(School, School.id == Student.school_id)
            .where(RiskFlag.status.in_(CURRENT_FLAG), Student.is_active.is_(True), _filter(kind, Student.school_id),
                   school_condition(kind))
            .cte("flag_rows"))
    r = rows.c
    # ...then one row per flagged student, with whether a running program and a kept plan cover
    # them (index probes per student on SQLite; hashed subplans on PostgreSQL for the district).
    facts = (select(r.student_id, r.school_id, r.level, r.grade, func.max(r.severity).label("severity"),
                    case((in_running_program(r.student_id), 1), else_=0).label("prog"),
                    case((with_kept_plan(r.student_id), 1), else_=0).label("plan"))
             .group_by(r.student_id, r.school_id, r.level, r.grade)
             .cte("flagged"))
    f = facts.c
    by_category = (select(f.student_id, f.school_id, f.level, f.prog, f.plan, r.category_id)
                   .join(rows, r.student_id == f.student_id)
                   .distinct().subquery("flag_category"))

    def counts(c):
        return (func.count().label("flagged"), func.sum(c.prog * c.plan).label("both"),
                func.sum(c.prog * (1 - c.plan)).label("program_only"),
                func.sum((1 - c.prog) * c.plan).label("plan_only"),
                func.sum((1 - c.prog) * (1 - c.plan)).label("neither"))

    def part(dim: str, source, keys):
        if group == "level":
            school, grouping = cast(null(), Integer), [source.level]
        else:
            school, grouping = source.school_id, [source.school_id, source.level]
        key_columns = [cast(k, String) if k is not None else cast(null(), String) for k in keys]
        query = select(literal(dim, String).label("dim"), school.label("school_id"), source.level.label("level"),
                       key_columns[0].label("key"), key_columns[1].label("key2"), *counts(source))
        return query.group_by(*grouping, *(k for k in keys if k is not None))

    total = (select(literal("total", String).label("dim"), f.school_id, f.level, cast(null(), String).label("key"),
                    cast(null(), String).label("key2"), *counts(f)).group_by(f.school_id, f.level))
    c = by_category.c
    # Grade and severity in one grouping (one sort fewer); coverage_lines() separates them.
    return union_all(total, part("grade_severity", f, (f.grade, f.severity)), part("category", c, (c.category_id, None)))


def coverage_lines(rows):
    """Rows of coverage() as (dim, school_id, level, key, counts): dims total, grade, severity, category.

    counts is [flagged, both, program_only, plan_only, neither]; a grade or a severity may come in
    several lines, to be added up.
    """
    for dim, school_id, level, key, key2, *counts in rows:
        counts = [int(n or 0) for n in counts]
        if dim == "grade_severity":
            yield "grade", school_id, level, key, counts
            yield "severity", school_id, level, key2, counts
        else:
            yield dim, school_id, level, key, counts


def checkins(scope: Scope, period: Period) -> Measure:
    """Check-ins due and on time per school and week: the last 30 and 90 days, and the period.

    Rows (school_id, week, kept, due_30d, due_90d, due_period), read with checkin_lines(); week counts
    seven-day buckets from the first day of the period (rows before it may share a bucket: only the
    period counts are read per week). Check-ins are counted at the school they were scheduled for.
    One pass over the check-ins serves adherence and the weekly trend.
    """
    return Measure(_checkins(_dialect(), scope.kind), {**scope.params(), **period.params()})


@lru_cache(maxsize=None)
def _checkins(dialect: str, kind: str):
    # Whether a check-in was kept is part of the grouping key: worked out once per row, not per window.
    kept = case((_on_time(dialect), 1), else_=0).label("kept")
    week = _week_of(dialect, CheckIn.due_at).label("week")
    columns = [func.count().filter(and_(CheckIn.due_at >= _param(f"w{name}_from", UTCDateTime()),
                                        CheckIn.due_at < _param(f"w{name}_to", UTCDateTime()))).label(f"due_{name}")
               for name in (*WINDOWS, "period")]
    # Cancelling a check-in before its time is planning; cancelling it afterwards does not excuse it.
    counted = or_(CheckIn.status != "cancelled", CheckIn.updated_at > CheckIn.due_at)
    return (select(CheckIn.school_id, week, kept, *columns)
            .where(_filter(kind, CheckIn.school_id), counted,
                   CheckIn.due_at >= _param("span_from", UTCDateTime()), CheckIn.due_at < _param("span_to", UTCDateTime()))
            .group_by(CheckIn.school_id, week, kept))


def checkin_lines(rows):
    """Rows of checkins() as (school_id, week, [due_30d, on_time_30d, due_90d, on_time_90d, due_period, on_time_period])."""
    for school_id, week, kept, *due in rows:
        counts = []
        for n in due:
            counts += [n, n if kept else 0]
        yield school_id, week, counts


def activity(scope: Scope, period: Period, group: str = "school") -> Measure:
    """Weekly flags opened and seats taken over the period: (metric, school_id, level, week, n).

    Grouped per school, or per level when group='level' (school_id then NULL).
    """
    return Measure(_activity(_dialect(), scope.kind, group), {**scope.params(), **period.params()})


@lru_cache(maxsize=None)
def _activity(dialect: str, kind: str, group: str):
    start, end = _param("period_from", UTCDateTime()), _param("period_to", UTCDateTime())

    def grouped(metric, base, column, school_column, where, join):
        week = _week_of(dialect, column).label("week")
        school = cast(null(), Integer) if group == "level" else school_column
        query = (select(literal(metric, String).label("metric"), school.label("school_id"), School.level.label("level"),
                        week, func.count().label("n"))
                 .select_from(base).join(*join).join(School, School.id == school_column)
                 .where(_filter(kind, school_column), school_condition(kind), column >= start, column < end, *where))
        grouping = [School.level, week] if group == "level" else [school_column, School.level, week]
        return query.group_by(*grouping)

    flags = grouped("flags", RiskFlag, RiskFlag.opened_at, Student.school_id, [],
                    (Student, Student.id == RiskFlag.student_id))
    seats = grouped("enrollments", Enrollment, Enrollment.started_at, Program.school_id,
                    [Enrollment.status.in_(("active", "completed", "withdrawn"))],
                    (Program, Program.id == Enrollment.program_id))
    return union_all(flags, seats)


def programs(scope: Scope, period: Period, per_program: bool = True) -> Measure:
    """Running programs with seats, students seated and waiting: per program, or per school.

    Per program: (id, school_id, name, kind, capacity, active, waitlisted);
    per school: (school_id, programs, seats, active, waitlisted).
    """
    return Measure(_programs(scope.kind, per_program), {**scope.params(), "today": period.today})


@lru_cache(maxsize=None)
def _programs(kind: str, per_program: bool):
    listing = (select(Program.id, Program.school_id, Program.name, ProgramType.name.label("kind"), Program.capacity,
                      func.count(Enrollment.id).filter(Enrollment.status == "active").label("active"),
                      func.count(Enrollment.id).filter(Enrollment.status == "waitlisted").label("waitlisted"))
               .join(ProgramType, ProgramType.id == Program.type_id)
               .outerjoin(Enrollment, and_(Enrollment.program_id == Program.id, Enrollment.status.in_(CURRENT_ENROLLMENT)))
               .where(_filter(kind, Program.school_id), *running_program())
               .group_by(Program.id, Program.school_id, Program.name, ProgramType.name, Program.capacity))
    if per_program:
        return listing.order_by(Program.name)
    p = listing.subquery()
    return (select(p.c.school_id, func.count().label("programs"), func.sum(p.c.capacity).label("seats"),
                   func.sum(p.c.active).label("active"), func.sum(p.c.waitlisted).label("waitlisted"))
            .group_by(p.c.school_id))


def counselors(scope: Scope) -> Measure:
    """(school_id, user id, name, number of schools they serve, their active check-in plans)."""
    return Measure(_counselors(scope.kind), scope.params())


@lru_cache(maxsize=None)
def _counselors(kind: str):
    other = user_school.alias("other")
    n_schools = select(func.count()).where(other.c.user_id == User.id).scalar_subquery()
    plans = (select(func.count()).where(CheckInPlan.counselor_id == User.id, CheckInPlan.status == "active")
             .scalar_subquery())
    return (select(user_school.c.school_id, User.id, User.name, n_schools.label("n_schools"), plans.label("plans"))
            .join(User, User.id == user_school.c.user_id)
            .join(School, School.id == user_school.c.school_id)
            .where(User.role == Role.COUNSELOR.value, User.is_active.is_(True), school_condition(kind))
            .order_by(User.name))


def schools(scope: Scope) -> Measure:
    """(id, sourced_id, identifier, name, level) of the active schools in scope, by name."""
    return Measure(_schools(scope.kind), scope.params())


@lru_cache(maxsize=None)
def _schools(kind: str):
    return (select(School.id, School.sourced_id, School.identifier, School.name, School.level)
            .where(school_condition(kind)).order_by(School.name))


def uncovered_students(scoped_students: Select, school_id: int, period: Period) -> Measure:
    """Active flagged students of a school in neither a running program nor a kept plan, most severe first.

    Rows: (Student, highest severity rank, first flagged at, waiting for a seat, an active plan that
    does not count). Starts from the user's scoped student query.
    """
    current = and_(RiskFlag.student_id == Student.id, RiskFlag.status.in_(CURRENT_FLAG))
    top = select(func.max(severity_rank())).where(current).scalar_subquery()
    since = select(func.min(RiskFlag.opened_at)).where(current).scalar_subquery()
    waiting = exists().where(Enrollment.student_id == Student.id, Enrollment.status == "waitlisted")
    lapsed = exists().where(CheckInPlan.student_id == Student.id, CheckInPlan.status == "active")
    statement = (scoped_students
                 .where(Student.school_id == school_id, Student.is_active.is_(True), has_current_flag(),
                        ~in_running_program(), ~with_kept_plan())
                 .add_columns(top.label("severity"), since.label("since"), waiting.label("waiting"),
                              lapsed.label("lapsed"))
                 .order_by(top.desc(), since, Student.family_name, Student.given_name, Student.id))
    return Measure(statement, period.params())


def categories_of(student_ids) -> Select:
    """(student_id, category name) of the current flags of these students."""
    return (select(RiskFlag.student_id, FlagCategory.name)
            .join(FlagCategory, FlagCategory.id == RiskFlag.category_id)
            .where(RiskFlag.student_id.in_(student_ids), RiskFlag.status.in_(CURRENT_FLAG))
            .distinct().order_by(RiskFlag.student_id, FlagCategory.name))
