"""Mentors and matches. A child-safety rule lives here: no match without a current background check.

A request repeated at the same moment (a double click, two counselors) waits on the row lock its
loader took (the student, the match, the mentor; the school for a new mentor) and then finds its
work done: AlreadyDone, naming who did it and when, and nothing changes.
"""

from __future__ import annotations

from datetime import date

from flask_babel import gettext
from sqlalchemy import func, select

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.auth.services import by_whom, last_done_by
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.i18n import N_, format_local
from school_prevention.programs.models import MATCH_STATUSES, OPEN_MATCH, Match, MatchContact, Mentor
from school_prevention.programs.queries import background_check_valid_since
from school_prevention.schools.models import School
from school_prevention.students.models import Student

MENTOR_FIELDS = ("name", "organisation", "email", "phone", "background_check_on", "is_active")
CONTACT_METHODS = {
    "in_person": N_("In person"),
    "phone": N_("Phone"),
    "video": N_("Video call"),
    "email": N_("Email or message"),
}
CONTACT_WITH = {"mentor": N_("Mentor"), "student": N_("Student"), "family": N_("Parent or guardian")}
# Allowed moves; "closed" is reachable from every open state.
MATCH_TRANSITIONS = {
    "inquiry": {"waiting", "matched", "closed"},
    "waiting": {"matched", "closed"},
    "matched": {"closed"},
    "closed": set(),
}


def clearance_problem(mentor: Mentor, today: date, months: int) -> str | None:
    """Why this mentor may not be matched today, or None when they may."""
    if not mentor.is_active:
        return gettext("%(name)s is no longer an active mentor.", name=mentor.name)
    if mentor.background_check_on is None:
        return gettext(
            "%(name)s has no background check on record; a mentor must be cleared before a match.", name=mentor.name
        )
    if mentor.background_check_on > today:
        return gettext("%(name)s's background check date is in the future; correct it first.", name=mentor.name)
    if mentor.background_check_on < background_check_valid_since(today, months):
        return gettext(
            "%(name)s's background check (%(day)s) is older than %(months)s months; it must be renewed before a match.",
            name=mentor.name,
            day=format_local(mentor.background_check_on, "%b %-d, %Y"),
            months=months,
        )
    return None


def save_mentor(actor: User, mentor: Mentor | None, school: School, today: date, **values) -> Mentor:
    """Create or update a mentor.

    A new mentor identical to one the school has (same name, ignoring case, and details) is the
    same request again: AlreadyDone. So is an update that changes nothing (the caller holds the
    mentor's row lock).
    """
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in MENTOR_FIELDS}
    for key in ("organisation", "email", "phone"):
        if key in values and not values[key]:
            values[key] = None
    if not values.get("name"):
        raise ServiceError("name", gettext("Enter the mentor's name."))
    if values.get("background_check_on") and values["background_check_on"] > today:
        raise ServiceError("background_check_on", gettext("The background check date cannot be in the future."))
    creating = mentor is None
    if mentor is None:
        # The school's row lock: two identical registrations at once run one after the other.
        db.session.execute(select(School.id).where(School.id == school.id).with_for_update())
        same_name = db.session.scalars(
            select(Mentor)
            .where(Mentor.school_id == school.id, func.lower(Mentor.name) == values["name"].lower())
            .execution_options(populate_existing=True)
        ).all()
        twin = next((m for m in same_name if _mentor_same(m, values)), None)
        if twin is not None:
            raise AlreadyDone(
                f"{twin.name} was already registered as a mentor by "
                f"{last_done_by(twin, 'mentor.created')}. Nothing more was changed.",
                next_url=f"/mentors/{twin.id}",
            )
        mentor = Mentor(school_id=school.id, school=school, created_at=utcnow())
        db.session.add(mentor)
    elif _mentor_same(mentor, values):
        raise AlreadyDone(
            f"These details of {mentor.name} were already saved by "
            f"{last_done_by(mentor, 'mentor.updated', 'mentor.created')}. Nothing more was changed.",
            next_url=f"/mentors/{mentor.id}",
        )
    for key, value in values.items():
        setattr(mentor, key, value)
    db.session.flush()
    audit.record(
        "mentor.created" if creating else "mentor.updated",
        actor=actor,
        obj=mentor,
        school_id=school.id,
        detail={"background_check_on": str(mentor.background_check_on) if mentor.background_check_on else None},
    )
    return mentor


def _mentor_same(mentor: Mentor, values: dict) -> bool:
    return all(getattr(mentor, key) == value for key, value in values.items())


