"""Queries for check-ins: a counselor's agenda, a student's plans, adherence."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, false, func, select
from sqlalchemy.orm import selectinload

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckIn, CheckInPlan, NonSchoolDay
from school_prevention.permissions import assigned_school_ids, scoped_or_404
from school_prevention.roles import Role


def agenda(scoped: Select, counselor_id: int, now: datetime, week_end: datetime) -> Select:
    """The counselor's open check-ins due before week_end (overdue ones included), oldest first."""
    return (
        scoped.where(
            CheckIn.counselor_id == counselor_id,
            CheckIn.status == "scheduled",
            CheckIn.due_at < week_end,
            CheckIn.due_at > now - timedelta(days=120),
        )
        .order_by(CheckIn.due_at)
        .options(selectinload(CheckIn.student))
    )  # the list names each student


def recently_done(scoped: Select, counselor_id: int, now: datetime) -> Select:
    """What the counselor closed in the last two weeks, newest first."""
    return (
        scoped.where(
            CheckIn.counselor_id == counselor_id,
            CheckIn.status.in_(("completed", "missed")),
            CheckIn.due_at > now - timedelta(days=14),
            CheckIn.due_at <= now + timedelta(days=1),
        )
        .order_by(CheckIn.due_at.desc())
        .limit(20)
        .options(selectinload(CheckIn.student))
    )


def plans_of_student(scoped: Select, student_id: int) -> Select:
    """A student's plans, active first."""
    return scoped.where(CheckInPlan.student_id == student_id).order_by(
        CheckInPlan.status, CheckInPlan.created_at.desc()
    )


def checkins_of_plan(plan_id: int) -> Select:
    """A plan's check-ins by time."""
    return select(CheckIn).where(CheckIn.plan_id == plan_id).order_by(CheckIn.due_at)


def student_checkin_summary(student_id: int, now: datetime) -> dict:
    """Next due, overdue count and last completed for a student (what a principal may see too)."""
    row = db_row(
        select(
            func.min(CheckIn.due_at).filter(CheckIn.status == "scheduled", CheckIn.due_at >= now),
            func.count().filter(CheckIn.status == "scheduled", CheckIn.due_at < now),
            func.max(CheckIn.due_at).filter(CheckIn.status == "completed"),
            func.count().filter(CheckIn.status == "completed"),
        ).where(CheckIn.student_id == student_id)
    )
    return {"next_due": row[0], "overdue": row[1], "last_completed": row[2], "completed": row[3]}


def student_page_plans():
    """The student page's active check-in plans (pages.students.page_queries makes it a section of the
    page's one statement): (query, named columns, order), oldest first, with their counselor's name,
    for :student_id."""
    columns = {
        "id": CheckInPlan.id,
        "cadence": CheckInPlan.cadence,
        "rrule": CheckInPlan.rrule,
        "local_time": CheckInPlan.local_time,
        "until": CheckInPlan.until,
        "needs_handoff": CheckInPlan.needs_handoff,
        "counselor": User.name,
    }
    query = (
        select(CheckInPlan.id)
        .join(User, User.id == CheckInPlan.counselor_id)
        .where(CheckInPlan.student_id == bindparam("student_id"), CheckInPlan.status == "active")
    )
    return query, columns, [CheckInPlan.created_at, CheckInPlan.id]


def student_page_summary():
    """The student page's check-in summary, student_checkin_summary's figures as one row of a section of
    the page's one statement: (query, named columns, no order), for :student_id at :now."""
    now = bindparam("now", type_=CheckIn.due_at.type)
    columns = {
        "next_due": func.min(CheckIn.due_at).filter(CheckIn.status == "scheduled", CheckIn.due_at >= now),
        "overdue": func.count().filter(CheckIn.status == "scheduled", CheckIn.due_at < now),
        "last_completed": func.max(CheckIn.due_at).filter(CheckIn.status == "completed"),
        "completed": func.count().filter(CheckIn.status == "completed"),
    }
    return select(CheckIn.id).where(CheckIn.student_id == bindparam("student_id")), columns, []


def db_row(query: Select):
    from school_prevention.extensions import db

    return db.session.execute(query).one()


def handoff_plans(scoped: Select) -> Select:
    """Active plans whose student moved to one of these schools: the new counselor takes them over."""
    return scoped.where(CheckInPlan.status == "active", CheckInPlan.needs_handoff.is_(True)).options(
        selectinload(CheckInPlan.student)
    )


def non_school_days(from_day) -> Select:
    """The non-school days from a date on."""
    return select(NonSchoolDay).where(NonSchoolDay.day >= from_day).order_by(NonSchoolDay.day)


def last_action(actions: tuple[str, ...], object_type: str, object_id: int, student_id: int | None = None) -> Select:
    """(actor's name, time) of the latest audit row of these actions on one object.

    For the message to someone whose change was already made ("already cancelled by … (when)"):
    the audit row is written in the same transaction as the change it describes. Rows about a
    student are found through the student's index.
    """
    query = (
        select(User.name, AuditEvent.at)
        .select_from(AuditEvent)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(
            AuditEvent.action.in_(actions),
            AuditEvent.object_type == object_type,
            AuditEvent.object_id == str(object_id),
        )
    )
    if student_id is not None:
        query = query.where(AuditEvent.student_id == student_id)
    return query.order_by(AuditEvent.id.desc()).limit(1)


def visible_checkin_plans(user: User) -> Select:
    """Check-in plans of students at the counselor's schools."""
    if user.role_enum != Role.COUNSELOR:
        return select(CheckInPlan).where(false())
    return select(CheckInPlan).where(CheckInPlan.school_id.in_(assigned_school_ids(user)))


def get_checkin_plan_or_404(user: User, plan_id: int):
    """A plan of a student at one of the counselor's schools; 404 otherwise."""
    return scoped_or_404(visible_checkin_plans(user), CheckInPlan, plan_id)


def visible_checkins(user: User) -> Select:
    """Check-ins of students at the counselor's schools."""
    if user.role_enum != Role.COUNSELOR:
        return select(CheckIn).where(false())
    return select(CheckIn).where(CheckIn.school_id.in_(assigned_school_ids(user)))


def get_checkin_or_404(user: User, checkin_id: int):
    """A check-in of a student at one of the counselor's schools; 404 otherwise."""
    return scoped_or_404(visible_checkins(user), CheckIn, checkin_id)
