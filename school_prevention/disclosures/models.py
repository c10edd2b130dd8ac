"""Guardian, Consent, Disclosure and InspectionRequest.

A Disclosure is one sharing of student records outside the school: what was shared (categories
of records), with whom, on which legal basis, who approved it and when (34 CFR 99.32). It names
one student (an agency referral, a mandated report, an inspection) or many (a student-level
export): the students are rows of disclosure_student, so each student's record lists it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import JSON, CheckConstraint, Column, Date, ForeignKey, Index, String, Table, Text
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention.agencies.models import AGENCY_KINDS, Agency
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model, db
from school_prevention.i18n import N_
from school_prevention.students.models import Student

# Categories of records a sharing may include (what was shared), in the order forms list them.
RECORD_CATEGORIES = {
    "identity": N_("Identity and contact details"),
    "enrollment": N_("Enrollment, grade and attendance"),
    "concerns": N_("Concerns and risk flags"),
    "referral_reason": N_("Reason for the referral"),
    "screenings": N_("Screening results"),
    "programs": N_("Program participation"),
    "checkins": N_("Check-in history"),
    "health": N_("Health information"),
    "restricted_notes": N_("Restricted counselor notes"),
}
LEGAL_BASES = {
    "parental_consent": N_("Parental consent on file (34 CFR 99.30)"),
    "health_safety_emergency": N_("Health or safety emergency (34 CFR 99.36)"),
    "mandated_report": N_("Mandated report (state child-abuse reporting law)"),
    "court_order": N_("Court order or lawfully issued subpoena (34 CFR 99.31(a)(9))"),
    "school_official": N_("School official with a legitimate educational interest (34 CFR 99.31(a)(1))"),
    # Recorded by the app when a parent's inspection is answered; not offered on forms.
    "parent_inspection": N_("Parent's right to inspect the record (34 CFR 99.10)"),
}
# Bases a person may choose when recording a sharing (the inspection one is the app's own).
CHOOSABLE_BASES = {k: v for k, v in LEGAL_BASES.items() if k != "parent_inspection"}
# Bases whose sharing must say why (the threat, the order): 34 CFR 99.32(a)(5), 99.31(a)(9)(ii).
PURPOSE_REQUIRED = ("health_safety_emergency", "court_order")
SOURCES = {
    "recorded": N_("Recorded by hand"),
    "agency_referral": N_("Agency referral"),
    "mandated_report": N_("Mandated report"),
    "student_export": N_("Student-level export"),
    "inspection": N_("Parent inspection"),
}
CONSENT_SCOPES = {
    "any_agency": N_("Any outside agency"),
    "agency_kind": N_("Agencies of one kind"),
    "agency": N_("One named agency"),
}
GUARDIAN_ROLES = {"parent": N_("Parent"), "guardian": N_("Guardian")}
INSPECTION_DAYS = 45  # 34 CFR 99.10(b): no more than 45 days after the request


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


guardian_student = Table(
    "guardian_student",
    db.metadata,
    Column("guardian_id", ForeignKey("guardian.id", ondelete="CASCADE"), primary_key=True),
    Column("student_id", ForeignKey("student.id", ondelete="CASCADE"), primary_key=True, index=True),
)

disclosure_student = Table(
    "disclosure_student",
    db.metadata,
    Column("disclosure_id", ForeignKey("disclosure.id", ondelete="CASCADE"), primary_key=True),
    Column("student_id", ForeignKey("student.id"), primary_key=True, index=True),
)


class Guardian(Model):
    """A parent or guardian from the SIS roster (OneRoster users.csv, role parent or guardian)."""

    __tablename__ = "guardian"
    __table_args__ = (CheckConstraint(_in("role", GUARDIAN_ROLES), name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sourced_id: Mapped[str] = mapped_column(String(255), unique=True)
    given_name: Mapped[str] = mapped_column(String(255))
    family_name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="parent")  # OneRoster's role: parent or guardian
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(64))
    sms: Mapped[str | None] = mapped_column(String(64))
    # False when the SIS no longer lists them (kept: their consents stay part of the record).
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    students: Mapped[list[Student]] = relationship(secondary=guardian_student)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def role_label(self) -> str:
        return GUARDIAN_ROLES.get(self.role, self.role)


class Consent(Model):
    """A guardian's written consent to share a student's records: scope, categories, date, expiry, revocation."""

    __tablename__ = "consent"
    __table_args__ = (
        CheckConstraint(_in("scope", CONSENT_SCOPES), name="scope_known"),
        CheckConstraint("agency_kind IS NULL OR " + _in("agency_kind", AGENCY_KINDS), name="agency_kind_known"),
        CheckConstraint("expires_on IS NULL OR expires_on >= given_on", name="expires_after_given"),
        Index("ix_consent_student_id_guardian_id", "student_id", "guardian_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    guardian_id: Mapped[int] = mapped_column(ForeignKey("guardian.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    scope: Mapped[str] = mapped_column(String(20))
    agency_kind: Mapped[str | None] = mapped_column(String(30))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    categories: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str | None] = mapped_column(String(500))
    document: Mapped[str | None] = mapped_column(String(300))  # where the signed form is kept
    given_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_on: Mapped[date | None] = mapped_column(Date)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    revoked_reason: Mapped[str | None] = mapped_column(String(500))

    guardian: Mapped[Guardian] = relationship(lazy="joined")
    student: Mapped[Student] = relationship()
    agency: Mapped[Agency | None] = relationship(lazy="joined")
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    def is_current_on(self, day: date) -> bool:
        """Given by day, not expired and not revoked by then."""
        return (
            self.given_on <= day
            and (self.expires_on is None or self.expires_on >= day)
            and (self.revoked_on is None or self.revoked_on > day)
        )

    def covers(self, agency: Agency | None, categories) -> bool:
        """Whether the consent's scope takes in this recipient and every one of these categories."""
        if not set(categories) <= set(self.categories or ()):
            return False
        if self.scope == "any_agency":
            return True
        if agency is None:  # a recipient named in free text: only a consent for any agency reaches it
            return False
        if self.scope == "agency_kind":
            return agency.kind == self.agency_kind
        return agency.id == self.agency_id

    @property
    def scope_label(self) -> str:
        """Whom the consent allows sharing with, in the page's language (shown only on pages)."""
        if self.scope == "agency_kind":
            return gettext("%(kind)s agencies", kind=gettext(AGENCY_KINDS.get(self.agency_kind or "", "Agencies")))
        if self.scope == "agency":
            return self.agency.name if self.agency else gettext("One agency")
        return gettext(CONSENT_SCOPES[self.scope])

    @property
    def category_labels(self) -> list[str]:
        return [RECORD_CATEGORIES.get(c, c) for c in self.categories or ()]


