"""Import runs (a queue with progress and reports), uploaded files, student demographics, school-change history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model

# What a run is doing: waiting for a worker, working, or finished one way or another.
QUEUED, RUNNING, DONE, REFUSED, FAILED, ABANDONED = "queued", "running", "done", "refused", "failed", "abandoned"
FINISHED = (DONE, REFUSED, FAILED, ABANDONED)
# Finished without changing anything: a dry run applied by such a run may be applied again.
CHANGED_NOTHING = (REFUSED, FAILED, ABANDONED)


class RosterUpload(Model):
    """An uploaded OneRoster zip, kept in the database so a worker on any machine can read it.

    Its bytes are in RosterUploadChunk rows (a few MB each, so neither the web server nor the
    worker holds the whole file in one value); deleted once applied or after UPLOAD_KEEP.
    """

    __tablename__ = "roster_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RosterUploadChunk(Model):
    """One piece of an upload's bytes, in order of seq."""

    __tablename__ = "roster_upload_chunk"

    upload_id: Mapped[int] = mapped_column(ForeignKey("roster_upload.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RosterImport(Model):
    """One run of the roster import (dry run or applied): its place in the queue, progress and report.

    queued -> running (claimed by one worker, which beats heartbeat_at while it works) -> done,
    refused or failed; a running run whose worker went away (its heartbeat stopped) is retried
    (queued again) or discarded (abandoned) by an admin. Every change of status is a conditional
    UPDATE (services, worker), so two workers or two clicks make one effect.
    """

    __tablename__ = "roster_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    source_name: Mapped[str] = mapped_column(String(255))
    is_dry_run: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(20), default=QUEUED, index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)  # when it was asked for
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)  # when it last entered the queue (a retry too)
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The uploaded zip, shared by a dry run and the runs that apply it; None once deleted (applied,
    # expired) and for imports of a path given on the command line.
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("roster_upload.id", ondelete="SET NULL"), index=True)
    allow_mass_deactivation: Mapped[bool] = mapped_column(default=False)
    # The worker that claimed it ("host:pid"), how many times it was claimed, and its last sign of life.
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(default=0)
    heartbeat_at: Mapped[datetime | None]
    # Rows read so far, of how many, and the file being read (progress.Beat writes them).
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    progress_file: Mapped[str | None] = mapped_column(String(255))
    # On a dry run: the import run that applied it (or the last attempt, if that changed nothing).
    # Set by a conditional UPDATE (services.start_apply).
    applied_run_id: Mapped[int | None] = mapped_column(ForeignKey("roster_import.id"))

    actor: Mapped[User | None] = relationship()
    applied_run: Mapped[RosterImport | None] = relationship(remote_side=[id], foreign_keys=[applied_run_id])

    @property
    def rejected(self) -> list[dict]:
        return (self.report or {}).get("rejected", [])

    @property
    def is_finished(self) -> bool:
        """Done, refused, failed or discarded: nothing will happen to it any more."""
        return self.status in FINISHED

    @property
    def is_applied(self) -> bool:
        """A dry run that has been applied, or is queued or being applied now (a second apply is refused)."""
        return self.applied_run is not None and self.applied_run.status not in CHANGED_NOTHING

    @property
    def can_apply(self) -> bool:
        """A finished dry run whose file is still here and that nobody has applied."""
        return self.is_dry_run and self.status in (DONE, REFUSED) and not self.is_applied and self.upload_id is not None


class StudentDemographics(Model):
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


class StudentSchoolChange(Model):
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
