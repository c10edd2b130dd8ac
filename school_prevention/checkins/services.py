"""Check-in plans and check-ins: create, edit (future only), complete, miss, reschedule, cancel.

Every change here runs on rows the request has locked (permissions' loaders lock the student, plan
or check-in its URL names; replanning locks the plans it re-places and their check-ins), so two
identical requests at the same moment act one after the other and the second is refused with
errors.AlreadyDone, naming who made the change and when.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from school_prevention import audit, crypto
from school_prevention.auth.models import User
from school_prevention.checkins.models import (
    CADENCES,
    NON_SCHOOL_DAY_RULES,
    OUTCOMES,
    CheckIn,
    CheckInPlan,
    NonSchoolDay,
)
from school_prevention.checkins.queries import last_action
from school_prevention.checkins.schedule import RuleError, build_rule, placements
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError, refuse
from school_prevention.extensions import db
from school_prevention.i18n import N_, format_local
from school_prevention.students.models import Student
from school_prevention.timezones import district_zone, localtime

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


def closed_days(first: date, last: date) -> set[date]:
    """The non-school days between two dates."""
    return set(db.session.scalars(select(NonSchoolDay.day).where(NonSchoolDay.day.between(first, last))))


def school_year_end(today: date) -> date:
    """June 30 of the current school year (a new year starts on July 1)."""
    return date(today.year + (1 if today.month >= 7 else 0), 6, 30)


def plan_problems(values: dict, student: Student, counselor: User | None) -> list[tuple[str, str]]:
    """Every reason to refuse a plan's values, all at once (a form shows them together, not one per round)."""
    problems = []
    if values["cadence"] not in CADENCES:
        problems.append(("cadence", "Choose how often the check-ins happen."))
    if values["non_school_day"] not in NON_SCHOOL_DAY_RULES:
        problems.append(("non_school_day", "Choose what happens on a non-school day."))
    if values["local_time"] is None:
        problems.append(("local_time", "Enter the time of day."))
    if not values["duration_minutes"] or not 5 <= values["duration_minutes"] <= 240:
        problems.append(("duration_minutes", "Use a length from 5 to 240 minutes."))
    if values["starts_on"] is None:
        problems.append(("starts_on", "Enter the first day."))
    elif values["until"] < values["starts_on"]:
        problems.append(("until", "The plan must end after it starts."))
    elif (values["until"] - values["starts_on"]).days > 366 * 6:  # a difference: no overflow near year 9999
        problems.append(("until", "Plans can span up to six years; set an earlier end date."))
    if (
        counselor is None
        or counselor.role != "counselor"
        or not counselor.is_active
        or student.school_id not in counselor.school_ids
    ):
        problems.append(("counselor_id", "Choose an active counselor of the student's school."))
    if values["cadence"] in CADENCES and values["starts_on"] is not None and values["local_time"] is not None:
        try:
            build_rule(values["cadence"], values.get("rrule"), values["starts_on"], values["local_time"])
        except RuleError as exc:
            problems.append(("rrule", str(exc)))
    return problems


def plan_form_problems(student: Student, counselor: User | None, *, today: date, **kw) -> list[tuple[str, str]]:
    """plan_problems for a form's values as create_plan and update_plan read them (run beside the form's checks)."""
    kw.setdefault("until", school_year_end(today))
    return plan_problems(_values(**kw), student, counselor)


def _validate(values: dict, student: Student, counselor: User, today: date) -> None:
    refuse(plan_problems(values, student, counselor))


def _values(**kw) -> dict:
    values = dict(kw)
    values["rrule"] = (values.get("rrule") or "").strip() or None if values["cadence"] == "custom" else None
    values["reason"] = (values.get("reason") or "").strip()[:300] or None
    return values


def _by(name: str | None, at: datetime | None) -> str:
    """ "by Dana Doe (Oct 20, 2026 10:02 AM)" for the messages of changes already made."""
    name = name or gettext("someone")
    return gettext("by %(name)s (%(when)s)", name=name, when=localtime(at)) if at else gettext("by %(name)s", name=name)


def _last_by(actions: tuple[str, ...], object_type: str, object_id: int, student_id: int | None = None) -> str | None:
    """Who made the latest of these changes to an object, and when (its audit row), or None."""
    found = db.session.execute(last_action(actions, object_type, object_id, student_id)).first()
    return _by(*found) if found else None


