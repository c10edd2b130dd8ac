"""Agency (the directory), AgencyReferral (a student referred to one) and its history."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention import crypto
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model
from school_prevention.i18n import N_
from school_prevention.students.models import Student

AGENCY_KINDS = {
    "child_welfare": N_("Child welfare"),
    "law_enforcement": N_("Law enforcement"),
    "juvenile_justice": N_("Juvenile justice"),
    "health": N_("Health and mental health"),
    "runaway_homeless": N_("Runaway and homeless youth services"),
    "community": N_("Community program"),
}
STATUSES = {
    "sent": N_("Sent"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "services_started": N_("Services started"),
    "closed": N_("Closed"),
}
# Where a referral may go next. Closing needs an outcome; nothing follows "closed".
TRANSITIONS = {
    "sent": ("accepted", "declined", "closed"),
    "accepted": ("services_started", "closed"),
    "declined": ("closed",),
    "services_started": ("closed",),
    "closed": (),
}
# Still open: the agency has it or is working with the student (one such referral per student and agency).
OPEN_STATUSES = ("sent", "accepted", "services_started")
# Support outside the school, for coverage: the agency took the student on.
SUPPORTING_STATUSES = ("accepted", "services_started")
OUTCOMES = {
    "services_completed": N_("Services completed"),
    "services_ongoing": N_("Services continuing outside school"),
    "family_declined": N_("Family declined services"),
    "agency_declined": N_("Agency declined or found no grounds"),
    "no_longer_needed": N_("No longer needed"),
    "moved_away": N_("Student moved away"),
    "other": N_("Other"),
}
# The condition of the partial unique index (and of migration 0017).
OPEN = "status IN ('sent', 'accepted', 'services_started')"


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Agency(Model):
    """An outside agency and whom to contact there; the admin keeps the directory."""

    __tablename__ = "agency"
    __table_args__ = (CheckConstraint(_in("kind", AGENCY_KINDS), name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(String(500))
    website: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text)  # hours, how to refer: never about a student
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def kind_label(self) -> str:
        return AGENCY_KINDS.get(self.kind, self.kind)


class AgencyReferral(Model):
    """A student referred to an outside agency: sent -> accepted / declined -> services started -> closed.

    Each referral shares the student's information outside the school, so it carries the
    disclosure that records what was shared, with whom and on what legal basis.
    """

    __tablename__ = "agency_referral"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status_known"),
        CheckConstraint("outcome IS NULL OR " + _in("outcome", OUTCOMES), name="outcome_known"),
        CheckConstraint("status <> 'closed' OR outcome IS NOT NULL", name="closed_has_outcome"),
        Index("ix_agency_referral_school_id_status", "school_id", "status"),
        Index("ix_agency_referral_follow_up_on", "follow_up_on"),
        # One open referral of a student to an agency (a double click made two). Checked first
        # under the student's row lock with a message (services.refer_student); this is the backstop.
        Index(
            "uq_agency_referral_open",
            "student_id",
            "agency_id",
            unique=True,
            postgresql_where=sa_text(OPEN),
            sqlite_where=sa_text(OPEN),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="sent")
    # Restricted: why the student was referred (encrypted, counselors only).
    reason_ciphertext: Mapped[str | None] = mapped_column(Text)
    agency_reference: Mapped[str | None] = mapped_column(String(100))  # the agency's case number
    referred_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    referred_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The next follow-up with the agency; each new date bumps the sequence, so its reminder is new too.
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    follow_up_seq: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str | None] = mapped_column(String(30))
    outcome_note_ciphertext: Mapped[str | None] = mapped_column(Text)  # restricted
    closed_at: Mapped[datetime | None]
    disclosure_id: Mapped[int | None] = mapped_column(ForeignKey("disclosure.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    student: Mapped[Student] = relationship()
    agency: Mapped[Agency] = relationship(lazy="joined")
    referred_by: Mapped[User] = relationship(foreign_keys=[referred_by_id])
    status_changed_by: Mapped[User | None] = relationship(foreign_keys=[status_changed_by_id])
    events: Mapped[list[AgencyReferralEvent]] = relationship(
        back_populates="referral", order_by="AgencyReferralEvent.at.desc(), AgencyReferralEvent.id.desc()"
    )

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def outcome_label(self) -> str | None:
        return OUTCOMES.get(self.outcome) if self.outcome else None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def next_statuses(self) -> tuple[str, ...]:
        return TRANSITIONS.get(self.status, ())


class AgencyReferralEvent(Model):
    """One step of a referral: sent, a status change, a follow-up with the agency."""

    __tablename__ = "agency_referral_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("agency_referral.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(30))  # sent, a status, follow_up
    note_ciphertext: Mapped[str | None] = mapped_column(Text)  # restricted

    referral: Mapped[AgencyReferral] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()

    @property
    def action_label(self) -> str:
        if self.action == "follow_up":
            return N_("Follow-up")
        return STATUSES.get(self.action, self.action.replace("_", " ").capitalize())


crypto.register(AgencyReferral, "reason_ciphertext")
crypto.register(AgencyReferral, "outcome_note_ciphertext")
crypto.register(AgencyReferralEvent, "note_ciphertext")
