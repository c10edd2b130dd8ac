"""Move a student between tiers; make, monitor and review intervention plans. Explicit actor, flush, no commit."""

from __future__ import annotations

import math
from datetime import date

from flask_babel import gettext
from sqlalchemy import select

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError, refuse
from school_prevention.extensions import db
from school_prevention.i18n import N_, format_local
from school_prevention.programs.models import Program
from school_prevention.students.models import Student
from school_prevention.tiers.models import (
    CLOSED_STATUSES,
    PLAN_STATUSES,
    TIERS,
    InterventionPlan,
    ProgressPoint,
    StudentTier,
    TierChange,
)
from school_prevention.tiers.queries import enrolled_programs
from school_prevention.timezones import localtime

MAX_VALUE = 1e9  # a measure beyond this is a typing slip, not a child's score
MAX_PLAN_DAYS = 400


def _lock_student(student: Student) -> None:
    """Hold the student's row until the request commits (FOR UPDATE on PostgreSQL; SQLite's request
    already holds the write lock): two counselors changing one student's tier take turns."""
    db.session.execute(select(Student.id).where(Student.id == student.id).with_for_update())


def _who(user: User | None, at) -> str:
    return f"{user.name if user else gettext('another counselor')} ({localtime(at)})"


def set_tier(
    actor: User, student: Student, tier: int | None, reason: str | None, seen_version: int | None
) -> TierChange:
    """Move the student to a tier, with a reason; the history keeps every move.

    seen_version is the tier version the counselor's page showed (0: never moved). If someone moved the
    student since (two counselors at once), nothing is changed: AlreadyDone says who moved them where.
    """
    if tier not in TIERS:
        raise ServiceError("tier", gettext("Choose tier 1, 2 or 3."))
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(
            "reason", gettext("Say why the student moves to this tier (what the data or the team showed).")
        )
    _lock_student(student)
    current = db.session.get(StudentTier, student.id, populate_existing=True, with_for_update=True)
    version = current.version if current else 0
    now_tier = current.tier if current else 1
    if current is not None and seen_version is not None and seen_version != version:
        last = db.session.scalars(
            select(TierChange).where(TierChange.student_id == student.id, TierChange.version == version)
        ).one()
        who = _who(last.changed_by, last.changed_at)
        message = (
            gettext("%(who)s already moved this student to tier %(tier)s.", who=who, tier=last.tier)
            if last.tier == tier
            else gettext("%(who)s meanwhile moved this student to tier %(tier)s.", who=who, tier=last.tier)
        )
        raise AlreadyDone(
            message + " " + gettext("Nothing was changed; look at the student's page again before changing the tier."),
            next_url=f"/students/{student.id}#tier-h",
        )
    if tier == now_tier:
        raise ServiceError("tier", gettext("The student is already in tier %(tier)s.", tier=tier))
    change = TierChange(
        student_id=student.id,
        version=version + 1,
        tier=tier,
        previous_tier=now_tier,
        reason=reason,
        changed_at=utcnow(),
        changed_by_id=actor.id,
    )
    db.session.add(change)
    if current is None:
        db.session.add(
            StudentTier(
                student_id=student.id, tier=tier, version=1, changed_at=change.changed_at, changed_by_id=actor.id
            )
        )
    else:
        current.tier, current.version = tier, version + 1
        current.changed_at, current.changed_by_id = change.changed_at, actor.id
    db.session.flush()
    audit.record(
        "student.tier_changed", actor=actor, obj=change, student=student, detail={"from": now_tier, "to": tier}
    )
    return change


_NUMBER_MESSAGES = {
    "baseline": N_("Enter the baseline as a number."),
    "target": N_("Enter the target as a number."),
    "value": N_("Enter the value as a number."),
}


def _number(field: str, value, label: str) -> float:
    if value is None or not math.isfinite(value) or abs(value) > MAX_VALUE:
        raise ServiceError(field, gettext(_NUMBER_MESSAGES[label]))
    return float(value)


