"""Scoped reads of tiers and intervention plans: loaders (404), reviews due, fidelity, coverage counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Float, Integer, Select, bindparam, case, func, select, type_coerce
from sqlalchemy.orm import aliased, joinedload

from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.permissions import scoped_or_404, visible_students
from school_prevention.programs.models import Attendance, Enrollment, ProgramSession
from school_prevention.roles import Role
from school_prevention.students.models import Student
from school_prevention.tiers.models import (
    InterventionPlan,
    ProgressPoint,
    StudentTier,
    TierChange,
    intervention_plan_program,
)
from school_prevention.timezones import district_zone

CURRENT_FLAG = ("open", "monitoring")


def visible_plans(user: User) -> Select:
    """Intervention plans of the students the user may see (counselors and principals of their school)."""
    students = visible_students(user).with_only_columns(Student.id)
    return select(InterventionPlan).where(InterventionPlan.student_id.in_(students))


def get_plan_or_404(user: User, plan_id: int) -> InterventionPlan:
    """A plan of a student in the user's scope; 404 otherwise (locked for a change)."""
    return scoped_or_404(visible_plans(user), InterventionPlan, plan_id)


def current_tier(student_id: int) -> StudentTier | None:
    """The student's tier row (None: tier 1, never moved)."""
    return db.session.get(StudentTier, student_id, populate_existing=True)


def tier_history(student_id: int) -> Select:
    """Every move of the student between tiers, newest first."""
    return select(TierChange).where(TierChange.student_id == student_id).order_by(TierChange.version.desc())


def progress_points(plan_id: int) -> Select:
    """A plan's data points, oldest first."""
    return select(ProgressPoint).where(ProgressPoint.plan_id == plan_id).order_by(ProgressPoint.measured_on)


def reviews_due(counselor: User, today: date) -> Select:
    """Active plans the counselor is responsible for whose review date is today or past, oldest first
    (for the counselor's home page: "plan reviews due"). Only students the counselor may still see."""
    if counselor.role_enum != Role.COUNSELOR:
        return visible_plans(counselor).where(InterventionPlan.id.is_(None))
    return (
        visible_plans(counselor)
        .options(joinedload(InterventionPlan.student))
        .where(
            InterventionPlan.counselor_id == counselor.id,
            InterventionPlan.status == "active",
            InterventionPlan.review_on <= today,
        )
        .order_by(InterventionPlan.review_on, InterventionPlan.id)
    )


@dataclass(frozen=True)
class ProgramFidelity:
    """Sessions of one linked program held while the student was enrolled (since the plan began), and
    how many they attended."""

    program_id: int
    program: str
    offered: int
    attended: int

    @property
    def share(self) -> float | None:
        return self.attended / self.offered if self.offered else None


@dataclass(frozen=True)
class Fidelity:
    """The plan's fidelity: attended / offered over its linked programs."""

    programs: list[ProgramFidelity]

    @property
    def offered(self) -> int:
        return sum(p.offered for p in self.programs)

    @property
    def attended(self) -> int:
        return sum(p.attended for p in self.programs)

    @property
    def share(self) -> float | None:
        return self.attended / self.offered if self.offered else None


def fidelity(plan: InterventionPlan, today: date) -> Fidelity:
    """From the attendance the programs already record: the sessions of the plan's programs held from
    the plan's start to today while the student was enrolled (or marked on the session's roster), and
    those they were marked present at (two queries)."""
    programs = plan.programs
    if not programs:
        return Fidelity([])
    ids = [p.id for p in programs]
    zone = district_zone()
    spans: dict[int, list[tuple[date, date]]] = {}
    for program_id, started_at, ended_at in db.session.execute(
        select(Enrollment.program_id, Enrollment.started_at, Enrollment.ended_at).where(
            Enrollment.student_id == plan.student_id, Enrollment.program_id.in_(ids), Enrollment.started_at.is_not(None)
        )
    ):
        assert started_at is not None  # the query keeps started enrollments only
        spans.setdefault(program_id, []).append(
            (started_at.astimezone(zone).date(), ended_at.astimezone(zone).date() if ended_at else today)
        )
    marked = select(Attendance.session_id).where(Attendance.student_id == plan.student_id)
    present = marked.where(Attendance.status == "present")
    counts: dict[int, list[int]] = {pid: [0, 0] for pid in ids}
    for program_id, held_on, was_marked, was_present in db.session.execute(
        select(
            ProgramSession.program_id,
            ProgramSession.held_on,
            ProgramSession.id.in_(marked),
            ProgramSession.id.in_(present),
        ).where(
            ProgramSession.program_id.in_(ids),
            ProgramSession.held_on >= plan.started_on,
            ProgramSession.held_on <= today,
        )
    ):
        # Offered: held while the student was enrolled, or the program marked them for it (present or not).
        if was_marked or any(start <= held_on <= end for start, end in spans.get(program_id, ())):
            counts[program_id][0] += 1
            counts[program_id][1] += int(bool(was_present))
    return Fidelity([ProgramFidelity(p.id, p.name, *counts[p.id]) for p in programs])


@dataclass(frozen=True)
class TierCoverage:
    """One school's active students by tier, and its flagged students by tier and with a plan."""

    students: dict[int, int]  # tier -> active students
    flagged: dict[int, int]  # tier -> active flagged students
    flagged_with_plan: int
    flagged_total: int

    @property
    def flagged_without_plan(self) -> int:
        return self.flagged_total - self.flagged_with_plan