def _same_first_meeting(
    student_id: int, counselor_id: int, starts_on: date, local_time, *, other_than: int | None = None
) -> CheckInPlan | None:
    """The counselor's active plan with the student that starts on that day at that time, if any."""
    query = select(CheckInPlan).where(
        CheckInPlan.student_id == student_id,
        CheckInPlan.counselor_id == counselor_id,
        CheckInPlan.status == "active",
        CheckInPlan.starts_on == starts_on,
        CheckInPlan.local_time == local_time,
    )
    if other_than is not None:
        query = query.where(CheckInPlan.id != other_than)
    return db.session.scalars(query.limit(1)).first()


def create_plan(actor: User, student: Student, counselor: User, *, now: datetime, flag=None, **kw) -> CheckInPlan:
    """Start a plan and write out its check-ins up to the horizon.

    A counselor's active plans with one student never start on the same day at the same time
    (the partial unique index uq_checkin_plan_active_first_meeting): the second of two identical
    requests, which waited for the first one's lock on the student, is told the plan exists.
    """
    today = now.astimezone(district_zone()).date()
    kw.setdefault("until", school_year_end(today))
    values = _values(**kw)
    if not student.is_active:
        raise ServiceError(None, gettext("This student is no longer enrolled."))
    _validate(values, student, counselor, today)
    if flag is not None and flag.student_id != student.id:
        raise ServiceError("flag_id", gettext("Choose one of this student's flags."))
    existing = _same_first_meeting(student.id, counselor.id, values["starts_on"], values["local_time"])
    if existing is not None:
        raise AlreadyDone(
            gettext(
                "A check-in plan with %(name)s from %(day)s at %(time)s was already started for this student %(by)s. "
                "Nothing more was changed. To change its days or times, edit that plan.",
                name=counselor.name,
                day=format_local(existing.starts_on, "%a %b %-d, %Y"),
                time=format_local(existing.local_time, "%-I:%M %p"),
                by=_by(existing.created_by.name if existing.created_by else None, existing.created_at),
            ),
            next_url=f"/checkin-plans/{existing.id}",
        )
    plan = CheckInPlan(
        student_id=student.id,
        student=student,
        school_id=student.school_id,
        counselor_id=counselor.id,
        counselor=counselor,
        flag_id=flag.id if flag else None,
        created_by_id=actor.id,
        created_at=utcnow(),
        status="active",
        **values,
    )
    db.session.add(plan)
    db.session.flush()
    count = materialize(plan, now)
    audit.record(
        "checkin_plan.created",
        actor=actor,
        obj=plan,
        student=student,
        detail={"cadence": plan.cadence, "scheduled": count},
    )
    return plan


def update_plan(actor: User, plan: CheckInPlan, counselor: User, *, now: datetime, flag=KEEP, **kw) -> int:
    """Change a plan; only check-ins still ahead are moved, added or cancelled. Returns how many changed.

    Fields not given (the flag included) keep their current value.
    """
    if kw.keys() - set(PLAN_FIELDS):
        raise TypeError(f"unknown plan fields: {sorted(kw.keys() - set(PLAN_FIELDS))}")
    require_active(plan)
    values = _values(**{key: kw.get(key, getattr(plan, key)) for key in PLAN_FIELDS})
    _validate(values, plan.student, counselor, now.astimezone(district_zone()).date())
    flag_id = plan.flag_id if flag is KEEP else (flag.id if flag else None)
    changed = sorted(k for k, v in values.items() if getattr(plan, k) != v)
    changed += ["counselor_id"] if counselor.id != plan.counselor_id else []
    changed += ["flag_id"] if flag_id != plan.flag_id else []
    if not changed:
        # The same edit twice (a double click, two tabs): one change, one audit row.
        saved = _last_by(("checkin_plan.updated", "checkin_plan.created"), "checkin_plan", plan.id, plan.student_id)
        raise AlreadyDone(
            gettext("This plan was already saved with these details %(by)s. Nothing more was changed.", by=saved)
            if saved
            else gettext("This plan was already saved with these details. Nothing more was changed."),
            next_url=f"/checkin-plans/{plan.id}",
        )
    if {"counselor_id", "starts_on", "local_time"} & set(changed) and _same_first_meeting(
        plan.student_id, counselor.id, values["starts_on"], values["local_time"], other_than=plan.id
    ):
        raise ServiceError(
            "starts_on",
            gettext(
                "%(name)s already has another active plan with this student that starts "
                "on that day at that time. Choose another first day or time.",
                name=counselor.name,
            ),
        )
    reassigned = counselor.id != plan.counselor_id
    for key, value in values.items():
        setattr(plan, key, value)
    plan.counselor_id, plan.counselor = counselor.id, counselor
    plan.flag_id = flag_id
    if reassigned:
        plan.needs_handoff = False
    db.session.flush()
    count = materialize(plan, now, reassign=reassigned)
    audit.record(
        "checkin_plan.updated",
        actor=actor,
        obj=plan,
        student=plan.student,
        detail={"fields": changed, "rescheduled": count},
    )
    return count


