"""Instrument (admin-editable) and Screening."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from flask_babel import gettext
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model
from school_prevention.i18n import N_
from school_prevention.training.models import Course

if TYPE_CHECKING:  # students.models is loaded with the app's models; importing it here would be circular
    from school_prevention.students.models import Student

# English here; result_label / next_step_label and the form show them in the reader's language.
RESULTS = {
    "no_concern": N_("No concern"),
    "possible_concern": N_("Possible concern"),
    "clear_concern": N_("Clear concern"),
}
NEXT_STEPS = {
    "none": N_("No further step"),
    "rescreen": N_("Rescreen on a date"),
    "outside_referral": N_("Referral to an outside agency"),
    "mandated_report": N_("Mandated report"),
}


class Instrument(Model):
    """A screening tool by name and version. Only results are stored, never its items."""

    __tablename__ = "instrument"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    version: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)
    # A screening with this instrument may be recorded only by someone whose completion of this
    # course was valid on the day of the screening (screenings.services).
    required_course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id"))

    required_course: Mapped[Course | None] = relationship()


class Screening(Model):
    """One administration of an instrument to a student, with its result level and next step."""

    __tablename__ = "screening"
    __table_args__ = (
        CheckConstraint("result IN ('no_concern', 'possible_concern', 'clear_concern')", name="result_known"),
        CheckConstraint(
            "next_step IN ('none', 'rescreen', 'outside_referral', 'mandated_report')", name="next_step_known"
        ),
        # One administration of an instrument to a student a day (screenings.services refuses the
        # second with a message; this is the backstop).
        Index(
            "uq_screening_student_id_instrument_id_screened_on",
            "student_id",
            "instrument_id",
            "screened_on",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instrument.id"))
    screened_on: Mapped[date]
    screener_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    result: Mapped[str] = mapped_column(String(20))
    next_step: Mapped[str] = mapped_column(String(20), default="none")
    rescreen_on: Mapped[date | None]
    outside_agency: Mapped[str | None] = mapped_column(String(200))
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("risk_flag.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    instrument: Mapped[Instrument] = relationship(lazy="joined")
    screener: Mapped[User] = relationship()
    student: Mapped[Student] = relationship()

    @property
    def result_label(self) -> str:
        return gettext(RESULTS[self.result])

    @property
    def next_step_label(self) -> str:
        return gettext(NEXT_STEPS[self.next_step])

    @property
    def is_concern(self) -> bool:
        return self.result != "no_concern"
