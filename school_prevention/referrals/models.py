"""Referral: a staff member's concern about a student, routed to the school's counselors."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext
from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention import crypto
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model, db
from school_prevention.flags.models import FlagCategory, RiskFlag
from school_prevention.i18n import N_
from school_prevention.students.models import Student

URGENCIES = {"routine": N_("Routine (this week)"), "soon": N_("Soon (today or tomorrow)"), "urgent": N_("Urgent (now)")}
# The short urgency the lists show (the key, capitalized, then translated).
URGENCY_WORDS = [N_("Routine"), N_("Soon"), N_("Urgent")]
# The status as the counselors' pages show it.
STATUS_LABELS = {"new": N_("New"), "in_review": N_("In review"), "accepted": N_("Accepted"), "closed": N_("Closed")}
STATUSES = ("new", "in_review", "accepted", "closed")
# The condition of the partial index on unopened urgent referrals (and of migration 0017).
UNOPENED_URGENT = "urgency = 'urgent' AND first_opened_at IS NULL AND escalated_at IS NULL"
# What the referring staff member sees: the status only, never the outcome.
# What the staff member who referred sees. "Accepted" means a counselor took the concern on: it tells them the
# concern was heard, and nothing about what the counselor recorded.
STAFF_STATUS = {"new": N_("Received"), "in_review": N_("In review"), "accepted": N_("Accepted"), "closed": N_("Closed")}

referral_category = Table(
    "referral_category",
    db.metadata,
    Column("referral_id", ForeignKey("referral.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", ForeignKey("flag_category.id"), primary_key=True),
)


class Referral(Model):
    """A concern routed by staff; counselors move it new -> in review -> accepted or closed."""

    __tablename__ = "referral"
    __table_args__ = (
        CheckConstraint("urgency IN ('routine', 'soon', 'urgent')", name="urgency_known"),
        CheckConstraint("status IN ('new', 'in_review', 'accepted', 'closed')", name="status_known"),
        Index("ix_referral_school_id_status", "school_id", "status"),
        # The escalation sweep (referrals.jobs, every minute) reads only urgent referrals nobody has opened
        # and nobody has been told about yet.
        Index(
            "ix_referral_unopened_urgent",
            "submitted_at",
            postgresql_where=sa_text(UNOPENED_URGENT),
            sqlite_where=sa_text(UNOPENED_URGENT),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    observation_ciphertext: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="new")
    triaged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(Text)
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("risk_flag.id"))
    # When a counselor first opened the referral's page: an urgent one still unopened after
    # SP_URGENT_REFERRAL_MINUTES of school time is told to the principal (referrals.jobs).
    first_opened_at: Mapped[datetime | None]
    first_opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The district counselor (SP_DISTRICT_COUNSELOR_EMAIL) it went to, the school having no active counselor.
    routed_to_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    # When the principal (or the district counselor) was told that nobody had opened it.
    escalated_at: Mapped[datetime | None]

    student: Mapped[Student] = relationship()
    submitted_by: Mapped[User] = relationship(foreign_keys=[submitted_by_id])
    triaged_by: Mapped[User | None] = relationship(foreign_keys=[triaged_by_id])
    categories: Mapped[list[FlagCategory]] = relationship(
        secondary=referral_category, order_by=FlagCategory.position, lazy="selectin"
    )
    flag: Mapped[RiskFlag | None] = relationship()

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "in_review")

    @property
    def staff_status(self) -> str:
        """The status as the referring staff member may see it."""
        return gettext(STAFF_STATUS[self.status])

    @property
    def staff_status_class(self) -> str:
        """The staff status as a CSS class name, the same in every language ("in-review")."""
        return STAFF_STATUS[self.status].lower().replace(" ", "-")

    @property
    def status_label(self) -> str:
        return gettext(STATUS_LABELS.get(self.status, self.status))

    @property
    def urgency_label(self) -> str:
        return gettext(URGENCIES[self.urgency])


crypto.register(Referral, "observation_ciphertext")
