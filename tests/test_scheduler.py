"""One scheduler per database: the guard, the job runner and the command line."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from school_prevention import create_app
from school_prevention.auth.models import UserSession
from school_prevention.config import TestConfig
from school_prevention.extensions import db
from school_prevention.scheduler import SingleInstanceGuard, load_jobs, run_job
from tests.factories import make_user
from tests.support.apps import migrate_to_head
from tests.support.databases import new_database_url

ROOT = Path(__file__).resolve().parent.parent


def test_only_one_guard_holder_per_database(app):
    first, second = SingleInstanceGuard(app), SingleInstanceGuard(app)
    try:
        assert first.acquire() is True
        assert second.acquire() is False
        assert first.still_held()
        first.release()
        assert second.acquire() is True
    finally:
        first.release()
        second.release()


def test_jobs_are_registered_under_stable_names():
    assert "sessions.purge" in load_jobs()


def test_session_purge_job_removes_only_old_sessions(app, db_session):
    user = make_user("staff")
    now = datetime(2027, 1, 31, tzinfo=UTC)
    old = UserSession(
        token_hash="a" * 64,
        user_id=user.id,
        created_at=now - timedelta(days=40),
        last_seen_at=now - timedelta(days=40),
        ended_at=now - timedelta(days=40),
    )
    recent = UserSession(
        token_hash="b" * 64,
        user_id=user.id,
        created_at=now - timedelta(days=2),
        last_seen_at=now - timedelta(days=2),
        ended_at=now - timedelta(days=2),
    )
    db.session.add_all([old, recent])
    db.session.commit()
    assert run_job(app, "sessions.purge", now) == 1
    assert run_job(app, "sessions.purge", now) == 0  # running twice does nothing new
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 1


def _read_until(proc, needle: str, timeout: float) -> str:
    """Read the process's output until needle appears or the time is up."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        if selector.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
    return seen


def test_a_second_scheduler_process_stands_by(backend, tmp_path_factory, postgres):
    url = new_database_url(backend, "sched", tmp_path_factory, postgres)
    migrate_to_head(create_app(TestConfig(url)))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SP_INSTANCE_PATH": str(tmp_path_factory.mktemp("inst")),
        "PYTHONUNBUFFERED": "1",
        "SP_SCHEDULER_STANDBY_SECONDS": "0.2",
    }
    command = [sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"]
    procs = []
    try:
        # Two at once: one takes the guard and starts, the other stands by.
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                )
            )
        said = _read_both(procs, 30)
        leaders = [p for p in procs if "scheduler started" in said[p]]
        standing = [p for p in procs if "standing by" in said[p] and "scheduler started" not in said[p]]
        assert len(leaders) == 1 and len(standing) == 1, said
        # When the one that runs ends, the one standing by takes over.
        leaders[0].terminate()
        leaders[0].wait(10)
        assert "scheduler started" in _read_until(standing[0], "scheduler started", 40)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def _read_both(procs, timeout: float) -> dict:
    """Read both processes' output until one has started and the other stands by, or the time is up."""
    selector = selectors.DefaultSelector()
    for proc in procs:
        selector.register(proc.stdout, selectors.EVENT_READ, proc)
    said = dict.fromkeys(procs, "")
    deadline = time.monotonic() + timeout

    def settled():
        return sorted(("scheduler started" in t, "standing by" in t) for t in said.values()) == [
            (False, True),
            (True, False),
        ]

    while not settled() and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            line = key.fileobj.readline()
            if line:
                said[key.data] += line
            else:
                selector.unregister(key.fileobj)
    return said


def test_jobs_run_command(app, db_session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "run", "sessions.purge", "--now", "2027-01-01T00:00:00Z"])
    assert result.exit_code == 0 and "sessions.purge: 0" in result.output
    bad = runner.invoke(args=["jobs", "run", "sessions.purge", "--now", "yesterday"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output
    unknown = runner.invoke(args=["jobs", "run", "nope"])
    assert unknown.exit_code != 0 and "No job named 'nope'" in unknown.output
