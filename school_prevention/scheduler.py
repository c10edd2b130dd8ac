"""The job registry, the single-instance guard, and the one scheduler process.

Jobs are plain functions `job(now) -> count` in `<feature>/jobs.py`, registered with @job. They
run in exactly one dedicated process (`flask --app app scheduler run`), never in web workers:
a second scheduler started by mistake waits on the guard (a PostgreSQL advisory lock, or a file
lock beside the SQLite database) and runs nothing while the first one lives. Jobs must still be
idempotent (unique constraints, claim-before-send), so even two runners could never double-send.
"""

from __future__ import annotations

import fcntl
import importlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from flask import Flask
from sqlalchemy import Connection, text

from school_prevention.db import utcnow
from school_prevention.extensions import db

log = logging.getLogger("school_prevention.scheduler")

# Modules whose import registers jobs; a feature adds its jobs module here.
JOB_MODULES = [
    "school_prevention.notifications.audit_alerts",
    "school_prevention.auth.jobs",
    "school_prevention.checkins.jobs",
    "school_prevention.notifications.jobs",
    "school_prevention.roster.jobs",
    "school_prevention.exports.jobs",
    "school_prevention.referrals.jobs",
    "school_prevention.agencies.jobs",
    "school_prevention.tiers.jobs",
]
# Arbitrary constant shared by every scheduler of one database ("SPPM" in ASCII).
ADVISORY_LOCK_KEY = 0x5350504D


@dataclass(frozen=True)
class JobSpec:
    """A registered job: its name, function and APScheduler trigger arguments."""

    name: str
    func: Callable[[datetime], int]
    trigger: str
    trigger_args: dict = field(default_factory=dict)
    misfire_grace_time: int = 300
    description: str = ""


JOBS: dict[str, JobSpec] = {}


def job(name: str, trigger: str = "interval", misfire_grace_time: int = 300, **trigger_args):
    """Register `func(now) -> count` as a scheduled job under a stable name (its APScheduler id)."""

    def decorator(func):
        JOBS[name] = JobSpec(
            name,
            func,
            trigger,
            trigger_args,
            misfire_grace_time,
            (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "",
        )
        return func

    return decorator


def load_jobs() -> dict[str, JobSpec]:
    """Import every jobs module so the registry is complete."""
    for module in JOB_MODULES:
        importlib.import_module(module)
    return JOBS


def run_job(app: Flask, name: str, now: datetime | None = None) -> int:
    """Run one job once in its own app context and transaction; returns what it counted."""
    spec = load_jobs().get(name)
    if spec is None:
        raise KeyError(name)
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    with app.app_context():
        try:
            count = spec.func(now.astimezone(UTC))
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", name)
            raise
        finally:
            db.session.remove()
    log.info("job %s done: %s", name, count)
    return count


class SingleInstanceGuard:
    """Held by the one live scheduler of a database; others wait for it."""

    def __init__(self, app: Flask):
        self.app = app
        self._connection: Connection | None = None
        self._file: TextIO | None = None

    def acquire(self) -> bool:
        """Try to take the guard without waiting; True when this process now holds it."""
        with self.app.app_context():
            engine = db.engine
        if engine.dialect.name == "postgresql":
            # A session-level advisory lock lives as long as this dedicated connection.
            self._connection = self._connection or engine.connect()
            got = self._connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            ).scalar()
            self._connection.commit()
            return bool(got)
        path = self._lock_path(engine)
        self._file = self._file or open(path, "a+")  # noqa: SIM115 - held open: the lock lives as long as the file
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def still_held(self) -> bool:
        """False when the database connection that holds the PostgreSQL lock has gone."""
        if self._connection is None:
            return self._file is not None
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
            return True
        except Exception:
            return False

    def release(self) -> None:
        """Give the guard up (process exit releases it too)."""
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _lock_path(self, engine) -> str:
        database = engine.url.database
        if database and database != ":memory:":
            return os.path.abspath(database) + ".scheduler.lock"
        return os.path.join(self.app.instance_path, "scheduler.lock")


class _QuietOverlap(logging.Filter):
    """Drop APScheduler's warning that a job was skipped because its last run is still going: with
    max_instances=1 that is the design (roster.work runs every 3 seconds and an import takes minutes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def build_scheduler(app: Flask, guard: SingleInstanceGuard):
    """A BlockingScheduler in UTC with every registered job (ids are the job names)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
    logging.getLogger("apscheduler.scheduler").addFilter(_QuietOverlap())
    for spec in load_jobs().values():
        # Only the job's name travels as an argument: never objects, never student data.
        scheduler.add_job(
            run_job,
            spec.trigger,
            args=[app, spec.name],
            id=spec.name,
            name=spec.name,
            replace_existing=True,
            misfire_grace_time=spec.misfire_grace_time,
            coalesce=True,
            max_instances=1,
            **spec.trigger_args,
        )

    def check_guard():
        if not guard.still_held():
            log.error("lost the scheduler lock (database connection gone); stopping so another can take over")
            scheduler.shutdown(wait=False)

    scheduler.add_job(check_guard, "interval", seconds=30, id="_guard_check", replace_existing=True)
    return scheduler


def run_scheduler(app: Flask, *, stop: threading.Event | None = None) -> None:
    """Wait for the guard, then run the jobs until stopped."""
    stop = stop or threading.Event()
    standby_seconds = app.config["SP_SCHEDULER_STANDBY_SECONDS"]
    guard = SingleInstanceGuard(app)
    announced = False
    while not guard.acquire():
        if not announced:
            log.warning("another scheduler is running for this database; standing by")
            announced = True
        if stop.wait(standby_seconds):
            return
    log.info("scheduler started with jobs: %s", ", ".join(sorted(load_jobs())) or "none")
    scheduler = build_scheduler(app, guard)
    try:
        scheduler.start()
    finally:
        guard.release()