def tier_coverage(school_id: int) -> TierCoverage:
    """Today's tiers at one school (a student with no tier row is tier 1), in one statement: for the
    principal's and counselors' coverage page (the school's own figures, names not shown)."""
    flagged = select(RiskFlag.id).where(RiskFlag.student_id == Student.id, RiskFlag.status.in_(CURRENT_FLAG)).exists()
    planned = (
        select(InterventionPlan.id)
        .where(InterventionPlan.student_id == Student.id, InterventionPlan.status == "active")
        .exists()
    )
    tier = func.coalesce(StudentTier.tier, 1)
    rows = db.session.execute(
        select(
            tier, func.count(), func.sum(case((flagged, 1), else_=0)), func.sum(case((flagged & planned, 1), else_=0))
        )
        .select_from(Student)
        .outerjoin(StudentTier, StudentTier.student_id == Student.id)
        .where(Student.school_id == school_id, Student.is_active.is_(True))
        .group_by(tier)
    ).all()
    students = dict.fromkeys((1, 2, 3), 0)
    flagged_by = dict.fromkeys((1, 2, 3), 0)
    with_plan = 0
    for t, n, f, p in rows:
        students[int(t)], flagged_by[int(t)] = int(n), int(f or 0)
        with_plan += int(p or 0)
    return TierCoverage(students, flagged_by, with_plan, sum(flagged_by.values()))


def enrolled_programs(student_id: int) -> Select:
    """The programs the student is enrolled in or waiting for: the ones a plan may link."""
    from school_prevention.programs.models import CURRENT_ENROLLMENT, Program

    return (
        select(Program)
        .join(Enrollment, Enrollment.program_id == Program.id)
        .where(Enrollment.student_id == student_id, Enrollment.status.in_(CURRENT_ENROLLMENT))
        .order_by(Program.name)
    )


def plan_program_ids(plan_id: int) -> Select:
    """The ids of the programs linked to a plan."""
    return select(intervention_plan_program.c.program_id).where(intervention_plan_program.c.plan_id == plan_id)


def in_tiers(tiers) -> ColumnElement[bool]:
    """A WHERE clause on Student for the caseload's tier filter: the student is in one of these tiers
    (a student never moved is in tier 1)."""
    current = select(StudentTier.tier).where(StudentTier.student_id == Student.id).scalar_subquery()
    return func.coalesce(current, 1).in_([int(t) for t in tiers])


# Labels are lazy: the caseload's filter shows them in the reader's language.
INTERVENTION_FILTERS = {
    "none": _l("No active intervention plan"),
    "active": _l("Active intervention plan"),
    "review_due": _l("Plan review due"),
}


def intervention_filter(kind: str, today: date) -> ColumnElement[bool]:
    """A WHERE clause on Student for the caseload's intervention filter (INTERVENTION_FILTERS)."""
    active = select(InterventionPlan.id).where(
        InterventionPlan.student_id == Student.id, InterventionPlan.status == "active"
    )
    if kind == "none":
        return ~active.exists()
    if kind == "active":
        return active.exists()
    if kind == "review_due":
        return active.where(InterventionPlan.review_on <= today).exists()
    raise ValueError(f"unknown intervention filter {kind!r}")


def student_page_tier():
    """The student page's tier (pages.students.page_queries makes it a section of the page's one statement):
    (query, named columns, no order), one row: the tier (1 when never moved) and its version (0 when never
    moved), for :student_id."""
    columns = {
        "tier": type_coerce(func.coalesce(StudentTier.tier, 1), Integer),
        "version": type_coerce(func.coalesce(StudentTier.version, 0), Integer),
        "changed_at": StudentTier.changed_at,
    }
    query = (
        select(Student.id)
        .outerjoin(StudentTier, StudentTier.student_id == Student.id)
        .where(Student.id == bindparam("student_id"))
    )
    return query, columns, []


def student_page_interventions():
    """The student page's intervention plans (a section of the page's one statement, like student_page_tier):
    (query, named columns, order), active first, soonest review first, with their data points' count and
    latest value, for :student_id."""
    latest = (
        select(ProgressPoint.value)
        .where(ProgressPoint.plan_id == InterventionPlan.id)
        .order_by(ProgressPoint.measured_on.desc())
        .limit(1)
        .correlate(InterventionPlan)
        .scalar_subquery()
    )
    points = (
        select(func.count())
        .where(ProgressPoint.plan_id == InterventionPlan.id)
        .correlate(InterventionPlan)
        .scalar_subquery()
    )
    counselor = aliased(User)
    columns = {
        "id": InterventionPlan.id,
        "goal": InterventionPlan.goal,
        "measure": InterventionPlan.measure,
        "baseline": InterventionPlan.baseline,
        "target": InterventionPlan.target,
        "started_on": InterventionPlan.started_on,
        "review_on": InterventionPlan.review_on,
        "status": InterventionPlan.status,
        "counselor": counselor.name,
        "points": type_coerce(points, Integer),
        "latest": type_coerce(latest, Float),
    }
    query = (
        select(InterventionPlan.id)
        .outerjoin(counselor, counselor.id == InterventionPlan.counselor_id)
        .where(InterventionPlan.student_id == bindparam("student_id"))
    )
    return query, columns, [InterventionPlan.status != "active", InterventionPlan.review_on, InterventionPlan.id]
