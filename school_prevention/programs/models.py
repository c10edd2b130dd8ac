"""Prevention programs: types, programs, enrollments, sessions and attendance; mentors and matches."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import gettext
from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model
from school_prevention.i18n import N_
from school_prevention.schools.models import School
from school_prevention.students.models import Student

ENROLLMENT_STATUSES = ("waitlisted", "active", "completed", "withdrawn")
# An enrollment in one of these states holds (or waits for) a seat; one per student and program.
CURRENT_ENROLLMENT = ("waitlisted", "active")
ATTENDANCE = {"present": N_("Present"), "absent": N_("Absent"), "excused": N_("Excused")}
MATCH_STATUSES = {
    "inquiry": N_("Inquiry"),
    "waiting": N_("Waiting for a mentor"),
    "matched": N_("Matched"),
    "closed": N_("Closed"),
}
# A match in one of these states is open; a student has at most one open match.
OPEN_MATCH = ("inquiry", "waiting", "matched")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ProgramType(Model):
    """A kind of prevention program (mentoring, anti-bullying, ...); admin-editable."""

    __tablename__ = "program_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=100)


class Program(Model):
    """One program run at one school, with a capacity and a meeting schedule."""

    __tablename__ = "program"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        UniqueConstraint("school_id", "name", name="uq_program_school_id_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("program_type.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    facilitator: Mapped[str | None] = mapped_column(String(200))
    capacity: Mapped[int]
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    schedule: Mapped[str | None] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(200))
    session_minutes: Mapped[int] = mapped_column(default=45)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped by every seat decision: the row lock that serialises two counselors taking the last seat.
    seat_version: Mapped[int] = mapped_column(default=0)

    school: Mapped[School] = relationship(lazy="joined")
    type: Mapped[ProgramType] = relationship(lazy="joined")


class Enrollment(Model):
    """A student's place in a program: waitlisted, active, then completed or withdrawn."""

    __tablename__ = "enrollment"
    __table_args__ = (
        CheckConstraint(_in("status", ENROLLMENT_STATUSES), name="status_known"),
        # No student holds two current places in one program (history rows may repeat).
        Index(
            "uq_enrollment_current",
            "program_id",
            "student_id",
            unique=True,
            postgresql_where=text("status IN ('waitlisted', 'active')"),
            sqlite_where=text("status IN ('waitlisted', 'active')"),
        ),
        Index("ix_enrollment_program_id_status", "program_id", "status", "requested_at"),
        Index("ix_enrollment_student_id_status", "student_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    status: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)  # waitlist order
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(500))
    enrolled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    program: Mapped[Program] = relationship(lazy="joined")
    student: Mapped[Student] = relationship()
    enrolled_by: Mapped[User | None] = relationship(foreign_keys=[enrolled_by_id])
    ended_by: Mapped[User | None] = relationship(foreign_keys=[ended_by_id])

    @property
    def is_current(self) -> bool:
        return self.status in CURRENT_ENROLLMENT


class ProgramSession(Model):
    """One meeting of a program, with its length in minutes; one per program and day."""

    __tablename__ = "program_session"
    __table_args__ = (
        CheckConstraint("minutes > 0 AND minutes <= 1440", name="minutes_sensible"),
        # A double click on "Save session" must not count a meeting twice in every student's dosage.
        Index("uq_program_session_program_id_held_on", "program_id", "held_on", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int]
    topic: Mapped[str | None] = mapped_column(String(200))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    recorded_by: Mapped[User | None] = relationship()


class Attendance(Model):
    """Whether one student attended one session."""

    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("session_id", "student_id", name="uq_attendance_session_id_student_id"),
        CheckConstraint(_in("status", ATTENDANCE), name="status_known"),
        Index("ix_attendance_student_id", "student_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("program_session.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    status: Mapped[str] = mapped_column(String(10))


class Mentor(Model):
    """A mentor, often a community volunteer without an account; matched only when cleared."""

    __tablename__ = "mentor"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    background_check_on: Mapped[date | None] = mapped_column(Date)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[School] = relationship(lazy="joined")


class Match(Model):
    """A mentoring match for one student: inquiry -> waiting -> matched -> closed."""

    __tablename__ = "mentor_match"
    __table_args__ = (
        CheckConstraint(_in("status", MATCH_STATUSES), name="status_known"),
        Index("ix_mentor_match_student_id_status", "student_id", "status"),
        Index("ix_mentor_match_mentor_id", "mentor_id"),
        # One open match per student: a second inquiry would split the mentoring work in two.
        Index(
            "uq_mentor_match_open",
            "student_id",
            unique=True,
            postgresql_where=text(_in("status", OPEN_MATCH)),
            sqlite_where=text(_in("status", OPEN_MATCH)),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    mentor_id: Mapped[int | None] = mapped_column(ForeignKey("mentor.id"))
    status: Mapped[str] = mapped_column(String(20), default="inquiry")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    matched_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    closure_reason: Mapped[str | None] = mapped_column(String(500))

    student: Mapped[Student] = relationship()
    mentor: Mapped[Mentor | None] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship()
    contacts: Mapped[list[MatchContact]] = relationship(
        back_populates="match", order_by="MatchContact.contacted_on.desc(), MatchContact.id.desc()"
    )

    @property
    def status_label(self) -> str:
        return gettext(MATCH_STATUSES.get(self.status, self.status))


class MatchContact(Model):
    """A match-support contact with the mentor, student or family (due monthly while matched)."""

    __tablename__ = "match_contact"
    __table_args__ = (
        # The same contact (day, how, with whom) is recorded once: a second copy is a double click.
        Index("uq_match_contact_once", "match_id", "contacted_on", "method", "with_whom", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("mentor_match.id"), index=True)
    contacted_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(20))
    with_whom: Mapped[str] = mapped_column(String(20))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    match: Mapped[Match] = relationship(back_populates="contacts")
    recorded_by: Mapped[User | None] = relationship()
