"""Export jobs: the student-level export worker, and the nightly deletion of expired export files."""

from __future__ import annotations

from datetime import datetime

from school_prevention.exports.queue import purge_expired
from school_prevention.exports.worker import work
from school_prevention.scheduler import job


@job("exports.work", trigger="interval", seconds=3, misfire_grace_time=30)
def work_queue(now: datetime) -> int:
    """Make queued student-level exports one at a time (and take over those whose worker went away)."""
    return work()


@job("exports.purge", trigger="cron", hour=2, minute=50, misfire_grace_time=6 * 3600)
def purge(now: datetime) -> int:
    """Delete the files of student-level exports past their 24 hours."""
    return purge_expired(now)
