"""Roster jobs: the import worker, and the deletion of uploads nobody applied within a week."""

from __future__ import annotations

import logging
from datetime import datetime

from school_prevention.roster.services import expire_uploads
from school_prevention.roster.worker import stopped_runs, work
from school_prevention.scheduler import job

log = logging.getLogger(__name__)
# Runs this process has already reported as stopped (the sweep runs every few seconds).
_reported: set[tuple[int, int]] = set()


@job("roster.work", trigger="interval", seconds=3, misfire_grace_time=30)
def work_queue(now: datetime) -> int:
    """Run queued roster imports one at a time; report runs whose worker went away."""
    for claim in stopped_runs(now):
        if (claim.run_id, claim.attempt) not in _reported:
            _reported.add((claim.run_id, claim.attempt))
            log.warning(
                "roster import #%s stopped: its worker %s went away; an admin can retry or discard it "
                "under Roster import",
                claim.run_id,
                claim.claimed_by,
            )
    return work()


@job("roster.expire_uploads", trigger="cron", hour=2, minute=40, misfire_grace_time=6 * 3600)
def delete_expired_uploads(now: datetime) -> int:
    """Delete uploaded roster exports older than 7 days that no run still needs (an apply deletes its own at once)."""
    return expire_uploads(now)
