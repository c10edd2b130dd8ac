"""The caseload: the student list's filters, sorts and per-student facts, in one statement per page.

What the filters mean, so the list, the home page's cards and the coverage page agree:
- a *current* flag is open or monitoring; category, severity and status filter one flag together;
- *in a program* means an active seat in a program running today (coverage's definition);
- a *kept* plan is coverage's: active, started, not past its end, and no check-in of it left open
  more than SP_ESCALATION_DAYS after it was due (in the last 90 days); an *overdue* plan is an
  active plan with such a check-in and no kept plan beside it;
- *overdue check-ins* are scheduled check-ins whose time has passed (as under "My check-ins").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import aliased

from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.db import utcnow
from school_prevention.flags.models import FlagCategory, RiskFlag
from school_prevention.forms import whole_number
from school_prevention.programs.models import Enrollment, Program
from school_prevention.students.models import CounselorAssignment, Student
from school_prevention.students.queries import search_students
from school_prevention.tiers.queries import in_tiers, intervention_filter
from school_prevention.timezones import district_zone

CURRENT_FLAG = ("open", "monitoring")
SEVERITY_RANK = {"low": 1, "moderate": 2, "high": 3, "urgent": 4}
SEVERITY_OF_RANK = {rank: name for name, rank in SEVERITY_RANK.items()}
STALE_LOOKBACK = timedelta(days=90)  # as reports.measures: older open check-ins no longer hold a plan back
PLAN_STATES = {"none": "No plan", "kept": "Plan kept", "overdue": "Plan overdue", "later": "Plan not running"}
SORTS = {"name": _l("Name"), "severity": _l("Most severe flag first"), "last_contact": _l("Longest since last contact")}


@dataclass(frozen=True)
class Filters:
    """The list's filters as read from the query string (empty string or None: not filtered)."""

    q: str | None = None
    school_id: int | None = None
    grade: str | None = None
    include_inactive: bool = False
    category_id: int | None = None
    severity: str | None = None
    flag_status: str | None = None  # current, open, monitoring, resolved
    program: str | None = None  # any, none, waitlisted, or a program id
    plan: str | None = None  # none, kept, overdue, not_kept
    checkins: str | None = None  # overdue, today
    counselor: str | None = None  # me, none, or a counselor's id
    tier: str | None = None  # 1, 2 or 3 (MTSS tier; a student never moved is in tier 1)
    intervention: str | None = None  # none, active, review_due (tiers.queries.INTERVENTION_FILTERS)
    sort: str = "name"


@dataclass(frozen=True)
class Clock:
    """The moments the filters are measured against: now, the district's today and its bounds in UTC."""

    now: datetime
    today: date
    today_starts: datetime
    tomorrow_starts: datetime
    stale_after_days: int = 7

    @property
    def stale_before(self) -> datetime:
        return self.now - timedelta(days=self.stale_after_days)


def clock(now: datetime | None = None) -> Clock:
    """Now, the district's today and its bounds, and the escalation days, for the caseload's filters."""
    now = now or utcnow()
    zone = district_zone()
    today = now.astimezone(zone).date()
    starts = datetime.combine(today, time()).replace(tzinfo=zone)
    return Clock(
        now=now,
        today=today,
        today_starts=starts,
        tomorrow_starts=starts + timedelta(days=1),
        stale_after_days=current_app.config.get("SP_ESCALATION_DAYS", 7),
    )


class CaseloadRow(NamedTuple):
    """One student of the list, with what the list shows beside the name."""

    student: Student
    severity: int | None
    last_contact: datetime | None
    plan_state: str
    overdue: int
    counselor: str | None

    @property
    def severity_label(self) -> str | None:
        return SEVERITY_OF_RANK.get(self.severity or 0)

    @property
    def plan_label(self) -> str:
        return PLAN_STATES[self.plan_state]


def _current(status=RiskFlag.status):
    return status.in_(CURRENT_FLAG)


def _rank(column=RiskFlag.severity):
    return case(SEVERITY_RANK, value=column, else_=0)


