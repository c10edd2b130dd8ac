"""FlagCategory, RiskFlag and FlagEvent (the history of every change)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention import crypto
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model
from school_prevention.i18n import N_
from school_prevention.students.models import Student

SEVERITIES = ("low", "moderate", "high", "urgent")
STATUSES = ("open", "monitoring", "resolved")
SOURCES = {
    "counselor_observation": N_("Counselor observation"),
    "staff_referral": N_("Staff referral"),
    "screening": N_("Screening"),
    "parent_guardian": N_("Parent or guardian"),
    "student_self_report": N_("Student self-report"),
    "outside_agency": N_("Outside agency"),
}
# How the history on a flag's page names its events, fields and values (translated there, stored in English).
HISTORY_WORDS = [
    N_("Opened"),
    N_("Edited"),
    N_("Reopened"),
    N_("Report recorded"),
    N_("Category"),
    N_("Note"),
    N_("Report"),
    N_("Agency"),
    N_("Status"),
    N_("Resolution"),
    N_("low"),
    N_("moderate"),
    N_("high"),
    N_("urgent"),
    N_("open"),
    N_("monitoring"),
    N_("resolved"),
    N_("changed"),
    N_("removed"),
    N_("added"),
    N_("made"),
    N_("not made"),
]
# Severities at which a suspected abuse or exploitation flag needs a mandated-report record.
REPORT_SEVERITIES = ("high", "urgent")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class FlagCategory(Model):
    """A kind of concern; admin-editable. Some call for a mandated report."""

    __tablename__ = "flag_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    is_suspected_abuse: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=100)


class RiskFlag(Model):
    """One concern about one student, from open through monitoring to resolved."""

    __tablename__ = "risk_flag"
    __table_args__ = (
        CheckConstraint(_in("severity", SEVERITIES), name="severity_known"),
        CheckConstraint(_in("status", STATUSES), name="status_known"),
        CheckConstraint(_in("source", SOURCES), name="source_known"),
        Index("ix_risk_flag_student_id_status", "student_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("flag_category.id"))
    severity: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="open")
    # Restricted narrative: Fernet ciphertext, readable only by counselors of the school.
    note_ciphertext: Mapped[str | None] = mapped_column(Text)
    resolution_ciphertext: Mapped[str | None] = mapped_column(Text)
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resolved_at: Mapped[datetime | None]
    # Mandated report record (suspected abuse or exploitation at high or urgent severity).
    report_agency: Mapped[str | None] = mapped_column(String(200))
    report_made_at: Mapped[datetime | None]
    report_reference: Mapped[str | None] = mapped_column(String(100))
    report_not_made_reason: Mapped[str | None] = mapped_column(Text)
    report_recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    report_recorded_at: Mapped[datetime | None]

    student: Mapped[Student] = relationship()
    category: Mapped[FlagCategory] = relationship(lazy="joined")
    opened_by: Mapped[User] = relationship(foreign_keys=[opened_by_id])
    events: Mapped[list[FlagEvent]] = relationship(
        back_populates="flag", order_by="FlagEvent.at.desc(), FlagEvent.id.desc()"
    )

    @property
    def is_current(self) -> bool:
        """Open or monitoring: still part of the child's picture."""
        return self.status != "resolved"

    @property
    def needs_mandated_report(self) -> bool:
        """A suspected abuse or exploitation flag at high/urgent severity with no report record."""
        return (
            self.category.is_suspected_abuse
            and self.severity in REPORT_SEVERITIES
            and self.report_recorded_at is None
            and self.is_current
        )

    @property
    def has_note(self) -> bool:
        """Whether a restricted note exists (shown to those who may not read it)."""
        return bool(self.note_ciphertext)

    @property
    def source_label(self) -> str:
        return gettext(SOURCES.get(self.source, self.source))


class FlagEvent(Model):
    """One change to a flag: who, what, when. Note text is never copied here."""

    __tablename__ = "flag_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("risk_flag.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    flag: Mapped[RiskFlag] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


crypto.register(RiskFlag, "note_ciphertext")
crypto.register(RiskFlag, "resolution_ciphertext")
