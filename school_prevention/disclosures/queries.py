"""Queries for disclosures, guardians, consents and inspection requests, and their scoped loaders.

Everything here is case detail for counselors of the student's schools: each scope starts from
permissions.visible_students(user) and is empty for every other role.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import Select, bindparam, false, func, select
from sqlalchemy.orm import selectinload

from school_prevention.auth.models import User
from school_prevention.disclosures.models import (
    Consent,
    Disclosure,
    Guardian,
    InspectionRequest,
    disclosure_student,
    guardian_student,
)
from school_prevention.permissions import scoped_or_404, visible_students
from school_prevention.roles import Role
from school_prevention.students.models import Student

if TYPE_CHECKING:
    from school_prevention.agencies.models import Agency

# How many disclosures the student page shows before "see the whole record".
PAGE_DISCLOSURES = 5


def _counselor_students(user: User):
    """Ids of the students whose case records the user works with (counselors only), as a subquery."""
    if user.role_enum != Role.COUNSELOR:
        return None
    return visible_students(user).with_only_columns(Student.id)


def visible_consents(user: User) -> Select:
    """Consents about students of the counselor's schools."""
    students = _counselor_students(user)
    if students is None:
        return select(Consent).where(false())
    return select(Consent).where(Consent.student_id.in_(students))


def get_consent_or_404(user: User, consent_id: int) -> Consent:
    """A consent about a student of the counselor's schools; 404 otherwise (locked for a change)."""
    return scoped_or_404(visible_consents(user), Consent, consent_id)


def visible_inspections(user: User) -> Select:
    """Inspection requests about students of the counselor's schools."""
    students = _counselor_students(user)
    if students is None:
        return select(InspectionRequest).where(false())
    return select(InspectionRequest).where(InspectionRequest.student_id.in_(students))


def get_inspection_or_404(user: User, request_id: int) -> InspectionRequest:
    """An inspection request about a student of the counselor's schools; 404 otherwise."""
    return scoped_or_404(visible_inspections(user), InspectionRequest, request_id)


def open_inspections(user: User) -> Select:
    """The counselor's open inspection requests, soonest due first (the home page lists them)."""
    return (
        visible_inspections(user)
        .where(InspectionRequest.status == "open")
        .order_by(InspectionRequest.due_on, InspectionRequest.id)
        .options(selectinload(InspectionRequest.student))
    )


def disclosures_of_student(student_id: int) -> Select:
    """Every recorded sharing of the student's records, newest first (the caller has scoped the student)."""
    listed = select(disclosure_student.c.disclosure_id).where(disclosure_student.c.student_id == student_id)
    return (
        select(Disclosure)
        .where(Disclosure.id.in_(listed))
        .order_by(Disclosure.disclosed_at.desc(), Disclosure.id.desc())
        .options(selectinload(Disclosure.approved_by), selectinload(Disclosure.consent))
    )


def guardians_of_student(student_id: int) -> Select:
    """The student's guardians from the roster: current ones first, by name."""
    return (
        select(Guardian)
        .join(guardian_student, guardian_student.c.guardian_id == Guardian.id)
        .where(guardian_student.c.student_id == student_id)
        .order_by(Guardian.is_active.desc(), Guardian.family_name, Guardian.given_name, Guardian.id)
    )


def guardian_of_student(student_id: int, guardian_id: int) -> Select:
    """The guardian if they are one of the student's."""
    return guardians_of_student(student_id).where(Guardian.id == guardian_id)


def consents_of_student(student_id: int) -> Select:
    """The student's consents, newest first, with who recorded and revoked them."""
    return (
        select(Consent)
        .where(Consent.student_id == student_id)
        .order_by(Consent.given_on.desc(), Consent.id.desc())
        .options(selectinload(Consent.recorded_by), selectinload(Consent.revoked_by))
    )


def current_consents(student_id: int, on: date) -> Select:
    """The student's consents current on a day (given, not expired, not revoked), newest first."""
    return (
        select(Consent)
        .where(
            Consent.student_id == student_id,
            Consent.given_on <= on,
            (Consent.expires_on.is_(None)) | (Consent.expires_on >= on),
            (Consent.revoked_on.is_(None)) | (Consent.revoked_on > on),
        )
        .order_by(Consent.given_on.desc(), Consent.id.desc())
    )