def require_active(plan: CheckInPlan) -> None:
    """Refuse a change to a plan that was ended (a double click on End, an edit after it), saying by whom."""
    if plan.status != "active":
        ended = _last_by(("checkin_plan.ended",), "checkin_plan", plan.id, plan.student_id) or _by(None, plan.ended_at)
        raise AlreadyDone(
            gettext(
                "This plan was already ended %(by)s. Nothing more was changed; to see the student "
                "again, start a new plan from the student's page.",
                by=ended,
            ),
            next_url=f"/checkin-plans/{plan.id}",
        )


def end_plan(actor: User, plan: CheckInPlan, *, now: datetime) -> int:
    """Stop a plan: its future check-ins are cancelled (calendars drop them)."""
    require_active(plan)
    plan.status, plan.ended_at = "ended", now
    # Locked: a check-in being completed at this moment is left completed, not cancelled over.
    future = db.session.scalars(
        _locked(select(CheckIn).where(CheckIn.plan_id == plan.id, CheckIn.status == "scheduled", CheckIn.due_at > now))
    ).all()
    for checkin in future:
        checkin.status, checkin.sequence = "cancelled", checkin.sequence + 1
    db.session.flush()
    audit.record("checkin_plan.ended", actor=actor, obj=plan, student=plan.student, detail={"cancelled": len(future)})
    return len(future)


def _locked(query):
    """query with its rows locked until the commit (SELECT ... FOR UPDATE; SQLite's write lock is
    already held), read afresh: a row someone changed while we waited is seen as they left it."""
    return query.with_for_update(of=CheckIn).execution_options(populate_existing=True)


def materialize(plan: CheckInPlan, now: datetime, *, reassign: bool = False) -> int:
    """Bring the plan's future check-ins in line with the plan, up to the horizon. Idempotent.

    Past check-ins and ones a counselor rescheduled by hand are left alone. Returns how many
    check-ins were added, moved or cancelled. The caller holds the plan's row lock (a plan's
    loader, replan_all, or a plan just created), so two re-placements of one plan take turns and
    the second sees the first one's check-ins; the check-ins are locked as they are read, so one
    being completed or cancelled at this moment is seen as it ends up, never moved back.
    """
    if plan.status != "active":
        return 0
    tz = district_zone()
    today = now.astimezone(tz).date()
    # Look back too: Thursday's check-in moved past a break to Monday is still ahead on Saturday,
    # and must be found under its own (past) date rather than cancelled as unknown.
    first = max(plan.starts_on, today - LOOKBACK)
    last = min(plan.until, (now + HORIZON).astimezone(tz).date())
    rule = build_rule(plan.cadence, plan.rrule, plan.starts_on, plan.local_time)
    placed = dict(
        placements(
            rule,
            first=first,
            last=last,
            rule_choice=plan.non_school_day,
            closed=closed_days(first, last + timedelta(days=30)),
            zone=tz,
        )
    )
    existing = {
        c.occurrence: c
        for c in db.session.scalars(
            _locked(select(CheckIn).where(CheckIn.plan_id == plan.id, CheckIn.occurrence >= first))
        )
    }
    changes = sum(
        _align(checkin, placed.get(occurrence), plan, now, reassign) for occurrence, checkin in existing.items()
    )
    for occurrence, due in placed.items():
        if occurrence in existing or due <= now:
            continue
        db.session.add(
            CheckIn(
                plan_id=plan.id,
                student_id=plan.student_id,
                school_id=plan.school_id,
                counselor_id=plan.counselor_id,
                occurrence=occurrence,
                due_at=due,
                duration_minutes=plan.duration_minutes,
                status="scheduled",
            )
        )
        changes += 1
    db.session.flush()
    return changes


