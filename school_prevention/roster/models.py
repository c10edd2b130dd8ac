"""Import runs with their stored reports, student demographics, and school-change history."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import db


class RosterImport(db.Model):
    """One run of the roster import (dry run or applied) and its full report."""

    __tablename__ = "roster_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    source_name: Mapped[str] = mapped_column(String(255))
    is_dry_run: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running, done, refused, failed
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The uploaded zip, kept only until it is applied or expires (roster.jobs); None once deleted.
    upload_path: Mapped[str | None] = mapped_column(String(500))
    # On a dry run: the import run that applied it (or the last attempt, if that was refused or
    # failed and so changed nothing). Set once, by a conditional UPDATE (services.start_apply).
    applied_run_id: Mapped[int | None] = mapped_column(ForeignKey("roster_import.id"))

    actor: Mapped[User | None] = relationship()
    applied_run: Mapped[RosterImport | None] = relationship(remote_side=[id], foreign_keys=[applied_run_id])

    @property
    def rejected(self) -> list[dict]:
        return (self.report or {}).get("rejected", [])

    @property
    def is_applied(self) -> bool:
        """A dry run that has been applied, or is being applied now (a second apply is refused)."""
        return self.applied_run is not None and self.applied_run.status in ("running", "done")

    @property
    def can_apply(self) -> bool:
        """A finished dry run whose file is still here and that nobody has applied."""
        return (self.is_dry_run and self.status in ("done", "refused") and not self.is_applied
                and self.upload_path is not None)


class StudentDemographics(db.Model):
    """Kept only for disaggregated aggregate reporting; never shown next to a child's name."""

    __tablename__ = "student_demographics"

    student_id: Mapped[int] = mapped_column(ForeignKey("student.id", ondelete="CASCADE"), primary_key=True)
    sex: Mapped[str | None] = mapped_column(String(20))
    american_indian_or_alaska_native: Mapped[bool | None] = mapped_column(Boolean)
    asian: Mapped[bool | None] = mapped_column(Boolean)
    black_or_african_american: Mapped[bool | None] = mapped_column(Boolean)
    native_hawaiian_or_pacific_islander: Mapped[bool | None] = mapped_column(Boolean)
    white: Mapped[bool | None] = mapped_column(Boolean)
    two_or_more_races: Mapped[bool | None] = mapped_column(Boolean)
    hispanic_or_latino: Mapped[bool | None] = mapped_column(Boolean)


class StudentSchoolChange(db.Model):
    """A student moving school, as the roster import saw it (history is kept, never rewritten)."""

    __tablename__ = "student_school_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    from_school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    to_school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("roster_import.id"))
    # Check-in plans of the old school's counselors wait for a hand-off (check-ins work).
    note: Mapped[str | None] = mapped_column(Text)
