"""Record disclosures (with the consent check), guardians' consents, and parent inspection requests.

Every sharing of a student's records outside the school is a Disclosure: recorded by hand, or by
the app when it shares on its own account (an agency referral, a mandated report, a student-level
export, an answered inspection). A sharing on the basis of parental consent cannot be recorded
unless a consent current on the day, given by one of the student's guardians, covers the
recipient and everything shared.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, cast

from flask_babel import gettext
from sqlalchemy import CursorResult, func, insert, literal, select, update

from school_prevention import audit
from school_prevention.agencies.models import AGENCY_KINDS, Agency
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.disclosures.models import (
    CHOOSABLE_BASES,
    CONSENT_SCOPES,
    INSPECTION_DAYS,
    LEGAL_BASES,
    PURPOSE_REQUIRED,
    RECORD_CATEGORIES,
    Consent,
    Disclosure,
    Guardian,
    InspectionRequest,
    disclosure_student,
)
from school_prevention.disclosures.queries import (
    current_consents,
    disclosure_of_source,
    guardian_of_student,
    same_disclosure_since,
)
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.i18n import localdate
from school_prevention.students.models import Student
from school_prevention.students.services import lock_student
from school_prevention.timezones import district_zone, localtime

# The same sharing recorded again by the same person this soon is a double click, not a second sharing.
REPEAT_WINDOW = timedelta(minutes=10)


def _categories(categories: Iterable[str]) -> list[str]:
    """The categories in their catalogue order; ServiceError when none, or one unknown."""
    chosen = set(categories or ())
    if not chosen:
        raise ServiceError("categories", gettext("Tick what was shared."))
    unknown = chosen - set(RECORD_CATEGORIES)
    if unknown:
        raise ServiceError("categories", gettext("Choose what was shared from the list."))
    return [c for c in RECORD_CATEGORIES if c in chosen]


def consent_covering(student: Student, agency: Agency | None, categories: Iterable[str], on: date) -> Consent | None:
    """A consent of one of the student's current guardians, current on the day, covering this sharing."""
    categories = list(categories)
    for consent in db.session.scalars(current_consents(student.id, on)):
        if consent.guardian.is_active and consent.covers(agency, categories):
            return consent
    return None


def _no_consent_message(student: Student, recipient: str, categories: list[str]) -> str:
    shared = ", ".join(gettext(RECORD_CATEGORIES[c]).lower() for c in categories)
    return gettext(
        "No current parental consent on file covers sharing %(shared)s with %(recipient)s. Record the "
        "guardian's signed consent first (the student's disclosure record › Record a consent), or choose "
        "the legal basis that applies.",
        shared=shared,
        recipient=recipient,
    )