def open_match(actor: User, student: Student) -> Match:
    """Record a student's request for a mentor (an inquiry); one open match per student.

    The caller holds the student's row lock; the partial unique index uq_mentor_match_open is the
    backstop.
    """
    if not student.is_active:
        raise ServiceError(None, gettext("This student is no longer enrolled at the school."))
    current = db.session.scalars(
        select(Match)
        .where(Match.student_id == student.id, Match.status.in_(OPEN_MATCH))
        .execution_options(populate_existing=True)
    ).first()
    if current is not None:
        raise AlreadyDone(
            gettext(
                "This student already has an open mentoring match (%(status)s), started by %(by)s. "
                "Nothing more was changed.",
                status=current.status_label.lower(),
                by=by_whom(current.created_by, current.created_at),
            ),
            next_url=f"/matches/{current.id}",
        )
    match = Match(
        student_id=student.id,
        student=student,
        school_id=student.school_id,
        status="inquiry",
        created_at=utcnow(),
        created_by_id=actor.id,
    )
    db.session.add(match)
    db.session.flush()
    audit.record("match.inquiry", actor=actor, obj=match, student=student)
    return match


def move_match(
    actor: User,
    match: Match,
    status: str,
    *,
    today: date,
    check_months: int,
    mentor: Mentor | None = None,
    on: date | None = None,
    reason: str | None = None,
) -> None:
    """Move a match along inquiry -> waiting -> matched -> closed, enforcing mentor clearance.

    The caller holds the match's row lock: a repeated request finds the match already moved and
    raises AlreadyDone.
    """
    if status == match.status:
        raise AlreadyDone(
            gettext(
                "This match was already moved to “%(status)s” by %(by)s. Nothing more was changed.",
                status=gettext(MATCH_STATUSES[status]).lower(),
                by=last_done_by(match, f"match.{status}"),
            ),
            next_url=f"/matches/{match.id}",
        )
    if status not in MATCH_TRANSITIONS.get(match.status, set()):
        raise ServiceError(
            "status",
            gettext(
                "A match that is %(status)s cannot become %(new_status)s.",
                status=match.status_label.lower(),
                new_status=gettext(MATCH_STATUSES.get(status, status)).lower(),
            ),
        )
    on = on or today
    if on > today:
        raise ServiceError("on", gettext("The date cannot be in the future."))
    detail: dict = {"from": match.status, "to": status}
    if status == "matched":
        if mentor is None:
            raise ServiceError("mentor_id", gettext("Choose the mentor."))
        if mentor.school_id != match.school_id:
            raise ServiceError("mentor_id", gettext("Choose a mentor registered at the student's school."))
        problem = clearance_problem(mentor, today, check_months)
        if problem:
            raise ServiceError("mentor_id", problem)
        match.mentor_id, match.mentor, match.matched_on = mentor.id, mentor, on
        detail["mentor_id"] = mentor.id
    if status == "closed":
        reason = (reason or "").strip()
        if not reason:
            raise ServiceError("reason", gettext("Say why the match is closing, for example “mentor relocated”."))
        if match.matched_on and on < match.matched_on:
            raise ServiceError("on", gettext("A match cannot close before it started."))
        match.closed_on, match.closure_reason = on, reason[:500]
    match.status = status
    db.session.flush()
    audit.record(f"match.{status}", actor=actor, obj=match, student=match.student, detail=detail)


def record_contact(
    actor: User, match: Match, *, contacted_on: date | None, method: str, with_whom: str, today: date
) -> MatchContact:
    """Record the monthly match-support contact."""
    if match.status != "matched":
        raise ServiceError(None, gettext("Support contacts are recorded for active matches."))
    if contacted_on is None:
        raise ServiceError("contacted_on", gettext("Enter the date of the contact."))
    if contacted_on > today:
        raise ServiceError("contacted_on", gettext("The date cannot be in the future."))
    if match.matched_on and contacted_on < match.matched_on:
        raise ServiceError("contacted_on", gettext("The match had not started on that date."))
    if method not in CONTACT_METHODS:
        raise ServiceError("method", gettext("Choose how the contact happened."))
    if with_whom not in CONTACT_WITH:
        raise ServiceError("with_whom", gettext("Choose who the contact was with."))
    # The caller holds the match's row lock; the unique index uq_match_contact_once is the backstop.
    same = db.session.scalars(
        select(MatchContact)
        .where(
            MatchContact.match_id == match.id,
            MatchContact.contacted_on == contacted_on,
            MatchContact.method == method,
            MatchContact.with_whom == with_whom,
        )
        .execution_options(populate_existing=True)
    ).first()
    if same is not None:
        raise AlreadyDone(
            gettext(
                "This contact (%(method)s with the %(whom)s on %(day)s) was already recorded by %(by)s. "
                "Nothing more was changed.",
                method=gettext(CONTACT_METHODS[method]).lower(),
                whom=gettext(CONTACT_WITH[with_whom]).lower(),
                day=format_local(contacted_on, "%b %-d, %Y"),
                by=by_whom(same.recorded_by, same.recorded_at),
            ),
            next_url=f"/matches/{match.id}",
        )
    contact = MatchContact(
        match_id=match.id,
        contacted_on=contacted_on,
        method=method,
        with_whom=with_whom,
        recorded_by_id=actor.id,
        recorded_at=utcnow(),
    )
    db.session.add(contact)
    db.session.flush()
    audit.record(
        "match.contact", actor=actor, obj=match, student=match.student, detail={"method": method, "with": with_whom}
    )
    return contact