def check_plan(
    student: Student,
    *,
    goal: str | None,
    measure: str | None,
    baseline,
    target,
    started_on: date | None,
    review_on: date | None,
    program_ids: list[int],
    today: date,
) -> tuple[list[ServiceError], dict[int, Program]]:
    """Every problem of a plan's fields at once (so a form shows them all in one round), and the
    programs the student is enrolled in (the ones a plan may link)."""
    problems: list[ServiceError] = []
    if not (goal or "").strip():
        problems.append(ServiceError("goal", gettext("Write the goal: what the student will do, by when.")))
    if not (measure or "").strip():
        problems.append(
            ServiceError("measure", gettext("Say how progress is measured (for example days attended per week)."))
        )
    numbers = {}
    for name, value in (("baseline", baseline), ("target", target)):
        try:
            numbers[name] = _number(name, value, name)
        except ServiceError as exc:
            problems.append(exc)
    if len(numbers) == 2 and numbers["baseline"] == numbers["target"]:
        problems.append(ServiceError("target", gettext("The target must differ from the baseline.")))
    if started_on is None:
        problems.append(ServiceError("started_on", gettext("Enter the date the plan starts.")))
    elif started_on > today:
        problems.append(
            ServiceError("started_on", gettext("The plan cannot start in the future; enter today or an earlier date."))
        )
    if review_on is None:
        problems.append(ServiceError("review_on", gettext("Enter a review date.")))
    elif started_on is not None and (review_on <= started_on or (review_on - started_on).days > MAX_PLAN_DAYS):
        problems.append(
            ServiceError("review_on", gettext("The review date must fall after the start, within about a year."))
        )
    if not student.is_active:
        problems.append(ServiceError(None, gettext("This student is no longer enrolled at the school.")))
    enrolled = {p.id: p for p in db.session.scalars(enrolled_programs(student.id))}
    if any(pid not in enrolled for pid in program_ids):
        problems.append(ServiceError("programs", gettext("Link only programs the student is enrolled in.")))
    return problems, enrolled


def create_plan(
    actor: User,
    student: Student,
    *,
    goal: str | None,
    measure: str | None,
    baseline,
    target,
    started_on: date | None,
    review_on: date | None,
    program_ids: list[int],
    today: date,
) -> InterventionPlan:
    """Make an intervention plan for the student; the programs must be ones they are enrolled in.

    Every field is checked before anything is refused (one ServiceError carries them all). The same plan
    sent twice (a double click) is refused with AlreadyDone naming the plan that exists.
    """
    problems, enrolled = check_plan(
        student,
        goal=goal,
        measure=measure,
        baseline=baseline,
        target=target,
        started_on=started_on,
        review_on=review_on,
        program_ids=program_ids,
        today=today,
    )
    if problems:
        refuse([pair for exc in problems for pair in exc.problems])
    assert goal is not None and measure is not None  # check_plan refuses either missing
    goal, measure = goal.strip(), measure.strip()
    _lock_student(student)
    twin = db.session.scalars(
        select(InterventionPlan).where(
            InterventionPlan.student_id == student.id,
            InterventionPlan.status == "active",
            InterventionPlan.goal == goal,
            InterventionPlan.measure == measure,
        )
    ).first()
    if twin is not None:
        raise AlreadyDone(
            gettext(
                "This plan was already made by %(who)s. Nothing more was saved.",
                who=_who(twin.counselor, twin.created_at),
            ),
            next_url=f"/interventions/{twin.id}",
        )
    tier = db.session.get(StudentTier, student.id)
    plan = InterventionPlan(
        student_id=student.id,
        student=student,
        school_id=student.school_id,
        counselor_id=actor.id,
        tier=tier.tier if tier else 1,
        goal=goal,
        measure=measure,
        baseline=float(baseline),
        target=float(target),
        started_on=started_on,
        review_on=review_on,
        status="active",
        created_at=utcnow(),
        programs=[enrolled[pid] for pid in dict.fromkeys(program_ids)],
    )
    db.session.add(plan)
    db.session.flush()
    audit.record(
        "intervention_plan.created", actor=actor, obj=plan, student=student, detail={"programs": len(plan.programs)}
    )
    return plan