def record_disclosure(
    actor: User,
    student: Student,
    *,
    recipient: str | None = None,
    agency: Agency | None = None,
    categories: Iterable[str],
    legal_basis: str,
    purpose: str | None = None,
    approved_by: User | None = None,
    disclosed_at: datetime | None = None,
    source: str = "recorded",
    source_id: int | None = None,
    detail: dict | None = None,
    choosable_only: bool = True,
) -> Disclosure:
    """Record one sharing of a student's records outside the school, with its legal basis and approver.

    With legal basis "parental consent" a current consent on file must cover the recipient and
    every category shared; otherwise ServiceError on legal_basis says so and nothing is saved.
    """
    categories = _categories(categories)
    if legal_basis not in (CHOOSABLE_BASES if choosable_only else LEGAL_BASES):
        raise ServiceError("legal_basis", gettext("Choose the legal basis for sharing."))
    if agency is not None and not agency.is_active and source == "recorded":
        raise ServiceError("agency", gettext("This agency is no longer in the directory; choose another."))
    recipient = agency.name if agency is not None else (recipient or "").strip()
    if not recipient:
        raise ServiceError(
            "recipient", gettext("Say who the records were shared with: an agency from the directory, or a name.")
        )
    if len(recipient) > 300:
        raise ServiceError("recipient", gettext("Keep the recipient to 300 characters."))
    purpose = (purpose or "").strip() or None
    if legal_basis in PURPOSE_REQUIRED and not purpose:
        raise ServiceError(
            "purpose",
            gettext(
                "Say why: the threat to health or safety, or the court order or subpoena (court, date, reference)."
            ),
        )
    now = utcnow()
    disclosed_at = disclosed_at or now
    if disclosed_at > now + timedelta(minutes=1):
        raise ServiceError("disclosed_at", gettext("The date of sharing cannot be in the future."))
    approved_by = approved_by or actor
    if not approved_by.is_active:
        raise ServiceError("approved_by", gettext("Choose someone with an active account as the approver."))
    consent = None
    if legal_basis == "parental_consent":
        day = disclosed_at.astimezone(district_zone()).date()
        consent = consent_covering(student, agency, categories, day)
        if consent is None:
            raise ServiceError("legal_basis", _no_consent_message(student, recipient, categories))
    if source == "recorded":
        lock_student(student)
        twin = db.session.scalars(
            same_disclosure_since(student.id, actor.id, legal_basis, recipient, now - REPEAT_WINDOW)
        ).first()
        if twin is not None and twin.categories == categories:
            raise AlreadyDone(
                gettext(
                    "You already recorded this sharing with %(recipient)s at %(when)s. Nothing more was saved.",
                    recipient=recipient,
                    when=localtime(twin.created_at),
                ),
                next_url=f"/students/{student.id}/disclosures",
            )
    disclosure = Disclosure(
        recipient=recipient,
        agency_id=agency.id if agency else None,
        agency=agency,
        categories=categories,
        legal_basis=legal_basis,
        consent_id=consent.id if consent else None,
        consent=consent,
        purpose=purpose,
        source=source,
        source_id=source_id,
        student_count=1,
        disclosed_at=disclosed_at,
        approved_by_id=approved_by.id,
        approved_by=approved_by,
        recorded_by_id=actor.id,
        created_at=now,
        detail=detail,
    )
    db.session.add(disclosure)
    db.session.flush()
    db.session.execute(insert(disclosure_student).values(disclosure_id=disclosure.id, student_id=student.id))
    audit.record(
        "disclosure.recorded",
        actor=actor,
        obj=disclosure,
        student=student,
        detail={
            "legal_basis": legal_basis,
            "source": source,
            "categories": categories,
            "consent_id": consent.id if consent else None,
        },
    )
    return disclosure


def record_mandated_report_disclosure(actor: User, flag) -> Disclosure | None:
    """The sharing a mandated report makes (flags.services.record_mandated_report calls this).

    A report made is a disclosure to the agency on the mandated-report basis; a corrected record
    updates that disclosure rather than adding a second one. A record that no report was made
    shares nothing (an earlier disclosure stays: it is part of the history).
    """
    if flag.report_not_made_reason or not flag.report_agency:
        return None
    agency = db.session.scalars(select(Agency).where(func.lower(Agency.name) == flag.report_agency.lower())).first()
    purpose = "Report of suspected abuse or exploitation" + (
        f" (reference {flag.report_reference})" if flag.report_reference else ""
    )
    existing = db.session.scalars(disclosure_of_source("mandated_report", flag.id)).first()
    if existing is not None:
        existing.recipient = agency.name if agency is not None else flag.report_agency
        existing.agency_id, existing.agency = (agency.id if agency is not None else None), agency
        existing.disclosed_at, existing.purpose = flag.report_made_at or utcnow(), purpose
        audit.record(
            "disclosure.corrected",
            actor=actor,
            obj=existing,
            student=flag.student,
            detail={"source": "mandated_report", "flag_id": flag.id},
        )
        return existing
    return record_disclosure(
        actor,
        flag.student,
        recipient=flag.report_agency,
        agency=agency,
        categories=["identity", "concerns"],
        legal_basis="mandated_report",
        purpose=purpose,
        disclosed_at=min(flag.report_made_at or utcnow(), utcnow()),
        source="mandated_report",
        source_id=flag.id,
        detail={"flag_id": flag.id},
    )


def record_export_disclosure(
    actor: User,
    student_sourced_ids: Iterable[str],
    *,
    dataset: str,
    categories: list[str],
    purpose: str,
    detail: dict | None = None,
) -> Disclosure:
    """One disclosure for a student-level export, listed on the record of every student it includes.

    The district's export is a sharing of student-level records under the district's authority
    (its data office as school officials; the stated purpose names who asked): one row, with each
    included student linked by a set-based INSERT ... SELECT in chunks, never a query per student.
    """
    sids = sorted(set(student_sourced_ids))
    now = utcnow()
    disclosure = Disclosure(
        recipient=f"Student-level export by {actor.name} (district)",
        categories=categories,
        legal_basis="school_official",
        purpose=purpose,
        source="student_export",
        source_id=None,
        student_count=len(sids),
        disclosed_at=now,
        approved_by_id=actor.id,
        recorded_by_id=actor.id,
        created_at=now,
        detail={"dataset": dataset, **(detail or {})},
    )
    db.session.add(disclosure)
    db.session.flush()
    for start in range(0, len(sids), 5000):
        chunk = sids[start : start + 5000]
        db.session.execute(
            insert(disclosure_student).from_select(
                ["disclosure_id", "student_id"],
                select(literal(disclosure.id), Student.id).where(Student.sourced_id.in_(chunk)),
            )
        )
    return disclosure


