"""Check-in plans, the check-ins they schedule, and the district's non-school days."""
from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, Time, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention import crypto
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.students.models import Student

CADENCES = {"weekly": "Every week", "biweekly": "Every two weeks", "monthly": "Every month",
            "custom": "Custom rule (RRULE)"}
NON_SCHOOL_DAY_RULES = {"move": "Move to the next school day", "skip": "Skip that check-in"}
CHECKIN_STATUSES = {"scheduled": "Scheduled", "completed": "Completed", "missed": "Missed", "cancelled": "Cancelled"}
OUTCOMES = {
    "doing_well": "Met: doing well",
    "some_concerns": "Met: some concerns",
    "needs_follow_up": "Met: needs follow-up",
    "escalated": "Met: escalated (flag, referral or report)",
}


# The condition of the partial unique index on active plans (and of its migration, 0014).
ACTIVE = "status = 'active'"


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CheckInPlan(db.Model):
    """A counselor's standing arrangement to see a student on a cadence, in the district's local time."""

    __tablename__ = "checkin_plan"
    __table_args__ = (
        CheckConstraint(_in("cadence", CADENCES), name="cadence_known"),
        CheckConstraint(_in("non_school_day", NON_SCHOOL_DAY_RULES), name="non_school_day_known"),
        CheckConstraint("status IN ('active', 'ended')", name="status_known"),
        Index("ix_checkin_plan_student_id_status", "student_id", "status"),
        Index("ix_checkin_plan_counselor_id_status", "counselor_id", "status"),
        # A counselor's active plans with one student never start on the same day at the same
        # time: their first check-ins would book one meeting twice (a double click on "Start the
        # plan" made two identical plans). Checked first under the student's row lock, with a
        # clear message (services.create_plan); this index is the backstop. Migration 0014.
        Index("uq_checkin_plan_active_first_meeting", "student_id", "counselor_id", "starts_on", "local_time",
              unique=True, postgresql_where=sa_text(ACTIVE), sqlite_where=sa_text(ACTIVE)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    counselor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    cadence: Mapped[str] = mapped_column(String(20))
    rrule: Mapped[str | None] = mapped_column(String(500))
    local_time: Mapped[time] = mapped_column(Time)
    duration_minutes: Mapped[int] = mapped_column(default=20)
    starts_on: Mapped[date] = mapped_column(Date)
    until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(300))
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("risk_flag.id"))
    non_school_day: Mapped[str] = mapped_column(String(10), default="move")
    status: Mapped[str] = mapped_column(String(10), default="active")
    # Set when the student moved school (roster import): the new school's counselor takes over.
    needs_handoff: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ended_at: Mapped[datetime | None]

    student: Mapped[Student] = relationship()
    counselor: Mapped[User] = relationship(foreign_keys=[counselor_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def cadence_label(self) -> str:
        return CADENCES.get(self.cadence, self.cadence) + (f": {self.rrule}" if self.cadence == "custom" else "")


class CheckIn(db.Model):
    """One meeting a plan calls for. It counts as done only when completed with an outcome."""

    __tablename__ = "checkin"
    __table_args__ = (
        CheckConstraint(_in("status", CHECKIN_STATUSES), name="status_known"),
        CheckConstraint("status <> 'completed' OR outcome IS NOT NULL", name="completed_has_outcome"),
        # One check-in per plan and occurrence: regenerating a plan never duplicates one.
        UniqueConstraint("plan_id", "occurrence", name="uq_checkin_plan_id_occurrence"),
        Index("ix_checkin_counselor_id_status_due_at", "counselor_id", "status", "due_at"),
        Index("ix_checkin_status_due_at", "status", "due_at"),
        Index("ix_checkin_student_id_due_at", "student_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("checkin_plan.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    counselor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    occurrence: Mapped[date] = mapped_column(Date)  # the plan's date for it, before any move or reschedule
    due_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(default=20)
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    outcome: Mapped[str | None] = mapped_column(String(30))
    note_ciphertext: Mapped[str | None] = mapped_column(Text)  # restricted, encrypted
    is_rescheduled: Mapped[bool] = mapped_column(default=False)
    # Cancelled by re-planning (a non-school day, an edited plan), not by a person: re-planning
    # may bring it back when the day is a school day again.
    cancelled_by_plan: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # iCalendar SEQUENCE: bumped whenever the time or status changes, so calendars update the event.
    sequence: Mapped[int] = mapped_column(default=0)
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    plan: Mapped[CheckInPlan] = relationship()
    student: Mapped[Student] = relationship()
    counselor: Mapped[User] = relationship(foreign_keys=[counselor_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])

    @property
    def outcome_label(self) -> str | None:
        return OUTCOMES.get(self.outcome) if self.outcome else None

    @property
    def status_label(self) -> str:
        return CHECKIN_STATUSES.get(self.status, self.status)

    @property
    def has_note(self) -> bool:
        return bool(self.note_ciphertext)


class NonSchoolDay(db.Model):
    """A weekday without school (holiday, break, teacher work day); admin-managed."""

    __tablename__ = "non_school_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(120))


crypto.register(CheckIn, "note_ciphertext")
