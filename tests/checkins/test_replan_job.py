"""Re-placing plans after a calendar change runs as a job, never in the request (issue 16, item 5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from school_prevention.checkins import replan
from school_prevention.checkins.models import CheckIn, ReplanRequest
from school_prevention.checkins.replan import queue_replan, run_queued
from school_prevention.extensions import db
from school_prevention.scheduler import load_jobs, run_job
from tests.factories import make_checkin_plan, make_school, make_student, make_user

NOW = datetime(2026, 10, 20, 15, 0, tzinfo=UTC)


def _plans(n: int):
    school = make_school()
    counselor = make_user("counselor", schools=[school])
    return [make_checkin_plan(make_student(school), counselor, now=NOW, starts_on=date(2026, 10, 22)) for _ in range(n)]


def test_changes_while_one_waits_fold_into_it_and_one_queued_behind_a_running_one(db_session):
    admin = make_user("admin")
    first = queue_replan(admin, "Added 2026-11-12", NOW)
    assert queue_replan(admin, "Added 2026-11-13", NOW).id == first.id  # still waiting: it covers both
    assert replan._claim(NOW) == first.id
    second = queue_replan(admin, "Removed 2026-11-12", NOW)  # running already: this change waits its turn
    assert second.id != first.id
    assert (
        db.session.scalar(select(func.count()).select_from(ReplanRequest).where(ReplanRequest.state == "queued")) == 1
    )


def test_a_run_whose_runner_died_is_taken_over_where_it_stopped(db_session, monkeypatch):
    plans = _plans(5)
    monkeypatch.setattr(replan, "BATCH", 2)
    request = queue_replan(None, "Added 2026-11-12", NOW)
    db.session.commit()
    # A runner claims it, does one batch of two plans and dies (its heartbeat stops).
    assert replan._claim(NOW) == request.id
    calls = []
    real = replan._plan_batch

    def dies_after_one_batch(after_id, now):
        if calls:
            raise SystemExit("killed")
        calls.append(after_id)
        return real(after_id, now)

    monkeypatch.setattr(replan, "_plan_batch", dies_after_one_batch)
    try:
        replan.replan_in_batches(NOW, request.id)
    except SystemExit:
        db.session.rollback()
    monkeypatch.setattr(replan, "_plan_batch", real)
    db.session.refresh(request)
    assert (request.state, request.plans_done, request.last_plan_id) == ("running", 2, plans[1].id)

    assert run_queued(NOW + timedelta(minutes=1)) == 0  # alive as far as anyone can tell: left alone
    run_queued(NOW + replan.STALE_AFTER + timedelta(minutes=1))
    db.session.refresh(request)
    assert (request.state, request.plans_done, request.last_plan_id) == ("done", 5, plans[-1].id)


def test_the_scheduler_runs_the_replan_job(app, db_session):
    assert load_jobs()["checkins.replan"].trigger_args == {"seconds": 5}
    _plans(1)
    queue_replan(None, "Added 2026-11-12", NOW)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(CheckIn)) > 0
    run_job(app, "checkins.replan", NOW)
    assert db.session.scalars(select(ReplanRequest.state)).one() == "done"
