"""Record and remove training completions; say why someone may not screen with an instrument."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from school_prevention import audit
from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.timezones import localtime
from school_prevention.training import rules
from school_prevention.training.models import Course, TrainingCompletion
from school_prevention.training.queries import completion_on, latest_completion, manageable_staff, valid_completion


def may_record_for(actor: User, person: User) -> bool:
    """Whether the actor records this person's training (an admin: anyone; a principal: their schools' staff)."""
    return db.session.scalar(manageable_staff(actor).where(User.id == person.id).with_only_columns(User.id)) is not None


def check_completion(course: Course, completed_on: date, expires_on: date | None, today: date) -> date | None:
    """The completion's expiry (given, or from the course's renewal period); ServiceError when it cannot be."""
    if not course.is_active:
        raise ServiceError("course", f"“{course.name}” is no longer in use; choose another course.")
    if completed_on > today:
        raise ServiceError("completed_on", "The completion date cannot be in the future.")
    if expires_on is None:
        return rules.expiry(completed_on, course.renewal_months)
    if expires_on < completed_on:
        raise ServiceError("expires_on", "The expiry date cannot be before the completion date.")
    return expires_on


def record_completion(actor: User, person: User, course: Course, *, completed_on: date, today: date,
                      expires_on: date | None = None) -> TrainingCompletion:
    """Record that the person completed the course; the expiry defaults to the course's renewal period.

    The same completion (person, course, day) recorded again, a double click or two admins at once,
    is refused with AlreadyDone naming who recorded it. The caller holds the person's row lock (the
    scoped loader's FOR UPDATE on PostgreSQL); a unique index is the backstop.
    """
    if not may_record_for(actor, person):
        raise ServiceError(None, f"{person.name} is not on your school's staff.")
    expires_on = check_completion(course, completed_on, expires_on, today)
    earlier = db.session.scalars(completion_on(person.id, course.id, completed_on)).first()
    if earlier is not None:
        who = earlier.recorded_by.name if earlier.recorded_by else "an import"
        raise AlreadyDone(f"{person.name}'s completion of “{course.name}” on {completed_on:%b %-d, %Y} was already "
                          f"recorded by {who} ({localtime(earlier.created_at)}). Nothing more was saved.",
                          next_url=f"/training/people/{person.id}")
    completion = TrainingCompletion(user_id=person.id, course_id=course.id, course=course, completed_on=completed_on,
                                    expires_on=expires_on, source="manual", recorded_by_id=actor.id)
    db.session.add(completion)
    db.session.flush()
    audit.record("training.completion.recorded", actor=actor, obj=completion,
                 detail={"user_id": person.id, "course_id": course.id, "source": "manual"})
    return completion


def remove_completion(actor: User, person: User, completion_id: int) -> TrainingCompletion:
    """Remove a completion recorded by mistake (the audit trail keeps what it was).

    Removing it again (a double click) is refused with AlreadyDone naming who removed it.
    """
    if not may_record_for(actor, person):
        raise ServiceError(None, f"{person.name} is not on your school's staff.")
    completion = db.session.scalars(select(TrainingCompletion).where(
        TrainingCompletion.id == completion_id, TrainingCompletion.user_id == person.id)).first()
    if completion is None:
        removed = db.session.execute(
            select(User.name, AuditEvent.at).outerjoin(User, User.id == AuditEvent.actor_id)
            .where(AuditEvent.action == "training.completion.removed",
                   AuditEvent.object_id == str(completion_id),
                   AuditEvent.object_type == TrainingCompletion.__tablename__)
            .order_by(AuditEvent.id.desc()).limit(1)).first()
        if removed is None:
            raise LookupError(completion_id)
        raise AlreadyDone(f"This training record was already removed by {removed.name or 'someone'} "
                          f"({localtime(removed.at)}). Nothing more was changed.",
                          next_url=f"/training/people/{person.id}")
    audit.record("training.completion.removed", actor=actor, obj=completion, detail={
        "user_id": person.id, "course_id": completion.course_id, "completed_on": completion.completed_on.isoformat(),
        "expires_on": completion.expires_on.isoformat() if completion.expires_on else None})
    db.session.delete(completion)
    db.session.flush()
    return completion


def screening_refusal(actor: User, course: Course, instrument_name: str, on: date) -> str | None:
    """Why the actor may not record a screening that needs this course on a day; None when they may.

    The training must have been valid on the day of the screening (completed by then, not expired).
    """
    if db.session.scalars(valid_completion(actor.id, course.id, on).limit(1)).first() is not None:
        return None
    short = instrument_name.split(" (")[0]
    needs = f"Recording a {short} screening needs a current “{course.name}” training"
    latest = db.session.scalars(latest_completion(actor.id, course.id)).first()
    if latest is None:
        return f"{needs}; you have none on record. Ask your principal or administrator to record it once you have it."
    if latest.completed_on > on:
        return (f"{needs}; yours was completed on {latest.completed_on:%b %-d, %Y}, after the day of this screening.")
    return (f"{needs}; yours lapsed on {latest.expires_on:%b %-d, %Y}. Renew it, or ask a trained colleague "
            "to screen.")