def inspections_of_student(student_id: int) -> Select:
    """The student's inspection requests, open first, newest first."""
    return (
        select(InspectionRequest)
        .where(InspectionRequest.student_id == student_id)
        .order_by(InspectionRequest.status.desc(), InspectionRequest.requested_on.desc(), InspectionRequest.id.desc())
    )


def same_disclosure_since(student_id: int, actor_id: int, legal_basis: str, recipient: str, since) -> Select:
    """The actor's recordings of a sharing of this student's records with this recipient on this basis since a moment."""
    listed = select(disclosure_student.c.disclosure_id).where(disclosure_student.c.student_id == student_id)
    return (
        select(Disclosure)
        .where(
            Disclosure.id.in_(listed),
            Disclosure.recorded_by_id == actor_id,
            Disclosure.legal_basis == legal_basis,
            Disclosure.recipient == recipient,
            Disclosure.created_at >= since,
        )
        .order_by(Disclosure.id.desc())
    )


def disclosure_of_source(source: str, source_id: int) -> Select:
    """The disclosure an app record made (a mandated report's, an agency referral's), if any."""
    return select(Disclosure).where(Disclosure.source == source, Disclosure.source_id == source_id).limit(1)


def student_page_section():
    """The student page's newest disclosures, each with the student's total (students.page_queries makes
    it a section of the page's one statement): (query, named columns, order), for :student_id."""
    listed = select(disclosure_student.c.disclosure_id).where(
        disclosure_student.c.student_id == bindparam("student_id")
    )
    newest = (
        select(
            Disclosure.id,
            Disclosure.disclosed_at,
            Disclosure.recipient,
            Disclosure.legal_basis,
            Disclosure.source,
            func.count().over().label("total"),
        )
        .where(Disclosure.id.in_(listed))
        .order_by(Disclosure.disclosed_at.desc(), Disclosure.id.desc())
        .limit(PAGE_DISCLOSURES)
        .subquery("newest_disclosures")
    )
    columns = {name: newest.c[name] for name in ("id", "disclosed_at", "recipient", "legal_basis", "source", "total")}
    return select(newest.c.id), columns, [newest.c.disclosed_at.desc(), newest.c.id.desc()]


def student_page_guardians():
    """The student page's parents and guardians from the SIS roster, active ones (a section of the page's one
    statement, like student_page_section): (query, named columns, order), by family name, for :student_id."""
    columns = {
        "given_name": Guardian.given_name,
        "family_name": Guardian.family_name,
        "role": Guardian.role,
        "phone": Guardian.phone,
        "email": Guardian.email,
    }
    query = (
        select(Guardian.id)
        .join(guardian_student, guardian_student.c.guardian_id == Guardian.id)
        .where(guardian_student.c.student_id == bindparam("student_id"), Guardian.is_active.is_(True))
    )
    return query, columns, [Guardian.family_name, Guardian.given_name, Guardian.id]


def approvers(school_id: int) -> Select:
    """Who may approve sharing a student's records: the school's active counselors and principals."""
    from school_prevention.auth.models import user_school

    return (
        select(User)
        .join(user_school, user_school.c.user_id == User.id)
        .where(
            user_school.c.school_id == school_id,
            User.is_active.is_(True),
            User.role.in_((Role.COUNSELOR.value, Role.PRINCIPAL.value)),
        )
        .order_by(User.role, User.name)
    )


def load_sharing_choices(student: Student, today: date) -> tuple[Sequence[Agency], Sequence[User], Sequence[Consent]]:
    """What a form recording a sharing about the student offers: the agency directory, the people who
    may approve at the student's school, and the consents on file today (three queries)."""
    from school_prevention.agencies.queries import directory
    from school_prevention.extensions import db

    return (
        db.session.scalars(directory()).all(),
        db.session.scalars(approvers(student.school_id)).all(),
        db.session.scalars(current_consents(student.id, today)).all(),
    )
