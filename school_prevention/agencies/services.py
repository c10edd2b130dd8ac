"""Keep the agency directory; refer a student to an agency and follow the referral to its outcome.

A referral shares the student's information outside the school, so making one records a
disclosure (disclosures.services.record_disclosure): what was shared, on which legal basis and
who approved it; with "parental consent" a current consent must be on file or nothing is saved.
Status changes are conditional UPDATEs on the status they start from, so of two identical
requests the second is told who made the change.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypedDict, cast

from flask_babel import gettext
from sqlalchemy import CursorResult, update

from school_prevention import audit, crypto
from school_prevention.agencies.models import (
    AGENCY_KINDS,
    OUTCOMES,
    STATUSES,
    TRANSITIONS,
    Agency,
    AgencyReferral,
    AgencyReferralEvent,
)
from school_prevention.agencies.queries import agency_named, open_referral_to
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.disclosures.services import record_disclosure
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.students.models import Student
from school_prevention.students.services import lock_student
from school_prevention.timezones import localtime

AGENCY_FIELDS = ("name", "kind", "contact_name", "phone", "email", "address", "website", "notes", "is_active")


def save_agency(actor: User, agency: Agency | None, **values) -> Agency:
    """Add an agency to the directory or change one (admins)."""
    values = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in values.items() if k in AGENCY_FIELDS}
    if not values.get("name"):
        raise ServiceError("name", gettext("Give the agency's name."))
    if values.get("kind") not in AGENCY_KINDS:
        raise ServiceError("kind", gettext("Choose the kind of agency."))
    website = values.get("website")
    if website and not website.lower().startswith(("https://", "http://")):
        raise ServiceError("website", gettext("Give the website's address starting with https://."))
    same = db.session.scalars(agency_named(values["name"])).first()
    if same is not None and same is not agency:
        raise ServiceError(
            "name", gettext("The directory already has %(name)s. Edit that entry instead.", name=same.name)
        )
    if agency is None:
        agency = Agency(created_at=utcnow(), **values)
        db.session.add(agency)
        db.session.flush()
        audit.record("agency.created", actor=actor, obj=agency)
        return agency
    changed = sorted(k for k, v in values.items() if getattr(agency, k) != v)
    if not changed:
        raise AlreadyDone(
            gettext("%(name)s already has these details. Nothing was changed.", name=agency.name), next_url="/agencies"
        )
    for key in changed:
        setattr(agency, key, values[key])
    audit.record("agency.updated", actor=actor, obj=agency, detail={"fields": changed})
    return agency


def refer_student(
    actor: User,
    student: Student,
    *,
    agency: Agency | None,
    categories: list[str],
    legal_basis: str,
    purpose: str | None,
    approved_by: User | None,
    reason: str | None,
    follow_up_on: date | None,
    today: date,
) -> AgencyReferral:
    """Refer the student to an agency, recording what is shared and on which legal basis.

    One open referral of a student to an agency: the same referral sent again (a double click, two
    counselors at once) is refused under the student's row lock, naming who made it.
    """
    if agency is None:
        raise ServiceError("agency", gettext("Choose the agency from the directory."))
    if not agency.is_active:
        raise ServiceError("agency", gettext("This agency is no longer in the directory; choose another."))
    if follow_up_on is not None and follow_up_on < today:
        raise ServiceError("follow_up_on", gettext("The follow-up date cannot be in the past."))
    lock_student(student)
    earlier = db.session.scalars(open_referral_to(student.id, agency.id)).first()
    if earlier is not None:
        raise AlreadyDone(
            gettext(
                "This student was already referred to %(agency)s by %(name)s (%(when)s); that "
                "referral is %(status)s. Nothing more was sent.",
                agency=agency.name,
                name=earlier.referred_by.name,
                when=localtime(earlier.referred_at),
                status=gettext(earlier.status_label).lower(),
            ),
            next_url=f"/agency-referrals/{earlier.id}",
        )
    now = utcnow()
    # The sharing first: refused (no consent on file, a missing purpose), nothing at all is saved.
    disclosure = record_disclosure(
        actor,
        student,
        agency=agency,
        categories=categories,
        legal_basis=legal_basis,
        purpose=purpose,
        approved_by=approved_by,
        disclosed_at=now,
        source="agency_referral",
    )
    referral = AgencyReferral(
        student_id=student.id,
        student=student,
        school_id=student.school_id,
        agency_id=agency.id,
        agency=agency,
        status="sent",
        reason_ciphertext=crypto.encrypt((reason or "").strip() or None),
        referred_by_id=actor.id,
        referred_at=now,
        status_changed_at=now,
        status_changed_by_id=actor.id,
        follow_up_on=follow_up_on,
        follow_up_seq=1 if follow_up_on else 0,
        disclosure_id=disclosure.id,
        updated_at=now,
    )
    db.session.add(referral)
    db.session.flush()
    disclosure.source_id, disclosure.detail = referral.id, {"agency_referral_id": referral.id}
    db.session.add(AgencyReferralEvent(referral_id=referral.id, at=now, actor_id=actor.id, action="sent"))
    audit.record(
        "agency_referral.created",
        actor=actor,
        obj=referral,
        student=student,
        detail={"agency_id": agency.id, "disclosure_id": disclosure.id, "legal_basis": legal_basis},
    )
    return referral


class ReferralNotes(TypedDict):
    """A referral's restricted texts, decrypted for display (None: none written)."""

    reason: str | None
    outcome: str | None
    events: dict[int, str | None]  # follow-up notes by event id


