"""Check-in plans and check-ins: create, edit (future only), complete, miss, reschedule, cancel."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from school_prevention import audit, crypto
from school_prevention.auth.models import User
from school_prevention.errors import ServiceError
from school_prevention.checkins.models import CADENCES, NON_SCHOOL_DAY_RULES, OUTCOMES, CheckIn, CheckInPlan, NonSchoolDay
from school_prevention.checkins.schedule import RuleError, build_rule, placements
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.students.models import Student

# Check-ins are written out this far ahead; the daily job keeps extending plans that last years.
HORIZON = timedelta(days=120)
# How far back materialize looks for occurrences that a non-school day pushed into the future.
LOOKBACK = timedelta(days=31)
KEEP = object()  # update_plan: leave the linked flag as it is
PLAN_FIELDS = ("cadence", "rrule", "starts_on", "local_time", "duration_minutes", "until", "non_school_day", "reason")


# An outcome can be recorded from this long before the check-in's time.
COMPLETE_WINDOW = timedelta(hours=12)
# A check-in can be moved back to when the meeting really happened, up to this long ago.
BACKDATE_LIMIT = timedelta(days=14)


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["SP_TIMEZONE"])


def closed_days(first: date, last: date) -> set[date]:
    """The non-school days between two dates."""
    return set(db.session.scalars(select(NonSchoolDay.day).where(NonSchoolDay.day.between(first, last))))


def school_year_end(today: date) -> date:
    """June 30 of the current school year (a new year starts on July 1)."""
    return date(today.year + (1 if today.month >= 7 else 0), 6, 30)


def _validate(values: dict, student: Student, counselor: User, today: date) -> None:
    if values["cadence"] not in CADENCES:
        raise ServiceError("cadence", "Choose how often the check-ins happen.")
    if values["non_school_day"] not in NON_SCHOOL_DAY_RULES:
        raise ServiceError("non_school_day", "Choose what happens on a non-school day.")
    if values["local_time"] is None:
        raise ServiceError("local_time", "Enter the time of day.")
    if not values["duration_minutes"] or not 5 <= values["duration_minutes"] <= 240:
        raise ServiceError("duration_minutes", "Use a length from 5 to 240 minutes.")
    if values["starts_on"] is None:
        raise ServiceError("starts_on", "Enter the first day.")
    if values["until"] < values["starts_on"]:
        raise ServiceError("until", "The plan must end after it starts.")
    if values["until"] > values["starts_on"] + timedelta(days=366 * 6):
        raise ServiceError("until", "Plans can span up to six years; set an earlier end date.")
    if counselor.role != "counselor" or not counselor.is_active or student.school_id not in counselor.school_ids:
        raise ServiceError("counselor_id", "Choose an active counselor of the student's school.")
    try:
        build_rule(values["cadence"], values.get("rrule"), values["starts_on"], values["local_time"])
    except RuleError as exc:
        raise ServiceError("rrule", str(exc)) from None


def _values(**kw) -> dict:
    values = dict(kw)
    values["rrule"] = (values.get("rrule") or "").strip() or None if values["cadence"] == "custom" else None
    values["reason"] = (values.get("reason") or "").strip()[:300] or None
    return values


def create_plan(actor: User, student: Student, counselor: User, *, now: datetime, flag=None, **kw) -> CheckInPlan:
    """Start a plan and write out its check-ins up to the horizon."""
    today = now.astimezone(zone()).date()
    kw.setdefault("until", school_year_end(today))
    values = _values(**kw)
    if not student.is_active:
        raise ServiceError(None, "This student is no longer enrolled.")
    _validate(values, student, counselor, today)
    if flag is not None and flag.student_id != student.id:
        raise ServiceError("flag_id", "Choose one of this student's flags.")
    plan = CheckInPlan(student_id=student.id, student=student, school_id=student.school_id, counselor_id=counselor.id,
                       counselor=counselor, flag_id=flag.id if flag else None, created_by_id=actor.id,
                       created_at=utcnow(), status="active", **values)
    db.session.add(plan)
    db.session.flush()
    count = materialize(plan, now)
    audit.record("checkin_plan.created", actor=actor, obj=plan, student=student,
                 detail={"cadence": plan.cadence, "scheduled": count})
    return plan


def update_plan(actor: User, plan: CheckInPlan, counselor: User, *, now: datetime, flag=KEEP, **kw) -> int:
    """Change a plan; only check-ins still ahead are moved, added or cancelled. Returns how many changed.

    Fields not given (the flag included) keep their current value.
    """
    if kw.keys() - set(PLAN_FIELDS):
        raise TypeError(f"unknown plan fields: {sorted(kw.keys() - set(PLAN_FIELDS))}")
    values = _values(**{key: kw.get(key, getattr(plan, key)) for key in PLAN_FIELDS})
    _validate(values, plan.student, counselor, now.astimezone(zone()).date())
    changed = sorted(k for k, v in values.items() if getattr(plan, k) != v)
    reassigned = counselor.id != plan.counselor_id
    for key, value in values.items():
        setattr(plan, key, value)
    plan.counselor_id, plan.counselor = counselor.id, counselor
    if flag is not KEEP:
        plan.flag_id = flag.id if flag else None
    if reassigned:
        plan.needs_handoff = False
    db.session.flush()
    count = materialize(plan, now, reassign=reassigned)
    audit.record("checkin_plan.updated", actor=actor, obj=plan, student=plan.student,
                 detail={"fields": changed + (["counselor_id"] if reassigned else []), "rescheduled": count})
    return count


def end_plan(actor: User, plan: CheckInPlan, *, now: datetime) -> int:
    """Stop a plan: its future check-ins are cancelled (calendars drop them)."""
    if plan.status == "ended":
        raise ServiceError(None, "This plan has already ended.")
    plan.status, plan.ended_at = "ended", now
    future = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan.id, CheckIn.status == "scheduled",
                                                      CheckIn.due_at > now)).all()
    for checkin in future:
        checkin.status, checkin.sequence = "cancelled", checkin.sequence + 1
    db.session.flush()
    audit.record("checkin_plan.ended", actor=actor, obj=plan, student=plan.student, detail={"cancelled": len(future)})
    return len(future)


def materialize(plan: CheckInPlan, now: datetime, *, reassign: bool = False) -> int:
    """Bring the plan's future check-ins in line with the plan, up to the horizon. Idempotent.

    Past check-ins and ones a counselor rescheduled by hand are left alone. Returns how many
    check-ins were added, moved or cancelled.
    """
    if plan.status != "active":
        return 0
    tz = zone()
    today = now.astimezone(tz).date()
    # Look back too: Thursday's check-in moved past a break to Monday is still ahead on Saturday,
    # and must be found under its own (past) date rather than cancelled as unknown.
    first = max(plan.starts_on, today - LOOKBACK)
    last = min(plan.until, (now + HORIZON).astimezone(tz).date())
    rule = build_rule(plan.cadence, plan.rrule, plan.starts_on, plan.local_time)
    placed = dict(placements(rule, first=first, last=last, rule_choice=plan.non_school_day,
                             closed=closed_days(first, last + timedelta(days=30)), zone=tz))
    existing = {c.occurrence: c for c in db.session.scalars(
        select(CheckIn).where(CheckIn.plan_id == plan.id, CheckIn.occurrence >= first))}
    changes = 0
    for occurrence, checkin in existing.items():
        due = placed.get(occurrence)
        if checkin.status == "cancelled" and checkin.cancelled_by_plan and due is not None and due > now:
            # Re-planning dropped it (a non-school day since taken off the list): it is wanted again.
            checkin.status, checkin.cancelled_by_plan, checkin.sequence = "scheduled", False, checkin.sequence + 1
            checkin.due_at, checkin.counselor_id, checkin.school_id = due, plan.counselor_id, plan.school_id
            checkin.duration_minutes = plan.duration_minutes
            changes += 1
            continue
        if checkin.status != "scheduled" or checkin.due_at <= now:
            continue
        if reassign and checkin.counselor_id != plan.counselor_id:
            checkin.counselor_id, checkin.sequence = plan.counselor_id, checkin.sequence + 1
            changes += 1
        if checkin.school_id != plan.school_id:
            checkin.school_id = plan.school_id  # the student moved school: upcoming check-ins go with the plan
            changes += 1
        if checkin.is_rescheduled:
            continue
        if due is None:
            checkin.status, checkin.cancelled_by_plan, checkin.sequence = "cancelled", True, checkin.sequence + 1
            changes += 1
        elif due <= now:
            # The plan now puts it in the past (a break removed, the time moved earlier today):
            # keep the meeting that is still booked rather than silently dropping it.
            continue
        elif due != checkin.due_at or checkin.duration_minutes != plan.duration_minutes:
            checkin.due_at, checkin.duration_minutes = due, plan.duration_minutes
            checkin.sequence += 1
            changes += 1
    for occurrence, due in placed.items():
        if occurrence in existing or due <= now:
            continue
        db.session.add(CheckIn(plan_id=plan.id, student_id=plan.student_id, school_id=plan.school_id,
                               counselor_id=plan.counselor_id, occurrence=occurrence, due_at=due,
                               duration_minutes=plan.duration_minutes, status="scheduled"))
        changes += 1
    db.session.flush()
    return changes


def _require_open(checkin: CheckIn) -> None:
    if checkin.status != "scheduled":
        raise ServiceError(None, f"This check-in is already {checkin.status}.")


def complete(actor: User, checkin: CheckIn, *, outcome: str | None, note: str | None, now: datetime) -> None:
    """Record that the check-in happened, with its outcome (what makes it count) and a restricted note."""
    _require_open(checkin)
    if outcome not in OUTCOMES:
        raise ServiceError("outcome", "Choose the outcome: a check-in counts as done only with one.")
    if checkin.due_at - now > COMPLETE_WINDOW:
        raise ServiceError(None, "This check-in is not due yet. If you met earlier, first move it to the time "
                                 "you met (Move to another time), then record the outcome.")
    checkin.status, checkin.outcome = "completed", outcome
    checkin.note_ciphertext = crypto.encrypt(note.strip()) if note and note.strip() else None
    checkin.completed_at, checkin.completed_by_id = now, actor.id
    checkin.sequence += 1
    db.session.flush()
    audit.record("checkin.completed", actor=actor, obj=checkin, student=checkin.student,
                 detail={"outcome": outcome, "late_hours": max(0, int((now - checkin.due_at).total_seconds() // 3600))})


def mark_missed(actor: User, checkin: CheckIn, *, now: datetime) -> None:
    """The meeting did not happen (student absent, not found)."""
    _require_open(checkin)
    if checkin.due_at > now:
        raise ServiceError(None, "A check-in can be marked missed only after its time.")
    checkin.status, checkin.sequence = "missed", checkin.sequence + 1
    db.session.flush()
    audit.record("checkin.missed", actor=actor, obj=checkin, student=checkin.student)


def cancel(actor: User, checkin: CheckIn) -> None:
    """Call one check-in off (the plan goes on)."""
    _require_open(checkin)
    checkin.status, checkin.sequence = "cancelled", checkin.sequence + 1
    db.session.flush()
    audit.record("checkin.cancelled", actor=actor, obj=checkin, student=checkin.student)


def reschedule(actor: User, checkin: CheckIn, *, local: datetime | None, now: datetime) -> None:
    """Move one check-in to another local date and time; its reminders are sent again for the new time."""
    _require_open(checkin)
    if local is None:
        raise ServiceError("when", "Enter the new date and time.")
    from school_prevention.checkins.schedule import to_utc

    due = to_utc(local, zone())
    if due < now - BACKDATE_LIMIT:
        raise ServiceError("when", f"Choose a time in the future, or when you met if that was in the last "
                                   f"{BACKDATE_LIMIT.days} days.")
    if due == checkin.due_at:
        raise ServiceError("when", "That is the time it already has.")
    checkin.due_at, checkin.is_rescheduled, checkin.sequence = due, True, checkin.sequence + 1
    db.session.flush()
    audit.record("checkin.rescheduled", actor=actor, obj=checkin, student=checkin.student)


def read_note(actor: User, checkin: CheckIn) -> str | None:
    """The restricted note for a counselor; each read has its own audit row."""
    if not checkin.note_ciphertext:
        return None
    audit.record("checkin.note.read", actor=actor, obj=checkin, student=checkin.student)
    return crypto.decrypt_for_display(checkin.note_ciphertext)


def add_non_school_day(actor: User, day: date | None, name: str) -> NonSchoolDay:
    """Add a holiday or break day; active plans are re-placed around it."""
    if day is None:
        raise ServiceError("day", "Enter the date.")
    if not (name or "").strip():
        raise ServiceError("name", "Name the day, for example “Thanksgiving break”.")
    if db.session.scalar(select(NonSchoolDay.id).where(NonSchoolDay.day == day)):
        raise ServiceError("day", "That date is already on the list.")
    entry = NonSchoolDay(day=day, name=name.strip()[:120])
    db.session.add(entry)
    db.session.flush()
    audit.record("non_school_day.added", actor=actor, obj=entry, detail={"day": day.isoformat()})
    return entry


def replan_all(now: datetime) -> int:
    """Re-place every active plan's future check-ins (after the non-school days change, and daily)."""
    plans = db.session.scalars(select(CheckInPlan).where(CheckInPlan.status == "active",
                                                         CheckInPlan.until >= (now - timedelta(days=1)).date())).all()
    return sum(materialize(plan, now) for plan in plans)

