"""Roster housekeeping: uploaded exports that were never applied are deleted after a week."""
from __future__ import annotations

from datetime import datetime

from flask import current_app

from school_prevention.roster.services import expire_uploads, upload_folder
from school_prevention.scheduler import job


@job("roster.expire_uploads", trigger="cron", hour=2, minute=40, misfire_grace_time=6 * 3600)
def delete_expired_uploads(now: datetime) -> int:
    """Delete uploaded roster exports of dry runs older than 7 days (an apply deletes its own at once)."""
    return expire_uploads(now, upload_folder(current_app))