def _align(checkin: CheckIn, due: datetime | None, plan: CheckInPlan, now: datetime, reassign: bool) -> int:
    """Bring one existing check-in in line with the plan (due: where the plan now puts it); returns the changes."""
    if checkin.status == "cancelled" and checkin.cancelled_by_plan and due is not None and due > now:
        # Re-planning dropped it (a non-school day since taken off the list): it is wanted again.
        checkin.status, checkin.cancelled_by_plan, checkin.sequence = "scheduled", False, checkin.sequence + 1
        checkin.due_at, checkin.counselor_id, checkin.school_id = due, plan.counselor_id, plan.school_id
        checkin.duration_minutes = plan.duration_minutes
        return 1
    if checkin.status != "scheduled" or checkin.due_at <= now:
        return 0
    changes = 0
    if reassign and checkin.counselor_id != plan.counselor_id:
        checkin.counselor_id, checkin.sequence = plan.counselor_id, checkin.sequence + 1
        changes += 1
    if checkin.school_id != plan.school_id:
        checkin.school_id = plan.school_id  # the student moved school: upcoming check-ins go with the plan
        changes += 1
    if checkin.is_rescheduled:
        return changes
    if due is None:
        checkin.status, checkin.cancelled_by_plan, checkin.sequence = "cancelled", True, checkin.sequence + 1
        changes += 1
    elif due <= now:
        # The plan now puts it in the past (a break removed, the time moved earlier today):
        # keep the meeting that is still booked rather than silently dropping it.
        pass
    elif due != checkin.due_at or checkin.duration_minutes != plan.duration_minutes:
        checkin.due_at, checkin.duration_minutes = due, plan.duration_minutes
        checkin.sequence += 1
        changes += 1
    return changes


CLOSED = {"completed": N_("completed"), "missed": N_("marked missed"), "cancelled": N_("cancelled")}


def _closed_by(checkin: CheckIn) -> str:
    """How a check-in that is no longer scheduled was closed: what, by whom and when."""
    what = gettext(CLOSED[checkin.status]) if checkin.status in CLOSED else checkin.status
    if checkin.status == "completed" and checkin.completed_by is not None:
        return gettext("%(what)s %(by)s", what=what, by=_by(checkin.completed_by.name, checkin.completed_at))
    by = _last_by((f"checkin.{checkin.status}",), "checkin", checkin.id, checkin.student_id)
    if by:
        return gettext("%(what)s %(by)s", what=what, by=by)
    if checkin.status == "cancelled" and checkin.plan.status == "ended":
        return gettext("cancelled when its plan was ended (%(when)s)", when=localtime(checkin.plan.ended_at))
    if checkin.status == "cancelled":
        return gettext("cancelled when its plan was re-planned (a non-school day, or a change to the plan)")
    return what


def _require_open(checkin: CheckIn) -> None:
    """Refuse a check-in that was closed meanwhile (a double click, two counselors at once): its
    loader locked the row, so the second request sees the first one's change here."""
    if checkin.status != "scheduled":
        kept = " " + gettext("The outcome and note recorded then are kept.") if checkin.status == "completed" else ""
        raise AlreadyDone(
            gettext("This check-in was already %(how)s. Nothing more was changed.", how=_closed_by(checkin)) + kept,
            next_url=f"/checkins/{checkin.id}",
        )


