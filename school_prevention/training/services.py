"""Record and remove training completions; say why someone may not screen with an instrument."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext
from sqlalchemy import select

from school_prevention import audit
from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.i18n import localdate
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
        raise ServiceError(
            "course", gettext("“%(course)s” is no longer in use; choose another course.", course=course.name)
        )
    if completed_on > today:
        raise ServiceError("completed_on", gettext("The completion date cannot be in the future."))
    if expires_on is None:
        return rules.expiry(completed_on, course.renewal_months)
    if expires_on < completed_on:
        raise ServiceError("expires_on", gettext("The expiry date cannot be before the completion date."))
    return expires_on


def record_completion(
    actor: User, person: User, course: Course, *, completed_on: date, today: date, expires_on: date | None = None
) -> TrainingCompletion:
    """Record that the person completed the course; the expiry defaults to the course's renewal period.

    The same completion (person, course, day) recorded again, a double click or two admins at once,
    is refused with AlreadyDone naming who recorded it. The caller holds the person's row lock (the
    scoped loader's FOR UPDATE on PostgreSQL); a unique index is the backstop.
    """
    if not may_record_for(actor, person):
        raise ServiceError(None, gettext("%(name)s is not on your school's staff.", name=person.name))
    expires_on = check_completion(course, completed_on, expires_on, today)
    earlier = db.session.scalars(completion_on(person.id, course.id, completed_on)).first()
    if earlier is not None:
        who = earlier.recorded_by.name if earlier.recorded_by else gettext("an import")
        raise AlreadyDone(
            gettext(
                "%(name)s's completion of “%(course)s” on %(day)s was already recorded by %(who)s "
                "(%(when)s). Nothing more was saved.",
                name=person.name,
                course=course.name,
                day=localdate(completed_on),
                who=who,
                when=localtime(earlier.created_at),
            ),
            next_url=f"/training/people/{person.id}",
        )
    completion = TrainingCompletion(
        user_id=person.id,
        course_id=course.id,
        course=course,
        completed_on=completed_on,
        expires_on=expires_on,
        source="manual",
        recorded_by_id=actor.id,
    )
    db.session.add(completion)
    db.session.flush()
    audit.record(
        "training.completion.recorded",
        actor=actor,
        obj=completion,
        detail={"user_id": person.id, "course_id": course.id, "source": "manual"},
    )
    return completion


def remove_completion(actor: User, person: User, completion_id: int) -> TrainingCompletion:
    """Remove a completion recorded by mistake (the audit trail keeps what it was).

    Removing it again (a double click) is refused with AlreadyDone naming who removed it.
    """
    if not may_record_for(actor, person):
        raise ServiceError(None, gettext("%(name)s is not on your school's staff.", name=person.name))
    completion = db.session.scalars(
        select(TrainingCompletion).where(
            TrainingCompletion.id == completion_id, TrainingCompletion.user_id == person.id
        )
    ).first()
    if completion is None:
        removed = db.session.execute(
            select(User.name, AuditEvent.at)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .where(
                AuditEvent.action == "training.completion.removed",
                AuditEvent.object_id == str(completion_id),
                AuditEvent.object_type == TrainingCompletion.__tablename__,
            )
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).first()
        if removed is None:
            raise LookupError(completion_id)
        raise AlreadyDone(
            gettext(
                "This training record was already removed by %(name)s (%(when)s). Nothing more was changed.",
                name=removed.name or gettext("someone"),
                when=localtime(removed.at),
            ),
            next_url=f"/training/people/{person.id}",
        )
    audit.record(
        "training.completion.removed",
        actor=actor,
        obj=completion,
        detail={
            "user_id": person.id,
            "course_id": completion.course_id,
            "completed_on": completion.completed_on.isoformat(),
            "expires_on": completion.expires_on.isoformat() if completion.expires_on else None,
        },
    )
    db.session.delete(completion)
    db.session.flush()
    return completion


def screening_refusal(actor: User, course: Course, instrument_name: str, on: date) -> str | None:
    """Why the actor may not record a screening that needs this course on a day; None when they may.

    The training must have been valid on the day of the screening (completed by then, not expired).
    """
    if db.session.scalars(valid_completion(actor.id, course.id, on).limit(1)).first() is not None:
        return None
    names = {"instrument": instrument_name.split(" (")[0], "course": course.name}
    latest = db.session.scalars(latest_completion(actor.id, course.id)).first()
    if latest is None:
        return gettext(
            "Recording a %(instrument)s screening needs a current “%(course)s” training; you have none on "
            "record. Ask your principal or administrator to record it once you have it.",
            **names,
        )
    if latest.completed_on > on:
        return gettext(
            "Recording a %(instrument)s screening needs a current “%(course)s” training; yours was "
            "completed on %(day)s, after the day of this screening.",
            day=localdate(latest.completed_on),
            **names,
        )
    return gettext(
        "Recording a %(instrument)s screening needs a current “%(course)s” training; yours lapsed on "
        "%(day)s. Renew it, or ask a trained colleague to screen.",
        day=localdate(latest.expires_on),
        **names,
    )
