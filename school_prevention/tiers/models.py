"""A student's tier of support (with its history) and intervention plans with progress data points."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import gettext
from sqlalchemy import CheckConstraint, Column, Date, Float, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model, db
from school_prevention.i18n import N_
from school_prevention.programs.models import Program
from school_prevention.students.models import Student

# English here (audit details and exports keep it); shown through gettext in the reader's language.
TIERS = {1: N_("Tier 1: universal"), 2: N_("Tier 2: targeted"), 3: N_("Tier 3: intensive")}
TIER_HINTS = {
    1: N_("What every student gets: classroom lessons, school-wide programs."),
    2: N_("Small-group or short-term support, with an intervention plan."),
    3: N_("Individual, intensive support, with an intervention plan and close monitoring."),
}
PLAN_STATUSES = {
    "active": N_("Active"),
    "met": N_("Closed: goal met"),
    "not_met": N_("Closed: goal not met"),
    "discontinued": N_("Closed: discontinued"),
}
CLOSED_STATUSES = ("met", "not_met", "discontinued")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class StudentTier(Model):
    """A student's current tier; no row means tier 1 (what every student gets). version counts changes."""

    __tablename__ = "student_tier"
    __table_args__ = (CheckConstraint("tier IN (1, 2, 3)", name="tier_known"), Index("ix_student_tier_tier", "tier"))

    student_id: Mapped[int] = mapped_column(ForeignKey("student.id", ondelete="CASCADE"), primary_key=True)
    tier: Mapped[int]
    version: Mapped[int] = mapped_column(default=1)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class TierChange(Model):
    """One move between tiers: who, when, why. (student_id, version) is unique: two counselors moving
    the same student at the same moment cannot both write the same change."""

    __tablename__ = "tier_change"
    __table_args__ = (
        CheckConstraint("tier IN (1, 2, 3)", name="tier_known"),
        Index("uq_tier_change_student_id_version", "student_id", "version", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id", ondelete="CASCADE"))
    version: Mapped[int]
    tier: Mapped[int]
    previous_tier: Mapped[int | None]
    reason: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    changed_by: Mapped[User | None] = relationship()


intervention_plan_program = Table(
    "intervention_plan_program",
    db.metadata,
    Column("plan_id", ForeignKey("intervention_plan.id", ondelete="CASCADE"), primary_key=True),
    Column("program_id", ForeignKey("program.id", ondelete="CASCADE"), primary_key=True),
)


class InterventionPlan(Model):
    """A goal for one student, how it is measured (baseline and target), when it is reviewed, and the
    programs that deliver it (their attendance is the plan's fidelity)."""

    __tablename__ = "intervention_plan"
    __table_args__ = (
        CheckConstraint(_in("status", PLAN_STATUSES), name="status_known"),
        CheckConstraint("review_on >= started_on", name="review_after_start"),
        CheckConstraint("baseline <> target", name="target_differs"),
        Index("ix_intervention_plan_student_id", "student_id"),
        Index("ix_intervention_plan_status_review_on", "status", "review_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    counselor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    tier: Mapped[int]  # the student's tier when the plan was made
    goal: Mapped[str] = mapped_column(Text)
    measure: Mapped[str] = mapped_column(String(200))
    baseline: Mapped[float] = mapped_column(Float)
    target: Mapped[float] = mapped_column(Float)
    started_on: Mapped[date] = mapped_column(Date)
    review_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    review_note: Mapped[str | None] = mapped_column(Text)  # the last review's words (not restricted)

    student: Mapped[Student] = relationship()
    counselor: Mapped[User | None] = relationship(foreign_keys=[counselor_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    programs: Mapped[list[Program]] = relationship(secondary=intervention_plan_program, order_by=Program.name)

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def status_label(self) -> str:
        return gettext(PLAN_STATUSES[self.status]) if self.status in PLAN_STATUSES else self.status

    @property
    def is_decrease(self) -> bool:
        """Whether the goal is to bring the measure down (fewer absences, fewer office referrals)."""
        return self.target < self.baseline


class ProgressPoint(Model):
    """One progress-monitoring data point of a plan; one per plan and day."""

    __tablename__ = "plan_progress"
    __table_args__ = (Index("uq_plan_progress_plan_id_measured_on", "plan_id", "measured_on", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("intervention_plan.id", ondelete="CASCADE"))
    measured_on: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(String(500))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    recorded_by: Mapped[User | None] = relationship()
