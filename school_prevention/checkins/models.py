"""Check-in plans, the check-ins they schedule, and the district's non-school days."""

from __future__ import annotations

from datetime import date, datetime, time

from flask_babel import gettext
from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, Time, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention import crypto
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model
from school_prevention.i18n import N_
from school_prevention.notifications.models import Notification
from school_prevention.students.models import Student

CADENCES = {
    "weekly": N_("Every week"),
    "biweekly": N_("Every two weeks"),
    "monthly": N_("Every month"),
    "custom": N_("Custom rule (RRULE)"),
}
NON_SCHOOL_DAY_RULES = {"move": N_("Move to the next school day"), "skip": N_("Skip that check-in")}
CHECKIN_STATUSES = {
    "scheduled": N_("Scheduled"),
    "completed": N_("Completed"),
    "missed": N_("Missed"),
    "cancelled": N_("Cancelled"),
}
OUTCOMES = {
    "doing_well": N_("Met: doing well"),
    "some_concerns": N_("Met: some concerns"),
    "needs_follow_up": N_("Met: needs follow-up"),
    "escalated": N_("Met: escalated (flag, referral or report)"),
}


# The condition of the partial unique index on active plans (and of its migration, 0014).
ACTIVE = "status = 'active'"


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CheckInPlan(Model):
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
        Index(
            "uq_checkin_plan_active_first_meeting",
            "student_id",
            "counselor_id",
            "starts_on",
            "local_time",
            unique=True,
            postgresql_where=sa_text(ACTIVE),
            sqlite_where=sa_text(ACTIVE),
        ),
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
    # Why a plan ended without a person ending it: "student_left" (the roster deactivated the
    # student). The counselor's home says how many of their students left (migration 0020).
    ended_reason: Mapped[str | None] = mapped_column(String(20))

    student: Mapped[Student] = relationship()
    counselor: Mapped[User] = relationship(foreign_keys=[counselor_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def cadence_label(self) -> str:
        return gettext(CADENCES.get(self.cadence, self.cadence)) + (
            f": {self.rrule}" if self.cadence == "custom" else ""
        )


class CheckIn(Model):
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
        return gettext(OUTCOMES[self.outcome]) if self.outcome in OUTCOMES else self.outcome

    @property
    def status_label(self) -> str:
        return gettext(CHECKIN_STATUSES.get(self.status, self.status))

    @property
    def has_note(self) -> bool:
        return bool(self.note_ciphertext)


class NonSchoolDay(Model):
    """A weekday without school (holiday, break, teacher work day); admin-managed."""

    __tablename__ = "non_school_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(120))


OPEN_EPISODE = "ended_at IS NULL"


class OverdueEpisode(Model):
    """A stretch of time in which a student's check-ins were overdue long enough to tell the principal.

    It opens when a check-in has been overdue for SP_ESCALATION_DAYS (the principals are told once,
    their notifications are keyed to the episode) and ends when the student has no overdue
    check-in left. Only a new episode tells the principal again. One open episode per student
    (partial unique index), so two sweeps at once open one. Migration 0020.
    """

    __tablename__ = "overdue_episode"
    __table_args__ = (
        Index(
            "uq_overdue_episode_open",
            "student_id",
            unique=True,
            postgresql_where=sa_text(OPEN_EPISODE),
            sqlite_where=sa_text(OPEN_EPISODE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    first_due_at: Mapped[datetime]  # the oldest overdue check-in when the episode opened
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


QUEUED_REPLAN = "state = 'queued'"
REPLAN_STATES = {"queued": "Queued", "running": "Running", "done": "Done"}


class ReplanRequest(Model):
    """A queued re-placement of every active plan (after the non-school days changed), run by a job.

    At most one is queued at a time (partial unique index): changes made while it waits fold into
    it. The job claims it with a conditional UPDATE (queued -> running), works through the plans
    in id order committing each batch (last_plan_id is its progress) and marks it done. Migration 0020.
    """

    __tablename__ = "replan_request"
    __table_args__ = (
        CheckConstraint(_in("state", REPLAN_STATES), name="state_known"),
        Index(
            "uq_replan_request_queued",
            "state",
            unique=True,
            postgresql_where=sa_text(QUEUED_REPLAN),
            sqlite_where=sa_text(QUEUED_REPLAN),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10), default="queued")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    last_plan_id: Mapped[int] = mapped_column(default=0)
    plans_done: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)

    requested_by: Mapped[User | None] = relationship()


# The reminder sweeps look up what they already made about a check-in or a match by its subject
# (checkins.jobs), so a sweep adds only new rows. Declared here, beside its only users, so that the
# notification model stays the outbox's. Migration 0020.
Index("ix_notification_subject", Notification.subject_type, Notification.subject_id)

crypto.register(CheckIn, "note_ciphertext")
