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

Each family is a plain GROUP BY statement with bind parameters, returned as a Measure (statement,
parameters): the pages, the exports and the benchmark run exactly the same SQL. Each statement is
built once per process and shape (see built()): a request only fills in its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)

from school_prevention.auth.models import User, user_school
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.db import UTCDateTime
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory, RiskFlag
from school_prevention.permissions import StudentScope, visible_students_condition
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
    condition: ColumnElement[bool] = School.is_active.is_(True)
    if kind == "level":
        condition = and_(condition, School.level == _param("level", String()))
    if kind == "ids":
        condition = and_(condition, School.id.in_(bindparam("school_ids", expanding=True)))
    return condition


@dataclass(frozen=True)
class Period:
    """When the figures are taken (now), and the date range of activity, in the district's zone.

    Weeks are calendar weeks, Monday to Sunday, in the district's zone, whatever the first day of
    the range: the first and last may be cut short by the range. rolling=False leaves out the
    adherence windows that end now (the last 30 and 90 days), which the district's fixed
    reporting periods do not use.
    """

    now: datetime
    start: date
    end: date
    zone: ZoneInfo
    stale_after_days: int = 7
    rolling: bool = True

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def midnight(self, day: date) -> datetime:
        """Local midnight at the start of day, in UTC."""
        return datetime.combine(day, time()).replace(tzinfo=self.zone).astimezone(UTC)

    @property
    def first_monday(self) -> date:
        """The Monday of the week the range starts in: week 0 of the weekly figures."""
        return self.start - timedelta(days=self.start.weekday())

    @property
    def weeks(self) -> list[tuple[date, date]]:
        """The calendar weeks of the range (Monday to Sunday), the first and last cut to the range."""
        out, monday = [], self.first_monday
        while monday <= self.end:
            out.append((max(monday, self.start), min(monday + timedelta(days=6), self.end)))
            monday += timedelta(days=7)
        return out

    def windows(self) -> dict[str, tuple[datetime, datetime]]:
        """Due-time bounds [from, to) of the check-ins counted in each adherence window."""
        deadline = self.now - GRACE
        out = {name: (deadline - length, deadline) for name, length in WINDOWS.items()} if self.rolling else {}
        out["period"] = (self.midnight(self.start), min(self.midnight(self.end + timedelta(days=1)), deadline))
        return out

    def params(self) -> dict[str, Any]:
        """The values of the bind parameters the families use."""
        windows = self.windows()
        for name in WINDOWS:  # not counted without rolling windows: an empty range
            windows.setdefault(name, windows["period"][:1] * 2)
        out: dict[str, Any] = {
            "today": self.today,
            "stale_before": self.now - timedelta(days=self.stale_after_days),
            "stale_since": self.now - STALE_LOOKBACK,
            "week0": _local_seconds(self.first_monday),
            "period_from": self.midnight(self.start),
            "period_to": self.midnight(self.end + timedelta(days=1)),
            "span_from": min(low for low, _ in windows.values()),
            "span_to": max(high for _, high in windows.values()),
        }
        for name, (low, high) in windows.items():
            out[f"w{name}_from"], out[f"w{name}_to"] = low, high
        out.update(
            _offset_params(
                self.zone,
                self.midnight(self.first_monday) - timedelta(days=1),
                self.midnight(self.end + timedelta(days=2)),
            )
        )
        return out


def _local_seconds(day: date) -> int:
    """Local midnight of day as seconds on the local clock (counted as if it were UTC)."""
    return int(datetime.combine(day, time()).replace(tzinfo=UTC).timestamp())


# The weekly figures read a timestamp on the local clock: its UTC seconds plus the zone's offset
# at that moment. Within a range the offset changes at a few instants (daylight saving time), each
# a bind parameter; unused slots hold a moment no timestamp reaches.
OFFSET_SLOTS = 4
_NEVER = datetime(9999, 1, 1, tzinfo=UTC)