def read_reason(actor: User, referral: AgencyReferral) -> ReferralNotes:
    """The restricted texts of a referral (reason, outcome note, follow-up notes); a read is audited."""
    reason = crypto.decrypt_for_display(referral.reason_ciphertext)
    outcome = crypto.decrypt_for_display(referral.outcome_note_ciphertext)
    events = {e.id: crypto.decrypt_for_display(e.note_ciphertext) for e in referral.events if e.note_ciphertext}
    if reason or outcome or events:
        audit.record("agency_referral.note.read", actor=actor, obj=referral, student=referral.student)
    return {"reason": reason, "outcome": outcome, "events": events}


def _last_step(referral: AgencyReferral, action: str) -> str:
    """' by Casey Counselor (Dec 3, 2026 10:02 AM)' for the referral's latest event of this action."""
    event = next((e for e in referral.events if e.action == action), None)
    if event is None:
        return ""
    return " " + gettext(
        "by %(name)s (%(when)s)", name=event.actor.name if event.actor else gettext("someone"), when=localtime(event.at)
    )


def change_status(
    actor: User,
    referral: AgencyReferral,
    new_status: str,
    *,
    outcome: str | None = None,
    outcome_note: str | None = None,
    agency_reference: str | None = None,
    note: str | None = None,
) -> None:
    """Move the referral on (sent -> accepted / declined -> services started -> closed); closing needs an outcome."""
    if new_status not in STATUSES:
        raise ServiceError("status", gettext("Choose the referral's new status."))
    if new_status == referral.status:
        raise AlreadyDone(
            gettext(
                "This referral is already %(status)s%(by)s. Nothing more was changed.",
                status=gettext(referral.status_label).lower(),
                by=_last_step(referral, new_status),
            ),
            next_url=f"/agency-referrals/{referral.id}",
        )
    if new_status not in TRANSITIONS.get(referral.status, ()):
        raise ServiceError(
            "status",
            gettext(
                "A referral that is %(status)s cannot become %(new_status)s.",
                status=gettext(referral.status_label).lower(),
                new_status=gettext(STATUSES[new_status]).lower(),
            ),
        )
    values: dict = {
        "status": new_status,
        "status_changed_at": utcnow(),
        "status_changed_by_id": actor.id,
        "updated_at": utcnow(),
    }
    if new_status == "closed":
        if outcome not in OUTCOMES:
            raise ServiceError("outcome", gettext("Choose the outcome before closing the referral."))
        values.update(
            outcome=outcome,
            outcome_note_ciphertext=crypto.encrypt((outcome_note or "").strip() or None),
            closed_at=utcnow(),
            follow_up_on=None,
        )
    reference = (agency_reference or "").strip() or None
    if reference:
        values["agency_reference"] = reference
    # Only from the status this request saw: a second identical request finds it moved and changes nothing.
    moved = cast(
        CursorResult[Any],
        db.session.execute(
            update(AgencyReferral)
            .where(AgencyReferral.id == referral.id, AgencyReferral.status == referral.status)
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    db.session.refresh(referral)
    if not moved:
        raise AlreadyDone(
            gettext(
                "This referral was moved meanwhile; it is now %(status)s%(by)s. Nothing more was changed.",
                status=gettext(referral.status_label).lower(),
                by=_last_step(referral, referral.status),
            ),
            next_url=f"/agency-referrals/{referral.id}",
        )
    db.session.add(
        AgencyReferralEvent(
            referral_id=referral.id,
            at=utcnow(),
            actor_id=actor.id,
            action=new_status,
            note_ciphertext=crypto.encrypt((note or "").strip() or None),
        )
    )
    db.session.flush()
    db.session.expire(referral, ["events"])
    audit.record(
        "agency_referral.status",
        actor=actor,
        obj=referral,
        student=referral.student,
        detail={"status": new_status, "outcome": outcome if new_status == "closed" else None},
    )


def record_follow_up(
    actor: User,
    referral: AgencyReferral,
    *,
    seen_seq: int | None,
    note: str | None,
    next_follow_up_on: date | None,
    today: date,
) -> None:
    """Record a follow-up with the agency and set (or clear) the next follow-up date.

    seen_seq is the follow-up the form was shown with: an UPDATE conditional on it makes a second
    identical request (a double click) find the follow-up already recorded.
    """
    if referral.status == "closed":
        raise ServiceError("note", gettext("This referral is closed; there is nothing to follow up."))
    if not (note or "").strip() and next_follow_up_on is None:
        raise ServiceError("note", gettext("Write what the agency said, or set the next follow-up date."))
    if next_follow_up_on is not None and next_follow_up_on < today:
        raise ServiceError("next_follow_up_on", gettext("The next follow-up date cannot be in the past."))
    seen = referral.follow_up_seq if seen_seq is None else seen_seq
    done = cast(
        CursorResult[Any],
        db.session.execute(
            update(AgencyReferral)
            .where(
                AgencyReferral.id == referral.id,
                AgencyReferral.follow_up_seq == seen,
                AgencyReferral.status != "closed",
            )
            .values(follow_up_on=next_follow_up_on, follow_up_seq=seen + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    db.session.refresh(referral)
    if not done:
        raise AlreadyDone(
            gettext(
                "A follow-up was already recorded%(by)s. Nothing more was saved.", by=_last_step(referral, "follow_up")
            ),
            next_url=f"/agency-referrals/{referral.id}",
        )
    db.session.add(
        AgencyReferralEvent(
            referral_id=referral.id,
            at=utcnow(),
            actor_id=actor.id,
            action="follow_up",
            note_ciphertext=crypto.encrypt((note or "").strip() or None),
        )
    )
    db.session.flush()
    db.session.expire(referral, ["events"])
    audit.record(
        "agency_referral.follow_up",
        actor=actor,
        obj=referral,
        student=referral.student,
        detail={"next_follow_up_on": next_follow_up_on.isoformat() if next_follow_up_on else None},
    )