# --- consents --------------------------------------------------------------------------------


def record_consent(
    actor: User,
    student: Student,
    *,
    guardian: Guardian | None,
    scope: str,
    agency_kind: str | None,
    agency: Agency | None,
    categories: Iterable[str],
    given_on: date | None,
    expires_on: date | None,
    purpose: str | None,
    document: str | None,
    today: date,
) -> Consent:
    """Record a guardian's written consent to share the student's records."""
    if guardian is None or db.session.scalars(guardian_of_student(student.id, guardian.id)).first() is None:
        raise ServiceError("guardian", gettext("Choose one of the student's guardians."))
    if not guardian.is_active:
        raise ServiceError(
            "guardian", gettext("The SIS no longer lists this guardian; a consent must come from a current one.")
        )
    if scope not in CONSENT_SCOPES:
        raise ServiceError("scope", gettext("Choose whom the consent allows sharing with."))
    if scope == "agency_kind" and agency_kind not in AGENCY_KINDS:
        raise ServiceError("agency_kind", gettext("Choose the kind of agency."))
    if scope == "agency" and agency is None:
        raise ServiceError("agency", gettext("Choose the agency."))
    categories = _categories(categories)
    if given_on is None:
        raise ServiceError("given_on", gettext("Give the date the guardian signed."))
    if given_on > today:
        raise ServiceError("given_on", gettext("The date signed cannot be in the future."))
    if expires_on is not None and expires_on < given_on:
        raise ServiceError("expires_on", gettext("The consent cannot expire before it was given."))
    lock_student(student)
    agency_kind = agency_kind if scope == "agency_kind" else None
    agency_id = agency.id if scope == "agency" and agency else None
    for earlier in db.session.scalars(current_consents(student.id, today)):
        if (
            earlier.guardian_id,
            earlier.scope,
            earlier.agency_kind,
            earlier.agency_id,
            earlier.given_on,
            earlier.expires_on,
            earlier.categories,
        ) == (guardian.id, scope, agency_kind, agency_id, given_on, expires_on, categories):
            raise AlreadyDone(
                gettext(
                    "This consent was already recorded by %(name)s (%(when)s). Nothing more was saved.",
                    name=earlier.recorded_by.name,
                    when=localtime(earlier.recorded_at),
                ),
                next_url=f"/students/{student.id}/disclosures",
            )
    consent = Consent(
        guardian_id=guardian.id,
        guardian=guardian,
        student_id=student.id,
        scope=scope,
        agency_kind=agency_kind,
        agency_id=agency_id,
        categories=categories,
        purpose=(purpose or "").strip() or None,
        document=(document or "").strip() or None,
        given_on=given_on,
        expires_on=expires_on,
        recorded_by_id=actor.id,
        recorded_at=utcnow(),
    )
    db.session.add(consent)
    db.session.flush()
    audit.record(
        "consent.recorded",
        actor=actor,
        obj=consent,
        student=student,
        detail={"guardian_id": guardian.id, "scope": scope, "categories": categories},
    )
    return consent