class Disclosure(Model):
    """One sharing of student records outside the school (34 CFR 99.32)."""

    __tablename__ = "disclosure"
    __table_args__ = (
        CheckConstraint(_in("legal_basis", LEGAL_BASES), name="legal_basis_known"),
        CheckConstraint(_in("source", SOURCES), name="source_known"),
        CheckConstraint("legal_basis <> 'parental_consent' OR consent_id IS NOT NULL", name="consent_on_file"),
        Index("ix_disclosure_source", "source", "source_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(300))  # as disclosed: the agency's name, or who
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    categories: Mapped[list[str]] = mapped_column(JSON)
    legal_basis: Mapped[str] = mapped_column(String(30))
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consent.id"))
    # The recipient's interest, the threat, the order's reference: shown to parents who inspect.
    purpose: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="recorded")
    source_id: Mapped[int | None]
    student_count: Mapped[int] = mapped_column(default=1)
    disclosed_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # counts and ids only

    agency: Mapped[Agency | None] = relationship(lazy="joined")
    consent: Mapped[Consent | None] = relationship()
    approved_by: Mapped[User] = relationship(foreign_keys=[approved_by_id])
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])
    students: Mapped[list[Student]] = relationship(secondary=disclosure_student, viewonly=True)

    @property
    def legal_basis_label(self) -> str:
        return LEGAL_BASES.get(self.legal_basis, self.legal_basis)

    @property
    def source_label(self) -> str:
        return SOURCES.get(self.source, self.source)

    @property
    def category_labels(self) -> list[str]:
        return [RECORD_CATEGORIES.get(c, c) for c in self.categories or ()]


# Condition of the partial unique index: one open inspection request per guardian and student.
OPEN_REQUEST = "status = 'open'"


class InspectionRequest(Model):
    """A guardian's request to inspect the student's record, due within 45 days (34 CFR 99.10)."""

    __tablename__ = "inspection_request"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'answered')", name="status_known"),
        Index("ix_inspection_request_school_id_status", "school_id", "status"),
        Index(
            "uq_inspection_request_open",
            "student_id",
            "guardian_id",
            unique=True,
            postgresql_where=sa_text(OPEN_REQUEST),
            sqlite_where=sa_text(OPEN_REQUEST),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    guardian_id: Mapped[int] = mapped_column(ForeignKey("guardian.id"))
    requested_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    how_received: Mapped[str | None] = mapped_column(String(200))
    logged_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    logged_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="open")
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    included_restricted_notes: Mapped[bool | None]
    disclosure_id: Mapped[int | None] = mapped_column(ForeignKey("disclosure.id"))

    student: Mapped[Student] = relationship()
    guardian: Mapped[Guardian] = relationship(lazy="joined")
    logged_by: Mapped[User] = relationship(foreign_keys=[logged_by_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])

    @property
    def is_open(self) -> bool:
        return self.status == "open"
