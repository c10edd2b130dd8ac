"""Submit a referral (notifying the school's counselors at once) and triage it."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from flask import current_app
from flask_babel import gettext
from sqlalchemy import update

from school_prevention import audit, crypto
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory, RiskFlag
from school_prevention.flags.services import create_flag
from school_prevention.i18n import N_
from school_prevention.notifications.services import notify
from school_prevention.referrals.models import URGENCIES, Referral
from school_prevention.referrals.queries import counselors_of_school, district_counselor, recent_open_referrals_by
from school_prevention.students.models import Student
from school_prevention.students.services import lock_student
from school_prevention.timezones import localtime

log = logging.getLogger("school_prevention.referrals")

# The same referral sent again within this time, still open, is the same concern sent twice (a
# double click, a reload that sends the form again), not a new one.
REPEAT_WINDOW = timedelta(minutes=10)


def submit_referral(
    actor: User, student: Student, *, categories: list[FlagCategory], observation: str, urgency: str
) -> Referral:
    """Record a staff member's concern and tell every counselor of the student's school."""
    if not categories:
        raise ServiceError("categories", gettext("Tick at least one kind of concern."))
    if not (observation or "").strip():
        raise ServiceError("observation", gettext("Write what you saw or heard."))
    if urgency not in URGENCIES:
        raise ServiceError("urgency", gettext("Choose how soon a counselor should look at this."))
    _refuse_repeat(actor, student, categories, observation.strip(), urgency)
    referral = Referral(
        student_id=student.id,
        student=student,
        school_id=student.school_id,
        submitted_by_id=actor.id,
        submitted_at=utcnow(),
        categories=categories,
        observation_ciphertext=crypto.encrypt(observation.strip()),
        urgency=urgency,
        status="new",
    )
    db.session.add(referral)
    db.session.flush()
    audit.record(
        "referral.created",
        actor=actor,
        obj=referral,
        student=student,
        detail={"urgency": urgency, "category_ids": [c.id for c in categories]},
    )
    counselors = db.session.scalars(counselors_of_school(student.school_id)).all()
    if not counselors:
        counselors = _route_to_district_counselor(referral)
    # Initials only: the notification list is visible over a shoulder.
    notify(
        counselors,
        kind="referral.new",
        subject_type="referral",
        subject_id=referral.id,
        title=partial(_new_title, urgency == "urgent", student.initials, student.grade_label),
        link=f"/referrals/{referral.id}",
    )
    if urgency == "urgent":
        # Urgent ones never wait in the queue: an email at once (the outbox's next sweep sends it),
        # initials and a link only. Unopened after SP_URGENT_REFERRAL_MINUTES of school time, the
        # principal is told (referrals.jobs.escalate_urgent).
        notify(
            counselors,
            kind="referral.urgent",
            channel="email",
            subject_type="referral",
            subject_id=referral.id,
            title=partial(_urgent_title, student.initials),
            link=f"/referrals/{referral.id}",
        )
    return referral


# Composed in each counselor's language (notifications.locales), not the staff member's.
def _new_title(urgent: bool, initials: str, grade: str) -> str:
    if urgent:
        return gettext("New URGENT referral about %(initials)s (grade %(grade)s)", initials=initials, grade=grade)
    return gettext("New referral about %(initials)s (grade %(grade)s)", initials=initials, grade=grade)


def _urgent_title(initials: str) -> str:
    return gettext("Urgent referral about %(initials)s: please open it now", initials=initials)


def _route_to_district_counselor(referral: Referral) -> list[User]:
    """A school with no active counselor: the referral goes to the district counselor named in
    SP_DISTRICT_COUNSELOR_EMAIL, who may then open it (referrals.queries.triage_or_routed)."""
    email = current_app.config.get("SP_DISTRICT_COUNSELOR_EMAIL")
    counselor = db.session.scalars(district_counselor(email)).first() if email else None
    if counselor is None:
        log.warning(
            "referral %s: school %s has no active counselor and no district counselor is configured "
            "(SP_DISTRICT_COUNSELOR_EMAIL names no active counselor account)",
            referral.id,
            referral.school_id,
        )
        return []
    referral.routed_to_id = counselor.id
    audit.record(
        "referral.routed",
        actor=None,
        obj=referral,
        student=referral.student,
        detail={"routed_to_id": counselor.id, "reason": "no active counselor at the school"},
    )
    return [counselor]


def mark_opened(actor: User, referral: Referral) -> None:
    """Remember when a counselor first opened the referral (an urgent one unopened is escalated).

    A conditional UPDATE: the first opening stays, whoever opens it later or at the same moment.
    """
    db.session.execute(
        update(Referral)
        .where(Referral.id == referral.id, Referral.first_opened_at.is_(None))
        .values(first_opened_at=utcnow(), first_opened_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )


def _refuse_repeat(
    actor: User, student: Student, categories: list[FlagCategory], observation: str, urgency: str
) -> None:
    """Refuse the same referral sent again by the same staff member a moment later: same student,
    concerns, observation and urgency, the first still open. The observation is encrypted (no two
    ciphertexts of one text are alike), so the few recent ones are compared decrypted, under the
    student's row lock: two identical requests at the same moment take turns here. A copy with
    another urgency is a new referral: the counselors must hear of the change."""
    lock_student(student)
    recent = db.session.scalars(recent_open_referrals_by(actor.id, student.id, utcnow() - REPEAT_WINDOW)).all()
    wanted = {c.id for c in categories}
    for earlier in recent:
        if (
            earlier.urgency == urgency
            and {c.id for c in earlier.categories} == wanted
            and crypto.decrypt_for_display(earlier.observation_ciphertext) == observation
        ):
            raise AlreadyDone(
                gettext(
                    "You already sent this referral at %(time)s (%(day)s). The school's counselors "
                    "have it; nothing more was sent.",
                    time=localtime(earlier.submitted_at, "%-I:%M %p"),
                    day=localtime(earlier.submitted_at, "%b %-d, %Y"),
                ),
                next_url="/referrals/mine",
            )


def read_observation(actor: User, referral: Referral) -> str | None:
    """The observation text for a counselor; each read leaves an audit row."""
    audit.record("referral.observation.read", actor=actor, obj=referral, student=referral.student)
    return crypto.decrypt_for_display(referral.observation_ciphertext)


DECIDED = {
    "accepted": N_("This referral was already accepted by %(name)s (%(when)s). Nothing more was changed."),
    "closed": N_("This referral was already closed by %(name)s (%(when)s). Nothing more was changed."),
}


def _require_open(referral: Referral) -> None:
    """Refuse a referral that was decided meanwhile (a double click, two counselors at once): the
    loader locked its row, so the second request sees the first one's decision here."""
    if not referral.is_open:
        who = referral.triaged_by.name if referral.triaged_by else gettext("another counselor")
        when = localtime(referral.closed_at) if referral.closed_at else gettext("earlier")
        said = DECIDED.get(referral.status, DECIDED["closed"])
        raise AlreadyDone(gettext(said, name=who, when=when), next_url=f"/referrals/{referral.id}")


