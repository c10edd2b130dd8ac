"""A student-level export asked for in a request and made by the export worker (exports.work).

queued -> running (claimed by one worker, which writes heartbeat_at and rows_done after each batch)
-> done (the file, encrypted with SP_DATA_KEY, kept until expires_at) or failed; the nightly purge
drops the file of a done export once it has expired (status expired). A running export whose
worker stopped beating for STALE_AFTER is taken over by the next worker (attempts + 1). Every
change of status is a conditional UPDATE (queue.py), so two workers make one file and one disclosure.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from school_prevention import crypto
from school_prevention.db import utcnow
from school_prevention.extensions import Model
from school_prevention.i18n import N_

QUEUED, RUNNING, DONE, FAILED, EXPIRED = "queued", "running", "done", "failed", "expired"
WORKING = (QUEUED, RUNNING)


class StudentExport(Model):
    """One student-level export: what was asked, by whom and why; its progress; its encrypted file."""

    __tablename__ = "student_export"
    __table_args__ = (Index("ix_student_export_status_queued_at", "status", "queued_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    dataset: Mapped[str] = mapped_column(String(20))
    fmt: Mapped[str] = mapped_column(String(8))
    level: Mapped[str | None] = mapped_column(String(20))
    period_start: Mapped[date]
    period_end: Mapped[date]
    purpose: Mapped[str] = mapped_column(Text)
    requested_ip: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default=QUEUED)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(default=0)
    heartbeat_at: Mapped[datetime | None]
    rows_done: Mapped[int] = mapped_column(default=0)
    rows_total: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # The file: Fernet ciphertext (SP_DATA_KEY) of its bytes; None before it is made and once purged.
    content: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None]
    file_name: Mapped[str | None] = mapped_column(String(120))
    disclosure_id: Mapped[int | None] = mapped_column(ForeignKey("disclosure.id"))
    error: Mapped[str | None] = mapped_column(String(500))

    @property
    def is_working(self) -> bool:
        return self.status in WORKING

    def is_expired(self, now: datetime | None = None) -> bool:
        """Its file is gone, or past its time (the nightly purge deletes it)."""
        return self.status == EXPIRED or (
            self.status == DONE and self.expires_at is not None and self.expires_at <= (now or utcnow())
        )

    def shown_status(self, now: datetime | None = None) -> str:
        """The status as a person reads it (in English: pages translate it with the `tr` filter)."""
        if self.is_expired(now):
            return N_("Deleted")
        return {QUEUED: N_("Queued"), RUNNING: N_("Being made"), DONE: N_("Ready"), FAILED: N_("Failed")}[self.status]


crypto.register(StudentExport, "content")