def running_seat(student_id=Student.id, today: date | None = None):
    """EXISTS: an active seat in a program running today (reports.measures.in_running_program)."""
    return exists().where(
        Enrollment.student_id == student_id,
        Enrollment.status == "active",
        Program.id == Enrollment.program_id,
        Program.is_active.is_(True),
        or_(Program.starts_on.is_(None), Program.starts_on <= today),
        or_(Program.ends_on.is_(None), Program.ends_on >= today),
    )


def _neglected(clock: Clock, plan=CheckInPlan):
    """EXISTS: a check-in of the plan still open more than the escalation days after it was due."""
    return exists().where(
        CheckIn.plan_id == plan.id,
        CheckIn.status == "scheduled",
        CheckIn.due_at < clock.stale_before,
        CheckIn.due_at >= clock.now - STALE_LOOKBACK,
    )


def kept_plan(clock: Clock, student_id=Student.id):
    """EXISTS: a started, unexpired active plan whose check-ins are kept (reports.measures.with_kept_plan)."""
    return exists().where(
        CheckInPlan.student_id == student_id,
        CheckInPlan.status == "active",
        CheckInPlan.starts_on <= clock.today,
        CheckInPlan.until >= clock.today,
        ~_neglected(clock),
    )


def active_plan(student_id=Student.id):
    """EXISTS: the student has an active check-in plan (running or not yet started)."""
    return exists().where(CheckInPlan.student_id == student_id, CheckInPlan.status == "active")


def overdue_plan(clock: Clock, student_id=Student.id):
    """EXISTS: an active plan with a check-in left open past the escalation days."""
    return exists().where(CheckInPlan.student_id == student_id, CheckInPlan.status == "active", _neglected(clock))


def overdue_checkins(clock: Clock, student_id=Student.id):
    """EXISTS: a scheduled check-in whose time has passed."""
    return exists().where(CheckIn.student_id == student_id, CheckIn.status == "scheduled", CheckIn.due_at < clock.now)


def checkins_today(clock: Clock, student_id=Student.id):
    """EXISTS: a scheduled check-in due later today (district time)."""
    return exists().where(
        CheckIn.student_id == student_id,
        CheckIn.status == "scheduled",
        CheckIn.due_at >= clock.now,
        CheckIn.due_at < clock.tomorrow_starts,
    )


def _flag_condition(f: Filters):
    if not (f.category_id or f.severity or f.flag_status):
        return None
    conditions = [RiskFlag.student_id == Student.id]
    if f.flag_status in (None, "", "current"):
        conditions.append(_current())
    else:
        conditions.append(RiskFlag.status == f.flag_status)
    if f.category_id:
        conditions.append(RiskFlag.category_id == f.category_id)
    if f.severity:
        conditions.append(RiskFlag.severity == f.severity)
    return exists().where(*conditions)


def _program_condition(f: Filters, clock: Clock):
    if f.program == "any":
        return running_seat(today=clock.today)
    if f.program == "none":
        return ~running_seat(today=clock.today)
    if f.program == "waitlisted":
        return exists().where(Enrollment.student_id == Student.id, Enrollment.status == "waitlisted")
    if whole_number(f.program) is not None:
        return exists().where(
            Enrollment.student_id == Student.id,
            Enrollment.program_id == whole_number(f.program),
            Enrollment.status.in_(("active", "waitlisted")),
        )
    return None


def _plan_condition(f: Filters, clock: Clock):
    if f.plan == "none":
        return ~active_plan()
    if f.plan == "kept":
        return kept_plan(clock)
    if f.plan == "overdue":
        return and_(overdue_plan(clock), ~kept_plan(clock))
    if f.plan == "not_kept":
        return ~kept_plan(clock)
    return None


def _checkins_condition(f: Filters, clock: Clock):
    if f.checkins == "overdue":
        return overdue_checkins(clock)
    if f.checkins == "today":
        return checkins_today(clock)
    return None


