"""Rows for the reminder and delivery tests: check-ins at exact times, active mentoring matches."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.extensions import db

_occurrence = itertools.count()
_plan_start = itertools.count()


def make_plan(student, counselor) -> CheckInPlan:
    """A weekly plan row; its check-ins are added by make_checkin at whatever times a test needs.

    Each starts on a day of its own: one counselor's active plans with a student never share a first meeting.
    """
    plan = CheckInPlan(
        student_id=student.id,
        school_id=student.school_id,
        counselor_id=counselor.id,
        cadence="weekly",
        local_time=time(10, 0),
        starts_on=date(2029, 8, 1) + timedelta(days=next(_plan_start)),
        until=date(2031, 6, 30),
        status="active",
        created_by_id=counselor.id,
    )
    db.session.add(plan)
    db.session.flush()
    return plan


def make_checkin(
    student, counselor, due_at: datetime, *, plan: CheckInPlan | None = None, status: str = "scheduled", **kw
) -> CheckIn:
    """One check-in due at due_at (aware), on its own plan unless one is given."""
    plan = plan or make_plan(student, counselor)
    if status == "completed":
        kw.setdefault("outcome", "doing_well")
    checkin = CheckIn(
        plan_id=plan.id,
        student_id=student.id,
        school_id=student.school_id,
        counselor_id=counselor.id,
        occurrence=date(2000, 1, 1) + timedelta(days=next(_occurrence)),
        due_at=due_at,
        status=status,
        **kw,
    )
    db.session.add(checkin)
    db.session.flush()
    return checkin


def make_active_match(student, *, matched_on: date, checked_on: date):
    """A matched mentoring pair at the student's school, with a cleared mentor."""
    from school_prevention.programs.models import Match, Mentor

    mentor = Mentor(school_id=student.school_id, name="Mentor Person", background_check_on=checked_on, is_active=True)
    db.session.add(mentor)
    db.session.flush()
    match = Match(
        student_id=student.id, school_id=student.school_id, mentor_id=mentor.id, status="matched", matched_on=matched_on
    )
    db.session.add(match)
    db.session.flush()
    return match