def start_review(actor: User, referral: Referral) -> None:
    """A counselor takes the referral into review."""
    _require_open(referral)
    if referral.status == "in_review":
        who = referral.triaged_by.name if referral.triaged_by else gettext("another counselor")
        raise AlreadyDone(
            gettext("This referral is already in review by %(name)s.", name=who), next_url=f"/referrals/{referral.id}"
        )
    referral.status, referral.triaged_by_id = "in_review", actor.id
    audit.record("referral.in_review", actor=actor, obj=referral, student=referral.student)


def accept_referral(
    actor: User,
    referral: Referral,
    *,
    existing_flag: RiskFlag | None = None,
    category: FlagCategory | None = None,
    severity: str | None = None,
    note: str | None = None,
) -> RiskFlag:
    """Accept the referral by opening a new flag, or by linking an open flag of the same student."""
    _require_open(referral)
    if existing_flag is not None:
        if existing_flag.student_id != referral.student_id or not existing_flag.is_current:
            raise ServiceError("existing_flag", gettext("Choose one of this student's current flags."))
        flag = existing_flag
    else:
        if category is None:
            raise ServiceError("category", gettext("Choose the flag's category."))
        if not severity:
            raise ServiceError("severity", gettext("Choose a severity."))
        flag = create_flag(
            actor, referral.student, category=category, severity=severity, source="staff_referral", note=note
        )
    referral.status, referral.flag_id, referral.flag = "accepted", flag.id, flag
    referral.triaged_by_id, referral.closed_at = actor.id, utcnow()
    audit.record(
        "referral.accepted",
        actor=actor,
        obj=referral,
        student=referral.student,
        detail={"flag_id": flag.id, "linked_existing": existing_flag is not None},
    )
    return flag


def close_referral(actor: User, referral: Referral, reason: str) -> None:
    """Close without a flag, saying why (kept for the counselors; staff see only 'Closed')."""
    _require_open(referral)
    if not (reason or "").strip():
        raise ServiceError("reason", gettext("Say why the referral is closed without a flag."))
    referral.status, referral.closed_reason = "closed", reason.strip()
    referral.triaged_by_id, referral.closed_at = actor.id, utcnow()
    audit.record("referral.closed", actor=actor, obj=referral, student=referral.student)