def _counselor_condition(f: Filters, user_id: int):
    # The caseload query outer-joins each student's assignment (one row at most: the student is its key).
    if f.counselor == "me":
        return CounselorAssignment.counselor_id == user_id
    if f.counselor == "none":
        return CounselorAssignment.counselor_id.is_(None)
    if whole_number(f.counselor) is not None:
        return CounselorAssignment.counselor_id == whole_number(f.counselor)
    return None


def _conditions(f: Filters, clock: Clock, user_id: int) -> list[Any]:
    out: list[Any] = [
        _flag_condition(f),
        _program_condition(f, clock),
        _plan_condition(f, clock),
        _checkins_condition(f, clock),
        _counselor_condition(f, user_id),
    ]
    if f.tier:
        out.append(in_tiers([f.tier]))
    if f.intervention:
        out.append(intervention_filter(f.intervention, clock.today))
    # A SQL expression has no truth value: compare with None.
    return [c for c in out if c is not None]


def caseload(scoped: Select, f: Filters, clock: Clock, user_id: int) -> Select:
    """The students of a scoped query that pass the filters, with their facts, in the chosen order.

    Rows: (Student, highest current severity rank, last completed check-in, plan state, overdue
    check-ins, assigned counselor's name). Every fact is a correlated subquery on indexed columns,
    so a page of 50 costs one statement whatever the students have.
    """
    base = search_students(
        scoped, q=f.q, school_id=f.school_id, grade=f.grade, include_inactive=f.include_inactive
    ).order_by(None)
    current = and_(RiskFlag.student_id == Student.id, _current())
    severity = select(func.max(_rank())).where(current).scalar_subquery()
    last_contact = (
        select(func.max(CheckIn.due_at))
        .where(CheckIn.student_id == Student.id, CheckIn.status == "completed")
        .scalar_subquery()
    )
    plan_state = case(
        (kept_plan(clock), literal("kept")),
        (overdue_plan(clock), literal("overdue")),
        (active_plan(), literal("later")),
        else_=literal("none"),
    )
    overdue = (
        select(func.count())
        .select_from(CheckIn)
        .where(CheckIn.student_id == Student.id, CheckIn.status == "scheduled", CheckIn.due_at < clock.now)
        .scalar_subquery()
    )
    counselor = aliased(User)
    query = (
        base.outerjoin(CounselorAssignment, CounselorAssignment.student_id == Student.id)
        .outerjoin(counselor, counselor.id == CounselorAssignment.counselor_id)
        .add_columns(
            severity.label("severity"),
            last_contact.label("last_contact"),
            plan_state.label("plan_state"),
            overdue.label("overdue"),
            counselor.name.label("counselor"),
        )
        .where(*_conditions(f, clock, user_id))
    )
    by_name = [func.lower(Student.family_name), func.lower(Student.given_name), Student.id]
    if f.sort == "severity":
        return query.order_by(func.coalesce(severity, 0).desc(), *by_name)
    if f.sort == "last_contact":  # never seen first, then longest ago
        return query.order_by(case((last_contact.is_(None), 0), else_=1), last_contact, *by_name)
    return query.order_by(*by_name)


def count_of(query: Select) -> Select:
    """How many students the caseload query lists."""
    return select(func.count()).select_from(query.order_by(None).with_only_columns(Student.id).subquery())


def current_categories(student_ids: list[int]) -> Select:
    """(student_id, category, severity) of the current flags of these students, most severe first."""
    return (
        select(RiskFlag.student_id, FlagCategory.name, RiskFlag.severity)
        .join(FlagCategory, FlagCategory.id == RiskFlag.category_id)
        .where(RiskFlag.student_id.in_(student_ids), _current())
        .order_by(RiskFlag.student_id, _rank().desc(), FlagCategory.position, FlagCategory.name)
    )


@dataclass
class Page:
    """A page of caseload rows, with what the pager macro reads."""

    items: list[CaseloadRow]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def next_num(self) -> int:
        return self.page + 1