def check_progress(plan: InterventionPlan, *, measured_on: date | None, value, today: date) -> list[ServiceError]:
    """Every problem of a data point at once."""
    if not plan.is_active:
        return [
            ServiceError(
                None,
                gettext(
                    "This plan is %(status)s; progress is recorded on active plans.", status=plan.status_label.lower()
                ),
            )
        ]
    problems = []
    if measured_on is None:
        problems.append(ServiceError("measured_on", gettext("Enter the date of the measurement.")))
    elif measured_on > today:
        problems.append(ServiceError("measured_on", gettext("The date cannot be in the future.")))
    elif measured_on < plan.started_on:
        problems.append(
            ServiceError(
                "measured_on",
                gettext(
                    "The plan started on %(day)s; enter that day or a later one.",
                    day=format_local(plan.started_on, "%b %-d, %Y"),
                ),
            )
        )
    try:
        _number("value", value, "value")
    except ServiceError as exc:
        problems.append(exc)
    return problems


def record_progress(
    actor: User, plan: InterventionPlan, *, measured_on: date | None, value, note: str | None, today: date
) -> ProgressPoint:
    """Add a data point to an active plan; one per day (the same point twice: AlreadyDone)."""
    problems = check_progress(plan, measured_on=measured_on, value=value, today=today)
    if problems:
        refuse([pair for exc in problems for pair in exc.problems])
    assert measured_on is not None  # check_progress refuses a missing date
    value = float(value)
    note = (note or "").strip() or None
    existing = db.session.scalars(
        select(ProgressPoint).where(ProgressPoint.plan_id == plan.id, ProgressPoint.measured_on == measured_on)
    ).first()
    if existing is not None:
        if existing.value == value:
            raise AlreadyDone(
                gettext(
                    "The value %(value)s for %(day)s was already recorded by %(who)s. Nothing more was saved.",
                    value=format(value, "g"),
                    day=format_local(measured_on, "%b %-d, %Y"),
                    who=_who(existing.recorded_by, existing.recorded_at),
                ),
                next_url=f"/interventions/{plan.id}",
            )
        raise ServiceError(
            "measured_on",
            gettext(
                "%(day)s already has a value (%(value)s); choose another date.",
                day=format_local(measured_on, "%b %-d, %Y"),
                value=format(existing.value, "g"),
            ),
        )
    point = ProgressPoint(
        plan_id=plan.id, measured_on=measured_on, value=value, note=note, recorded_by_id=actor.id, recorded_at=utcnow()
    )
    db.session.add(point)
    db.session.flush()
    audit.record("intervention_plan.progress", actor=actor, obj=plan, student=plan.student)
    return point


def review_plan(
    actor: User,
    plan: InterventionPlan,
    *,
    decision: str | None,
    next_review_on: date | None,
    note: str | None,
    today: date,
) -> None:
    """Record a review: continue to a new review date, or close the plan (met, not met, discontinued).
    The loader locked the plan: a second identical review finds it already done."""
    note = (note or "").strip() or None
    if not plan.is_active:
        raise AlreadyDone(
            gettext(
                "This plan was already closed (%(status)s) by %(who)s. Nothing more was changed.",
                status=plan.status_label.lower(),
                who=_who(plan.closed_by, plan.closed_at),
            ),
            next_url=f"/interventions/{plan.id}",
        )
    if decision == "continue":
        if next_review_on is None or next_review_on <= today:
            raise ServiceError("next_review_on", gettext("Choose the next review date, after today."))
        if next_review_on == plan.review_on and note == plan.review_note:
            raise AlreadyDone(
                gettext("This review was already recorded. Nothing more was changed."),
                next_url=f"/interventions/{plan.id}",
            )
        plan.review_on = next_review_on
    elif decision in CLOSED_STATUSES:
        plan.status, plan.closed_at, plan.closed_by_id = decision, utcnow(), actor.id
    else:
        raise ServiceError("decision", gettext("Choose what the review decided."))
    plan.review_note = note
    db.session.flush()
    audit.record(
        "intervention_plan.reviewed",
        actor=actor,
        obj=plan,
        student=plan.student,
        detail={"decision": decision, "status": PLAN_STATUSES[plan.status]},
    )