def revoke_consent(actor: User, consent: Consent, *, revoked_on: date | None, reason: str | None, today: date) -> None:
    """Record that the guardian withdrew the consent (from the day given). Once: a conditional UPDATE."""
    if revoked_on is None:
        raise ServiceError("revoked_on", gettext("Give the date the guardian withdrew the consent."))
    if revoked_on > today:
        raise ServiceError("revoked_on", gettext("The date cannot be in the future."))
    if revoked_on < consent.given_on:
        raise ServiceError("revoked_on", gettext("The consent cannot be withdrawn before it was given."))
    changed = cast(
        CursorResult[Any],
        db.session.execute(
            update(Consent)
            .where(Consent.id == consent.id, Consent.revoked_at.is_(None))
            .values(
                revoked_at=utcnow(),
                revoked_on=revoked_on,
                revoked_by_id=actor.id,
                revoked_reason=(reason or "").strip() or None,
            )
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    db.session.refresh(consent)
    if not changed:
        who = consent.revoked_by.name if consent.revoked_by else gettext("someone")
        raise AlreadyDone(
            gettext(
                "This consent was already withdrawn, as recorded by %(name)s (%(when)s). Nothing more was changed.",
                name=who,
                when=localtime(consent.revoked_at),
            ),
            next_url=f"/students/{consent.student_id}/disclosures",
        )
    audit.record(
        "consent.revoked",
        actor=actor,
        obj=consent,
        student=consent.student,
        detail={"revoked_on": revoked_on.isoformat()},
    )


# --- parent inspection requests ----------------------------------------------------------------


def log_inspection_request(
    actor: User,
    student: Student,
    *,
    guardian: Guardian | None,
    requested_on: date | None,
    how_received: str | None,
    today: date,
) -> InspectionRequest:
    """Log a guardian's request to inspect the record; it is due 45 days after the request."""
    if guardian is None or db.session.scalars(guardian_of_student(student.id, guardian.id)).first() is None:
        raise ServiceError("guardian", gettext("Choose one of the student's guardians."))
    if requested_on is None:
        raise ServiceError("requested_on", gettext("Give the date the request was received."))
    if requested_on > today:
        raise ServiceError("requested_on", gettext("The date received cannot be in the future."))
    lock_student(student)
    waiting = db.session.scalars(
        select(InspectionRequest).where(
            InspectionRequest.student_id == student.id,
            InspectionRequest.guardian_id == guardian.id,
            InspectionRequest.status == "open",
        )
    ).first()
    if waiting is not None:
        raise AlreadyDone(
            gettext(
                "%(guardian)s's request of %(day)s is already logged (by %(name)s) and waits for "
                "an answer, due %(due)s. Nothing more was saved.",
                guardian=guardian.name,
                day=localdate(waiting.requested_on),
                name=waiting.logged_by.name,
                due=localdate(waiting.due_on),
            ),
            next_url=f"/inspections/{waiting.id}",
        )
    request = InspectionRequest(
        student_id=student.id,
        school_id=student.school_id,
        guardian_id=guardian.id,
        guardian=guardian,
        requested_on=requested_on,
        due_on=requested_on + timedelta(days=INSPECTION_DAYS),
        how_received=(how_received or "").strip() or None,
        logged_by_id=actor.id,
        logged_at=utcnow(),
        status="open",
    )
    db.session.add(request)
    db.session.flush()
    audit.record(
        "inspection.logged",
        actor=actor,
        obj=request,
        student=student,
        detail={"guardian_id": guardian.id, "due_on": request.due_on.isoformat()},
    )
    return request


def answer_inspection(
    actor: User, request: InspectionRequest, *, categories: list[str], include_restricted: bool
) -> Disclosure:
    """Mark the request answered with the printed record: once (a conditional UPDATE), as a disclosure."""
    now = utcnow()
    changed = cast(
        CursorResult[Any],
        db.session.execute(
            update(InspectionRequest)
            .where(InspectionRequest.id == request.id, InspectionRequest.status == "open")
            .values(
                status="answered",
                answered_at=now,
                answered_by_id=actor.id,
                included_restricted_notes=include_restricted,
            )
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    db.session.refresh(request)
    if not changed:
        who = request.answered_by.name if request.answered_by else gettext("someone")
        raise AlreadyDone(
            gettext(
                "This request was already answered by %(name)s (%(when)s). Nothing more was recorded.",
                name=who,
                when=localtime(request.answered_at),
            ),
            next_url=f"/inspections/{request.id}",
        )
    guardian = request.guardian
    disclosure = record_disclosure(
        actor,
        request.student,
        recipient=f"{guardian.name} ({guardian.role_label.lower()}), inspection of the record",
        categories=categories,
        legal_basis="parent_inspection",
        choosable_only=False,
        purpose=f"Request received {request.requested_on:%b %-d, %Y}",
        source="inspection",
        source_id=request.id,
        detail={"inspection_id": request.id, "restricted_notes": include_restricted},
    )
    request.disclosure_id = disclosure.id
    audit.record(
        "inspection.answered",
        actor=actor,
        obj=request,
        student=request.student,
        detail={"disclosure_id": disclosure.id, "restricted_notes": include_restricted},
    )
    return disclosure