def complete(actor: User, checkin: CheckIn, *, outcome: str | None, note: str | None, now: datetime) -> None:
    """Record that the check-in happened, with its outcome (what makes it count) and a restricted note."""
    _require_open(checkin)
    if outcome not in OUTCOMES:
        raise ServiceError("outcome", gettext("Choose the outcome: a check-in counts as done only with one."))
    if checkin.due_at - now > COMPLETE_WINDOW:
        raise ServiceError(
            None,
            gettext(
                "This check-in is not due yet. If you met earlier, first move it to the time "
                "you met (Move to another time), then record the outcome."
            ),
        )
    checkin.status, checkin.outcome = "completed", outcome
    checkin.note_ciphertext = crypto.encrypt(note.strip()) if note and note.strip() else None
    checkin.completed_at, checkin.completed_by_id = now, actor.id
    checkin.sequence += 1
    db.session.flush()
    audit.record(
        "checkin.completed",
        actor=actor,
        obj=checkin,
        student=checkin.student,
        detail={"outcome": outcome, "late_hours": max(0, int((now - checkin.due_at).total_seconds() // 3600))},
    )


def mark_missed(actor: User, checkin: CheckIn, *, now: datetime) -> None:
    """The meeting did not happen (student absent, not found)."""
    _require_open(checkin)
    if checkin.due_at > now:
        raise ServiceError(None, gettext("A check-in can be marked missed only after its time."))
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
        raise ServiceError("when", gettext("Enter the new date and time."))
    from school_prevention.checkins.schedule import to_utc

    due = to_utc(local, district_zone())
    if due < now - BACKDATE_LIMIT:
        raise ServiceError(
            "when",
            gettext(
                "Choose a time in the future, or when you met if that was in the last %(num)s days.",
                num=BACKDATE_LIMIT.days,
            ),
        )
    if due == checkin.due_at:
        moved = checkin.is_rescheduled and _last_by(("checkin.rescheduled",), "checkin", checkin.id, checkin.student_id)
        if moved:  # the same move twice (a double click): it was made once
            raise AlreadyDone(
                gettext(
                    "This check-in was already moved to %(when)s %(by)s. Nothing more was changed.",
                    when=localtime(due, "%a %b %-d, %-I:%M %p"),
                    by=moved,
                ),
                next_url=f"/checkins/{checkin.id}",
            )
        raise ServiceError("when", gettext("That is the time it already has."))
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
    """Add a holiday or break day (the caller queues the re-placing of active plans around it).

    One statement that inserts unless the day is listed (INSERT ... ON CONFLICT DO NOTHING on the
    unique day): of two identical requests at the same moment, the second waits for the first to
    commit and is then told the day is on the list, by whom.
    """
    if day is None:
        raise ServiceError("day", gettext("Enter the date."))
    if not (name or "").strip():
        raise ServiceError("name", gettext("Name the day, for example “Thanksgiving break”."))
    table = NonSchoolDay.__table__
    values = {"day": day, "name": name.strip()[:120]}
    insert: Insert
    if db.session.get_bind().dialect.name == "postgresql":
        insert = postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=["day"])
    else:
        insert = sqlite.insert(table).values(values).on_conflict_do_nothing(index_elements=["day"])
    added = db.session.scalar(insert.returning(table.c.id))
    if added is None:
        listed = db.session.scalars(select(NonSchoolDay).where(NonSchoolDay.day == day)).one()
        by = _last_by(("non_school_day.added",), "non_school_day", listed.id)
        shown = format_local(day, "%a %b %-d, %Y")
        raise AlreadyDone(
            gettext(
                "%(day)s is already on the list (%(name)s), added %(by)s. Nothing more was changed.",
                day=shown,
                name=listed.name,
                by=by,
            )
            if by
            else gettext(
                "%(day)s is already on the list (%(name)s). Nothing more was changed.", day=shown, name=listed.name
            ),
            next_url="/admin/non-school-days",
        )
    entry = db.session.get(NonSchoolDay, added)
    assert entry is not None  # inserted by this transaction a moment ago
    audit.record("non_school_day.added", actor=actor, obj=entry, detail={"day": day.isoformat()})
    return entry


def remove_non_school_day(actor: User, day_id: int) -> NonSchoolDay | None:
    """Take a day off the list (the caller queues the re-placing of plans); None when there is no such day.

    The row is locked first: of two identical requests, the second waits, finds it gone and is told
    who took it off.
    """
    entry = db.session.get(NonSchoolDay, day_id, with_for_update=True, populate_existing=True)
    if entry is None:
        by = _last_by(("non_school_day.removed",), "non_school_day", day_id)
        if by is None:
            return None
        raise AlreadyDone(
            gettext("That day was already taken off the list %(by)s. Nothing more was changed.", by=by),
            next_url="/admin/non-school-days",
        )
    audit.record("non_school_day.removed", actor=actor, obj=entry, detail={"day": entry.day.isoformat()})
    db.session.delete(entry)
    db.session.flush()
    return entry


def replan_all(now: datetime) -> int:
    """Re-place every active plan's future check-ins in the caller's one transaction.

    Requests never call this (it is proportional to the district): a calendar change queues
    checkins.replan, and the jobs use replan.replan_in_batches, which commits a batch at a time.

    The plans are locked in id order (two re-placements at once, an admin's and the nightly job's,
    take turns plan by plan and cannot deadlock); each sees the non-school days as they are once
    it has its locks.
    """
    plans = db.session.scalars(
        select(CheckInPlan)
        .where(CheckInPlan.status == "active", CheckInPlan.until >= (now - timedelta(days=1)).date())
        .order_by(CheckInPlan.id)
        .with_for_update(of=CheckInPlan)
        .execution_options(populate_existing=True)
    ).all()
    return sum(materialize(plan, now) for plan in plans)


def save_reminder_leads(user: User, leads: list[int]) -> None:
    """Set when the counselor is reminded before each check-in (user's row locked by the caller).

    The same choice saved twice (a double click) is saved once: the second is told it already was.
    """
    value = ",".join(str(v) for v in sorted(set(leads), reverse=True))
    if value == (user.reminder_leads or ""):
        by = _last_by(("account.reminders",), "user_account", user.id)
        raise AlreadyDone(
            gettext("These reminder times were already saved %(by)s. Nothing more was changed.", by=by)
            if by
            else gettext("These reminder times were already saved. Nothing more was changed."),
            next_url="/account/reminders",
        )
    user.reminder_leads = value
    audit.record("account.reminders", actor=user, obj=user, detail={"leads": sorted(set(leads), reverse=True)})