def _offset(zone: ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None, "an aware datetime always has an offset"
    return int(offset.total_seconds())


@lru_cache(maxsize=256)
def _offset_params(zone: ZoneInfo, first: datetime, last: datetime) -> dict[str, Any]:
    """The zone's UTC offset at `first` and each later instant in [first, last) where it changes."""
    changes, moment, current = [], first, _offset(zone, first)
    offsets = [current]
    while moment < last:
        step = moment + timedelta(hours=6)
        if _offset(zone, step) != current:
            low, high = moment, step  # the change is in (low, high]: find its second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if _offset(zone, middle) == current else (low, middle)
            current = _offset(zone, high)
            changes.append(high.replace(microsecond=0) + (timedelta(seconds=1) if high.microsecond else timedelta()))
            offsets.append(current)
        moment = step
    if len(changes) > OFFSET_SLOTS:
        raise ValueError("a range with more daylight-saving changes than the weekly figures read (about two years)")
    out: dict[str, Any] = {}
    for i in range(OFFSET_SLOTS):
        out[f"tz_change{i}"] = changes[i] if i < len(changes) else _NEVER
    for i in range(OFFSET_SLOTS + 1):
        out[f"tz_offset{i}"] = offsets[min(i, len(offsets) - 1)]
    return out


class Measure(NamedTuple):
    """A family's statement and the values of its parameters: db.session.execute(*measure)."""

    statement: Any
    params: dict[str, Any]


def _dialect() -> str:
    return db.session.get_bind().dialect.name


# The reports' one statement cache. A family's statement depends only on its shape (the dialect,
# the kind of scope, the grouping), never on a request's values, which are bind parameters; so it
# is built at first use and reused. Building one (and SQLAlchemy working out its cache key) costs
# about a millisecond, several per page. There are a few dozen shapes at most: it stays small.
_STATEMENTS: dict[tuple, Any] = {}


def built(build, *shape):
    """The statement build(*shape) returns, built once per process (shape: plain hashable values)."""
    key = (build.__name__, *shape)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build(*shape)
    return statement


def prepare_session() -> None:
    """prepare() on the session's connection: for the queries of this transaction."""
    prepare(db.session.connection())


# One round trip: set_config(..., true) is SET LOCAL as a function.
_POSTGRESQL_SETTINGS = text(
    "SELECT set_config('jit', 'off', true), set_config('random_page_cost', '1.1', true), "
    "set_config('work_mem', '32MB', true), "
    "set_config('max_parallel_workers_per_gather', '0', true)"
)


def prepare(connection) -> None:
    """On PostgreSQL, run this transaction's report queries with JIT off, an in-memory cost model,
    room to aggregate in memory and no parallel workers.

    The planner takes the correlated subqueries for long-running work and JIT-compiles them,
    which alone costs seconds; the default random_page_cost (made for spinning disks) makes it
    scan a whole table rather than look up one school's rows; and with the default work_mem the
    district's aggregates (tens of thousands of groups) spill to disk. A parallel worker takes
    about 20 ms to start, more than it saves on the district's concerns (tens of thousands of
    rows; measured at 200k students). The settings end with the transaction, as SET LOCAL's do.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(_POSTGRESQL_SETTINGS)


def _epoch(dialect: str, column):
    """Seconds since 1970 of a UTC timestamp column, on either backend.

    On PostgreSQL, date_part() (a double) rather than extract() (a numeric, several times slower
    per row): to the microsecond a timestamp keeps, the buckets made from it are the same.
    """
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.date_part("epoch", column)


def _week_of(dialect: str, column):
    """The 0-based calendar week (Monday to Sunday, the district's zone) of a timestamp, from the
    period's first Monday.

    In whole seconds on the local clock, so a week begins exactly at local midnight whatever the
    range asked for (a bucket that moved with the range would let two releases be subtracted).
    Integer division truncates toward zero on both backends, hence the shift by _BEFORE weeks,
    which keeps moments before the first Monday out of week 0.
    """
    seconds = (
        func.unixepoch(column) if dialect == "sqlite" else cast(func.floor(func.date_part("epoch", column)), BigInteger)
    )
    offset = case(
        *(
            (column < _param(f"tz_change{i}", UTCDateTime()), _param(f"tz_offset{i}", Integer()))
            for i in range(OFFSET_SLOTS)
        ),
        else_=_param(f"tz_offset{OFFSET_SLOTS}", Integer()),
    )
    shifted = seconds + offset - _param("week0", BigInteger()) + _BEFORE * _WEEK_SECONDS
    return shifted // _WEEK_SECONDS - _BEFORE


_WEEK_SECONDS = 7 * 86400
_BEFORE = 10_000  # weeks: about 190 years before a period's first Monday still floor correctly


# --- the coverage tests, shared by the figures and the list of uncovered students ------------


def running_program() -> list:
    """Conditions on Program: marked running, started and not ended today."""
    today = _param("today", Date())
    return [
        Program.is_active.is_(True),
        or_(Program.starts_on.is_(None), Program.starts_on <= today),
        or_(Program.ends_on.is_(None), Program.ends_on >= today),
    ]


def kept_plan() -> list:
    """Conditions on CheckInPlan: active, started, not expired, and its check-ins are being kept."""
    today = _param("today", Date())
    # One probe of the (plan_id, status, due_at) index per plan.
    neglected = exists().where(
        CheckIn.plan_id == CheckInPlan.id,
        CheckIn.status == "scheduled",
        CheckIn.due_at < _param("stale_before", UTCDateTime()),
        CheckIn.due_at >= _param("stale_since", UTCDateTime()),
    )
    return [CheckInPlan.status == "active", CheckInPlan.starts_on <= today, CheckInPlan.until >= today, ~neglected]


def in_running_program(student_id=Student.id):
    """EXISTS: the student holds a seat in a program running today."""
    return exists().where(
        Enrollment.student_id == student_id,
        Enrollment.status == "active",
        Program.id == Enrollment.program_id,
        *running_program(),
    )


def with_kept_plan(student_id=Student.id):
    """EXISTS: the student has a started, unexpired check-in plan whose check-ins are being kept."""
    return exists().where(CheckInPlan.student_id == student_id, *kept_plan())


def is_current(status=RiskFlag.status):
    """The flag is open or monitoring, with the values written out: SQLite uses a partial index
    (REPORT_INDEXES) only when the query repeats its condition literally, not as parameters."""
    return status.in_([literal_column(f"'{value}'") for value in CURRENT_FLAG])


def has_current_flag():
    """EXISTS: the student has an open or monitoring flag."""
    return exists().where(RiskFlag.student_id == Student.id, is_current())


def severity_rank(column=RiskFlag.severity):
    """A flag's severity as 1 (low) to 4 (urgent), so the highest can be taken with max()."""
    return case(SEVERITY_RANK, value=column, else_=0)


def checkin_on_time():
    """A check-in completed with an outcome by its deadline (due time + GRACE)."""
    return _on_time(_dialect())


def _on_time(dialect: str):
    if dialect == "sqlite":
        deadline_met = _epoch(dialect, CheckIn.completed_at) <= _epoch(dialect, CheckIn.due_at) + GRACE.total_seconds()
    else:  # timestamp arithmetic: exact, and cheaper than two conversions per row
        deadline_met = CheckIn.completed_at <= CheckIn.due_at + literal_column(
            f"interval '{int(GRACE.total_seconds())} seconds'"
        )
    return and_(
        CheckIn.status == "completed", CheckIn.outcome.is_not(None), CheckIn.completed_at.is_not(None), deadline_met
    )


# --- the families ------------------------------------------------------------------------------


def students_by_grade(scope: Scope) -> Measure:
    """(school_id, grade, active students)."""
    return Measure(built(_students_by_grade, scope.kind), scope.params())


def _students_by_grade(kind: str):
    return (
        select(Student.school_id, Student.grade, func.count().label("n"))
        .where(Student.is_active.is_(True), _filter(kind, Student.school_id))
        .group_by(Student.school_id, Student.grade)
    )


def coverage(scope: Scope, period: Period, group: str = "school") -> Measure:
    """Flagged students split four ways (program and plan, program only, plan only, neither).

    Rows (dim, school_id, level, grade, severity, category, flagged, both, program_only,
    plan_only, neither): dim 'total' per school; 'detail' (grade and highest current severity)
    and 'category' (a student once under each category of their current flags) per school, or
    per school level when group='level' (school_id then NULL). Read them with coverage_lines().

    One statement: the flagged students are worked out once (the CTE `flagged`, one row per
    student), then counted three ways.
    """
    return Measure(built(_coverage, scope.kind, group), {**scope.params(), **period.params()})


def _coverage(kind: str, group: str):
    if kind == "ids":
        # Some schools: their students first (an index range), then their flags.
        per_student = (
            select(
                RiskFlag.student_id,
                Student.school_id,
                School.level,
                Student.grade,
                func.max(severity_rank()).label("severity"),
            )
            .select_from(Student)
            .join(School, School.id == Student.school_id)
            .join(RiskFlag, RiskFlag.student_id == Student.id)
            .where(is_current(), Student.is_active.is_(True), _filter(kind, Student.school_id), school_condition(kind))
            .group_by(RiskFlag.student_id, Student.school_id, School.level, Student.grade)
            .subquery("per_student")
        )
    else:
        # The district: the current flags grouped per student (in student order, from their partial
        # index: no sort), then where each flagged student is.
        highest = (
            select(RiskFlag.student_id, func.max(severity_rank()).label("severity"))
            .where(is_current())
            .group_by(RiskFlag.student_id)
            .subquery("highest")
        )
        per_student = (
            select(highest.c.student_id, Student.school_id, School.level, Student.grade, highest.c.severity)
            .select_from(highest)
            .join(Student, Student.id == highest.c.student_id)
            .join(School, School.id == Student.school_id)
            .where(Student.is_active.is_(True), school_condition(kind))
            .subquery("per_student")
        )
    p = per_student.c
    flagged = select(
        p.student_id,
        p.school_id,
        p.level,
        p.grade,
        p.severity,
        case((in_running_program(p.student_id), 1), else_=0).label("prog"),
        case((with_kept_plan(p.student_id), 1), else_=0).label("plan"),
    ).cte("flagged")
    f = flagged.c

    def counts():
        return (
            func.count().label("flagged"),
            func.sum(f.prog * f.plan).label("both"),
            func.sum(f.prog * (1 - f.plan)).label("program_only"),
            func.sum((1 - f.prog) * f.plan).label("plan_only"),
            func.sum((1 - f.prog) * (1 - f.plan)).label("neither"),
        )

    nothing = cast(null(), String)
    school, grouping = (cast(null(), Integer), [f.level]) if group == "level" else (f.school_id, [f.school_id, f.level])
    total = select(
        literal("total", String).label("dim"),
        f.school_id,
        f.level,
        nothing.label("grade"),
        nothing.label("severity"),
        nothing.label("category"),
        *counts(),
    ).group_by(f.school_id, f.level)
    detail = select(
        literal("detail", String).label("dim"),
        school.label("school_id"),
        f.level,
        f.grade,
        cast(f.severity, String).label("severity"),
        nothing.label("category"),
        *counts(),
    ).group_by(*grouping, f.grade, f.severity)
    # A student once under each category of their current flags, however many flags it has: the
    # students' concerns (distinct pairs, read from the same index range as the flags above), then
    # the flagged students' coverage counted per concern like the other parts.
    concerns = select(RiskFlag.student_id, RiskFlag.category_id).where(is_current())
    if kind == "ids":
        concerns = concerns.join(Student, Student.id == RiskFlag.student_id).where(_filter(kind, Student.school_id))
    concern = concerns.distinct().subquery("concern")
    by_category = (
        select(
            literal("category", String).label("dim"),
            school.label("school_id"),
            f.level,
            nothing.label("grade"),
            nothing.label("severity"),
            cast(concern.c.category_id, String).label("category"),
            *counts(),
        )
        .select_from(flagged)
        .join(concern, concern.c.student_id == f.student_id)
        .group_by(*grouping, concern.c.category_id)
    )
    return union_all(total, detail, by_category)


def coverage_lines(rows):
    """Rows of coverage() as (dim, school_id, level, key, counts): dims total, grade, severity, category.

    counts is [flagged, both, program_only, plan_only, neither]; a key may come in several lines,
    to be added up.
    """
    for dim, school_id, level, grade, severity, category, *counts in rows:
        counts = [int(n or 0) for n in counts]
        if dim == "detail":
            yield "grade", school_id, level, grade or "", counts  # "" for no grade, as students_by_grade reads it
            yield "severity", school_id, level, severity, counts
        else:
            yield dim, school_id, level, category, counts


def checkins(scope: Scope, period: Period) -> Measure:
    """Check-ins due and kept on time, per school and calendar week.

    Rows (school_id, week, due, on_time, then due and on time again for each window: 30d, 90d,
    period); read them with checkin_tallies(). A check-in is counted at the school it was
    scheduled for, once its on-time deadline has passed (span_to).
    """
    return Measure(built(_checkins, _dialect(), scope.kind, period.rolling), {**scope.params(), **period.params()})


def _checkins(dialect: str, kind: str, rolling: bool):
    # Cancelling a check-in before its time is planning; cancelling it afterwards does not excuse it.
    counted = or_(CheckIn.status != "cancelled", CheckIn.updated_at > CheckIn.due_at)
    each = (
        select(
            CheckIn.school_id,
            _week_of(dialect, CheckIn.due_at).label("week"),
            CheckIn.due_at,
            case((_on_time(dialect), 1), else_=0).label("kept"),
        )
        .where(
            _filter(kind, CheckIn.school_id),
            counted,
            CheckIn.due_at >= _param("span_from", UTCDateTime()),
            CheckIn.due_at < _param("span_to", UTCDateTime()),
        )
        .subquery("each_checkin")
    )
    c = each.c

    def within(name: str):
        """Due and on time among the check-ins of a window (each window ends at span_to but the period's)."""
        inside = c.due_at >= _param(f"w{name}_from", UTCDateTime())
        if name == "period":
            inside = and_(inside, c.due_at < _param("wperiod_to", UTCDateTime()))
        return (
            func.sum(case((inside, 1), else_=0)).label(f"due_{name}"),
            func.sum(case((inside, c.kept), else_=0)).label(f"on_time_{name}"),
        )

    if rolling:
        counts = (*within("30d"), *within("90d"), *within("period"))
    else:  # fixed periods only (the district's): every check-in read is in the period
        counts = (
            literal(0).label("due_30d"),
            literal(0).label("on_time_30d"),
            literal(0).label("due_90d"),
            literal(0).label("on_time_90d"),
            func.count().label("due_period"),
            func.sum(c.kept).label("on_time_period"),
        )
    return select(c.school_id, c.week, *counts).group_by(c.school_id, c.week)


class CheckinTally(NamedTuple):
    """One school's check-ins: (due, on time) per window, and per week of the period."""

    school_id: int
    windows: dict[str, tuple[int, int]]  # 30d, 90d, period
    weeks: dict[int, tuple[int, int]]  # week number (from 0) -> (due, on time), weeks with any only


def checkin_tallies(rows) -> list[CheckinTally]:
    """Rows of checkins() as one CheckinTally per school."""
    tallies: dict[int, CheckinTally] = {}
    for school_id, week, *counts in rows:
        due_30d, on_30d, due_90d, on_90d, due_period, on_period = (int(n or 0) for n in counts)
        tally = tallies.get(school_id)
        if tally is None:
            tally = tallies[school_id] = CheckinTally(school_id, dict.fromkeys(("30d", "90d", "period"), (0, 0)), {})
        for name, due, on_time in (
            ("30d", due_30d, on_30d),
            ("90d", due_90d, on_90d),
            ("period", due_period, on_period),
        ):
            old = tally.windows[name]
            tally.windows[name] = (old[0] + due, old[1] + on_time)
        if due_period:
            tally.weeks[int(week)] = (due_period, on_period)
    return list(tallies.values())


def activity(scope: Scope, period: Period, group: str = "school") -> Measure:
    """Flags opened and seats taken per week of the period: rows (metric, school_id, level, week, n).

    Flags come per school, or per level when group='level' (school_id then NULL); seats always
    per school.
    """
    return Measure(built(_activity, _dialect(), scope.kind, group), {**scope.params(), **period.params()})


def _activity(dialect: str, kind: str, group: str):
    start, end = _param("period_from", UTCDateTime()), _param("period_to", UTCDateTime())
    by_level = group == "level"
    flag_week = _week_of(dialect, RiskFlag.opened_at).label("week")
    flag_school = (cast(null(), Integer) if by_level else Student.school_id).label("school_id")
    flags = (
        select(
            literal("flags", String).label("metric"),
            flag_school,
            School.level.label("level"),
            flag_week,
            func.count().label("n"),
        )
        .select_from(RiskFlag)
        .join(Student, Student.id == RiskFlag.student_id)
        .join(School, School.id == Student.school_id)
        .where(
            _filter(kind, Student.school_id),
            school_condition(kind),
            RiskFlag.opened_at >= start,
            RiskFlag.opened_at < end,
        )
        .group_by(*([] if by_level else [Student.school_id]), School.level, flag_week)
    )
    seat_week = _week_of(dialect, Enrollment.started_at).label("week")
    seats = (
        select(
            literal("enrollments", String).label("metric"),
            School.id.label("school_id"),
            School.level.label("level"),
            seat_week,
            func.count().label("n"),
        )
        .select_from(School)
        .join(Program, Program.school_id == School.id)
        .join(Enrollment, Enrollment.program_id == Program.id)
        .where(
            school_condition(kind),
            Enrollment.started_at >= start,
            Enrollment.started_at < end,
            Enrollment.status.in_(("active", "completed", "withdrawn")),
        )
        .group_by(School.id, School.level, seat_week)
    )
    return union_all(flags, seats)


def activity_lines(rows, group: str = "school"):
    """Rows of activity() as (metric, school_id, level, week, n); school_id None when group='level'."""
    for metric, school_id, level, week, n in rows:
        yield metric, None if group == "level" else school_id, level, int(week), int(n)


def programs(scope: Scope, period: Period, per_program: bool = True) -> Measure:
    """Running programs with seats, students seated and waiting: per program, or per school.

    Per program: (id, school_id, name, kind, capacity, active, waitlisted);
    per school: (school_id, programs, seats, active, waitlisted).
    """
    return Measure(built(_programs, scope.kind, per_program), {**scope.params(), "today": period.today})


def _programs(kind: str, per_program: bool):
    if per_program:
        return (
            select(
                Program.id,
                Program.school_id,
                Program.name,
                ProgramType.name.label("kind"),
                Program.capacity,
                func.count(Enrollment.id).filter(Enrollment.status == "active").label("active"),
                func.count(Enrollment.id).filter(Enrollment.status == "waitlisted").label("waitlisted"),
            )
            .join(ProgramType, ProgramType.id == Program.type_id)
            .outerjoin(Enrollment, and_(Enrollment.program_id == Program.id, Enrollment.status.in_(CURRENT_ENROLLMENT)))
            .where(_filter(kind, Program.school_id), *running_program())
            .group_by(Program.id, Program.school_id, Program.name, ProgramType.name, Program.capacity)
            .order_by(Program.name)
        )

    # Per school: the programs in school order, each counting its seats taken and its waitlist
    # from the (program_id, status) index; nothing to join, nothing to sort but 1,500 groups.
    def seats(status: str):
        return (
            select(func.count())
            .where(Enrollment.program_id == Program.id, Enrollment.status == status)
            .scalar_subquery()
        )

    return (
        select(
            Program.school_id,
            func.count().label("programs"),
            func.sum(Program.capacity).label("seats"),
            func.sum(seats("active")).label("active"),
            func.sum(seats("waitlisted")).label("waitlisted"),
        )
        .where(_filter(kind, Program.school_id), *running_program())
        .group_by(Program.school_id)
    )


def counselors(scope: Scope) -> Measure:
    """(school_id, user id, name, number of schools they serve, their active check-in plans)."""
    return Measure(built(_counselors, scope.kind), scope.params())


def _counselors(kind: str):
    other = user_school.alias("other")
    n_schools = select(func.count()).where(other.c.user_id == User.id).scalar_subquery()
    plans = (
        select(func.count())
        .where(CheckInPlan.counselor_id == User.id, CheckInPlan.status == "active")
        .scalar_subquery()
    )
    return (
        select(user_school.c.school_id, User.id, User.name, n_schools.label("n_schools"), plans.label("plans"))
        .join(User, User.id == user_school.c.user_id)
        .join(School, School.id == user_school.c.school_id)
        .where(User.role == Role.COUNSELOR.value, User.is_active.is_(True), school_condition(kind))
        .order_by(User.name)
    )


def schools(scope: Scope) -> Measure:
    """(id, sourced_id, identifier, name, level) of the active schools in scope, by name."""
    return Measure(built(_schools, scope.kind), scope.params())


def _schools(kind: str):
    return (
        select(School.id, School.sourced_id, School.identifier, School.name, School.level)
        .where(school_condition(kind))
        .order_by(School.name)
    )


def uncovered_students(scope: StudentScope, school_id: int, period: Period, limit: int | None = None) -> Measure:
    """Active flagged students of a school in neither a running program nor a kept plan, most severe first.

    Rows: (id, family_name, given_name, preferred_name, grade, highest severity rank, first
    flagged at, waiting for a seat, the id of an active plan that does not count or None), at most `limit`. Starts
    from the user's scope of students (permissions.student_scope()).
    """
    return Measure(
        built(_uncovered_students, scope.kind, limit),
        {**period.params(), **scope.params(), "uncovered_school_id": school_id},
    )


def _uncovered_students(kind: str, limit: int | None):
    current = and_(RiskFlag.student_id == Student.id, is_current())
    top = select(func.max(severity_rank())).where(current).scalar_subquery()
    since = select(func.min(RiskFlag.opened_at)).where(current).scalar_subquery()
    waiting = exists().where(Enrollment.student_id == Student.id, Enrollment.status == "waitlisted")
    # The newest active plan that does not count (not kept or not started): the list opens it rather than a blank form.
    lapsed = (
        select(func.max(CheckInPlan.id))
        .where(CheckInPlan.student_id == Student.id, CheckInPlan.status == "active")
        .scalar_subquery()
    )
    # Columns, not Student entities: the list shows a name, a grade and links by id, and the ORM
    # would join every student's school for nothing (Student.school is eager).
    return (
        select(
            Student.id,
            Student.family_name,
            Student.given_name,
            Student.preferred_name,
            Student.grade,
            top.label("severity"),
            since.label("since"),
            waiting.label("waiting"),
            lapsed.label("plan_id"),
        )
        .where(
            visible_students_condition(kind),  # the scope stays in SQL, whatever the caller checked
            Student.school_id == bindparam("uncovered_school_id"),
            Student.is_active.is_(True),
            has_current_flag(),
            ~in_running_program(),
            ~with_kept_plan(),
        )
        .order_by(top.desc(), since, Student.family_name, Student.given_name, Student.id)
        .limit(limit)
    )


def categories_of(student_ids) -> Measure:
    """(student_id, category name) of the current flags of these students."""
    return Measure(built(_categories_of), {"student_ids": list(student_ids)})


def _categories_of():
    return (
        select(RiskFlag.student_id, FlagCategory.name)
        .join(FlagCategory, FlagCategory.id == RiskFlag.category_id)
        .where(RiskFlag.student_id.in_(bindparam("student_ids", expanding=True)), is_current())
        .distinct()
        .order_by(RiskFlag.student_id, FlagCategory.name)
    )
