"""Re-placing every active plan as a job: queued by a change to the non-school days, run by the scheduler.

A web request only queues (one row); the checkins.replan job claims the queued request with a
conditional UPDATE (queued -> running), so exactly one runner works on it, however many schedulers
or `jobs run` there are. It works through the active plans in id order, a batch per transaction,
recording its progress (last_plan_id) and a heartbeat; a run whose runner died (no heartbeat for
STALE_AFTER) is taken over from where it stopped. Re-placing a plan twice changes nothing, so a
batch redone after a crash is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update

from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckInPlan, ReplanRequest
from school_prevention.checkins.services import materialize
from school_prevention.db import utcnow
from school_prevention.extensions import db

BATCH = 500  # plans per transaction: short write locks, so check-ins can be saved while it runs
STALE_AFTER = timedelta(minutes=5)
REQUEST = ReplanRequest.__table__


def queue_replan(actor: User | None, reason: str, now: datetime) -> ReplanRequest:
    """Ask for every active plan to be re-placed; a request still waiting covers this change too.

    INSERT ... ON CONFLICT DO NOTHING on the one-queued-request index: two changes at the same
    moment leave one queued request. Flushes; the caller commits.
    """
    from school_prevention.checkins.jobs import dialect_insert

    insert = dialect_insert()
    db.session.execute(
        insert(REQUEST)
        .values(
            reason=reason[:200],
            state="queued",
            requested_by_id=actor.id if actor else None,
            requested_at=now,
            last_plan_id=0,
            plans_done=0,
            changed=0,
        )
        .on_conflict_do_nothing(index_elements=["state"], index_where=REQUEST.c.state == "queued")
    )
    return db.session.scalars(
        select(ReplanRequest).where(ReplanRequest.state == "queued").execution_options(populate_existing=True)
    ).one()


def latest_request() -> ReplanRequest | None:
    """The newest request, for the page that queued it."""
    return db.session.scalars(select(ReplanRequest).order_by(ReplanRequest.id.desc()).limit(1)).first()


def _claim(now: datetime) -> int | None:
    """Take the queued request (or one whose runner stopped beating); None when there is none.

    A conditional UPDATE: of two runners at the same moment, one changes the row and the other
    finds it no longer claimable. Committed at once, so the page shows it running.
    """
    candidates = db.session.scalars(
        select(ReplanRequest.id)
        .where(
            or_(
                ReplanRequest.state == "queued",
                (ReplanRequest.state == "running") & (ReplanRequest.heartbeat_at < now - STALE_AFTER),
            )
        )
        .order_by(ReplanRequest.id)
    ).all()
    for request_id in candidates:
        claimed = cast(
            CursorResult[Any],
            db.session.execute(
                update(REQUEST)
                .where(
                    REQUEST.c.id == request_id,
                    or_(
                        REQUEST.c.state == "queued",
                        (REQUEST.c.state == "running") & (REQUEST.c.heartbeat_at < now - STALE_AFTER),
                    ),
                )
                .values(state="running", started_at=now, heartbeat_at=now)
            ),
        ).rowcount
        db.session.commit()
        if claimed:
            return request_id
    return None


def _plan_batch(after_id: int, now: datetime) -> Sequence[CheckInPlan]:
    """The next active plans after after_id, locked (a plan being edited right now is re-placed after it)."""
    return db.session.scalars(
        select(CheckInPlan)
        .where(
            CheckInPlan.id > after_id,
            CheckInPlan.status == "active",
            CheckInPlan.until >= (now - timedelta(days=1)).date(),
        )
        .order_by(CheckInPlan.id)
        .limit(BATCH)
        .with_for_update(of=CheckInPlan)
        .execution_options(populate_existing=True)
    ).all()


def replan_in_batches(now: datetime, request_id: int | None = None) -> int:
    """Re-place every active plan, a batch per committed transaction; returns how many check-ins changed.

    With a request, its progress is recorded with each batch (and a run taken over resumes there).
    """
    after, changed, started = 0, 0, utcnow()
    if request_id is not None:
        request = db.session.get(ReplanRequest, request_id, populate_existing=True)
        assert request is not None  # claimed by this runner; requests are never deleted
        after = request.last_plan_id
    while True:
        plans = _plan_batch(after, now)
        if not plans:
            break
        moved = sum(materialize(plan, now) for plan in plans)
        changed, after = changed + moved, plans[-1].id
        if request_id is not None:
            db.session.execute(
                update(REQUEST)
                .where(REQUEST.c.id == request_id)
                .values(
                    last_plan_id=after,
                    plans_done=REQUEST.c.plans_done + len(plans),
                    changed=REQUEST.c.changed + moved,
                    heartbeat_at=now + (utcnow() - started),
                )
            )  # the job's clock, moving as time passes
        db.session.commit()
    return changed


def run_queued(now: datetime) -> int:
    """The job's work: claim the queued request, re-place every plan, mark it done. Returns check-ins changed."""
    request_id = _claim(now)
    if request_id is None:
        return 0
    changed = replan_in_batches(now, request_id)
    db.session.execute(
        update(REQUEST).where(REQUEST.c.id == request_id).values(state="done", finished_at=now, heartbeat_at=now)
    )
    db.session.commit()
    return changed
