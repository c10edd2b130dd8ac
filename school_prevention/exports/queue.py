"""The student-level export as a job: asked for in a request, made by the export worker, downloaded later.

request_export (the form's POST) only queues a row. The worker (worker.py, in the scheduler
process) claims it, reads the rows in batches (committing its progress and heartbeat after each),
makes the file and, in one transaction with a conditional UPDATE on its claim, stores it encrypted
(SP_DATA_KEY) and records the disclosure and the audit row, as the request did when it made the
file itself: one export, one disclosure on the record of every student included, however many
workers tried. The requester downloads it until it expires (KEEP); each download is audited; the
nightly purge drops expired files. No student's data goes to the log.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard, cast

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.exc import OperationalError

from school_prevention import audit, crypto
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.disclosures.services import record_export_disclosure
from school_prevention.errors import ServiceError
from school_prevention.exports.models import DONE, EXPIRED, FAILED, QUEUED, RUNNING, WORKING, StudentExport
from school_prevention.exports.students import DISCLOSED, count_rows, render_file, row_batches
from school_prevention.extensions import db
from school_prevention.i18n import DEFAULT, LANGUAGES, N_
from school_prevention.reports.coverage import PeriodError, build_period
from school_prevention.reports.measures import Period, Scope
from school_prevention.roles import Role

log = logging.getLogger(__name__)
EXPORT = StudentExport.__table__
KEEP = timedelta(hours=24)  # how long a made file can be downloaded
STALE_AFTER = timedelta(minutes=2)  # a running export with no heartbeat for this long has lost its worker
MAX_ATTEMPTS = 3  # after this many workers went away while making it, the export fails
MAX_WORKING = 3  # exports one person may have queued or running at once
BATCH = 1000  # rows read per transaction


class Gone(Exception):
    """The export's file is no longer kept (expired), or was never made."""


@dataclass(frozen=True)
class Owner:
    """An export as claimed by one worker: progress or a finish for another claim of it changes nothing."""

    export_id: int
    claimed_by: str
    attempt: int


def worker_name() -> str:
    """How a worker names itself in claimed_by: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def may_export(user: User | None) -> TypeGuard[User]:
    """Whether the user may have a student-level export made (or download one) now."""
    return bool(user is not None and user.is_active and user.has_role(Role.DISTRICT) and user.can_export_student_level)


# --- the request ---------------------------------------------------------------------------------


def request_export(
    actor: User, *, dataset: str, fmt: str, level: str | None, period: Period, purpose: str, ip: str | None = None
) -> StudentExport:
    """Queue an export for the worker; flushes. The form has checked the fields, the view the grant."""
    if not may_export(actor):
        raise ServiceError("purpose", _("Your account does not hold the student-level export grant."))
    working = db.session.execute(
        select(func.count())
        .select_from(StudentExport)
        .where(StudentExport.requested_by_id == actor.id, StudentExport.status.in_(WORKING))
    ).scalar_one()
    if working >= MAX_WORKING:
        raise ServiceError(
            "dataset",
            _(
                "You already have %(num)s exports being made. Wait for one to finish, then ask for the next.",
                num=working,
            ),
        )
    export = StudentExport(
        requested_by_id=actor.id,
        dataset=dataset,
        fmt=fmt,
        level=level or None,
        period_start=period.start,
        period_end=period.end,
        purpose=purpose,
        requested_ip=ip,
        queued_at=period.now,
        status=QUEUED,
    )
    db.session.add(export)
    db.session.flush()
    return export


def recent_exports(user: User, limit: int = 10) -> Sequence[StudentExport]:
    return db.session.scalars(
        select(StudentExport)
        .where(StudentExport.requested_by_id == user.id)
        .order_by(StudentExport.id.desc())
        .limit(limit)
    ).all()


def is_stalled(export: StudentExport, now: datetime | None = None) -> bool:
    """Running, but its worker gave no sign of life for STALE_AFTER: the next worker takes it over."""
    return export.status == RUNNING and (export.heartbeat_at or export.queued_at) < (now or utcnow()) - STALE_AFTER


# --- the worker's steps (each commits: the worker's own transactions) ------------------------------


def _claimed(owner: Owner):
    return and_(
        EXPORT.c.id == owner.export_id,
        EXPORT.c.status == RUNNING,
        EXPORT.c.claimed_by == owner.claimed_by,
        EXPORT.c.attempts == owner.attempt,
    )


def claim_next(worker: str, now: datetime) -> Owner | None:
    """Claim the export longest in the queue, or one whose worker went away, and commit; None when
    there is none. Each claim is an UPDATE ... WHERE it is still takeable, so of two workers exactly
    one changes the row: the other's UPDATE finds it running with a fresh heartbeat and changes nothing."""
    takeable = or_(
        EXPORT.c.status == QUEUED,
        and_(EXPORT.c.status == RUNNING, func.coalesce(EXPORT.c.heartbeat_at, EXPORT.c.queued_at) < now - STALE_AFTER),
    )
    try:
        for export_id in db.session.scalars(
            select(EXPORT.c.id).where(takeable).order_by(EXPORT.c.queued_at, EXPORT.c.id).limit(20)
        ).all():
            attempt = db.session.execute(
                update(EXPORT)
                .where(EXPORT.c.id == export_id, takeable)
                .values(
                    status=RUNNING,
                    claimed_by=worker,
                    heartbeat_at=now,
                    attempts=EXPORT.c.attempts + 1,
                    rows_done=0,
                    rows_total=0,
                )
                .returning(EXPORT.c.attempts)
            ).scalar_one_or_none()
            if attempt is None:
                continue
            owner = Owner(export_id, worker, attempt)
            if attempt > MAX_ATTEMPTS:
                _fail(
                    owner,
                    now,
                    f"The export stopped {MAX_ATTEMPTS} times before it was made. Ask for it again; "
                    "if it stops again, tell whoever runs the server.",
                )
                continue
            return owner
        return None
    finally:
        db.session.commit()


def beat(owner: Owner, done: int, total: int, now: datetime | None = None) -> bool:
    """Write progress and the heartbeat (flushes); False when the claim was lost (taken over)."""
    return (
        db.session.execute(
            update(EXPORT)
            .where(_claimed(owner))
            .values(rows_done=done, rows_total=total, heartbeat_at=now or utcnow())
            .returning(EXPORT.c.id)
        ).scalar_one_or_none()
        is not None
    )


def _fail(owner: Owner, now: datetime, message: str) -> bool:
    return (
        db.session.execute(
            update(EXPORT)
            .where(_claimed(owner))
            .values(status=FAILED, error=message[:500], finished_at=now, claimed_by=None)
            .returning(EXPORT.c.id)
        ).scalar_one_or_none()
        is not None
    )


def fail(owner: Owner, message: str, now: datetime | None = None) -> bool:
    """Mark the claimed export failed with a message for its requester (never a student's data); commits."""
    failed = _fail(owner, now or utcnow(), message)
    db.session.commit()
    return failed


def _begin_reading() -> None:
    """End the transaction and begin the next as a plain read: on SQLite a batch is read without the
    write lock (WAL), so a long roster import holding it does not hold the export up."""
    db.session.commit()
    if db.engine.dialect.name == "sqlite":
        db.session.connection(execution_options={"sqlite_deferred": True})


def _progress(owner: Owner, done: int, total: int) -> bool:
    """Commit the figures and the heartbeat in a short transaction of their own; False when the claim
    was lost. A write that cannot be had now (SQLite: another job holds the write lock past the busy
    timeout) is skipped: the next batch beats again."""
    db.session.commit()  # end the reading
    try:
        kept = beat(owner, done, total)
    except OperationalError:
        db.session.rollback()
        log.warning("student export #%s: could not write its progress now", owner.export_id)
        return True
    if not kept:
        db.session.rollback()
        return False
    db.session.commit()
    return True


def make(owner: Owner, batch: int = BATCH) -> bool:
    """Make the claimed export: rows in batches, then the file, the disclosure and the audit row; True
    when this worker's file is the one kept."""
    export = db.session.get(StudentExport, owner.export_id, populate_existing=True)
    assert export is not None  # claimed rows are never deleted (the purge keeps them as the record)
    requester = db.session.get(User, export.requested_by_id)
    if not may_export(requester):
        fail(owner, N_("Your account no longer holds the student-level export grant, so the export was not made."))
        return False
    dataset, fmt, level, purpose = export.dataset, export.fmt, export.level, export.purpose
    try:
        period = build_period(export.period_start, export.period_end, now=export.queued_at)
    except PeriodError as exc:
        fail(owner, f"The export could not be made: {exc.message}")
        return False
    scope = Scope(level=level)
    _begin_reading()
    total = count_rows(dataset, period, scope)
    if not _progress(owner, 0, total):
        return False
    collected: list[tuple] = []
    batches = row_batches(dataset, period, scope, batch)
    while True:
        _begin_reading()
        rows = next(batches, None)
        if rows is None:
            db.session.commit()
            break
        collected.extend(rows)
        if not _progress(owner, len(collected), max(total, len(collected))):
            return False
    collected.sort(key=lambda item: item[0])  # the file's order: school, student, then program or plan
    rows = [row for _, row in collected]
    # The sheet title and notes in the requester's language (the job has no request to take it from).
    locale = requester.locale if getattr(requester, "locale", None) in LANGUAGES else DEFAULT
    with force_locale(locale):
        data = render_file(fmt, dataset, period, level, purpose, rows)
    return finish(owner, rows, data, period)


def finish(owner: Owner, rows: list[list], data: bytes, period: Period, now: datetime | None = None) -> bool:
    """Keep the file (encrypted) and record the disclosure and the audit row, only while this worker
    holds the claim; commits. False (nothing kept) when another worker has taken the export over."""
    now = now or utcnow()
    export = db.session.get(StudentExport, owner.export_id)
    assert export is not None  # claimed rows are never deleted (the purge keeps them as the record)
    name = f"students-{export.dataset}-{period.today.isoformat()}.{export.fmt}"
    won = db.session.execute(
        update(EXPORT)
        .where(_claimed(owner))
        .values(
            status=DONE,
            finished_at=now,
            expires_at=now + KEEP,
            heartbeat_at=now,
            rows_done=len(rows),
            rows_total=len(rows),
            content=crypto.encrypt_bytes(data),
            size_bytes=len(data),
            file_name=name,
        )
        .returning(EXPORT.c.id)
    ).scalar_one_or_none()
    if won is None:
        db.session.rollback()
        return False
    db.session.refresh(export)
    requester = db.session.get(User, export.requested_by_id)
    assert requester is not None  # a foreign key; accounts are deactivated, never deleted
    # A sharing of student records: one disclosure, listed on the record of each student included.
    disclosure = record_export_disclosure(
        requester,
        (row[1] for row in rows),
        dataset=export.dataset,
        categories=DISCLOSED[export.dataset],
        purpose=export.purpose,
        detail={"format": export.fmt, "rows": len(rows), "export_id": export.id},
    )
    export.disclosure_id = disclosure.id
    audit.record(
        "export.student_level",
        actor=requester,
        obj=export,
        purpose=export.purpose,
        ip=export.requested_ip,
        detail={
            "dataset": export.dataset,
            "format": export.fmt,
            "rows": len(rows),
            "level": export.level,
            "period": [period.start.isoformat(), period.end.isoformat()],
            "disclosure_id": disclosure.id,
        },
    )
    db.session.commit()
    return True


# --- the download and the purge ------------------------------------------------------------------


def open_file(actor: User, export: StudentExport, now: datetime | None = None) -> bytes:
    """The made file's bytes for its requester (the view has checked who asks), with the download's
    audit row; Gone once it has expired."""
    now = now or utcnow()
    if export.is_expired(now):
        raise Gone(
            _(
                "This export was kept for %(hours)s hours and has been deleted. Ask for it again if you still need it.",
                hours=int(KEEP.total_seconds() // 3600),
            )
        )
    if export.status != DONE or export.content is None:
        raise Gone(_("This export has not been made."))
    data = crypto.decrypt_bytes(export.content)
    audit.record(
        "export.student_level.download",
        actor=actor,
        obj=export,
        purpose=export.purpose,
        detail={
            "dataset": export.dataset,
            "format": export.fmt,
            "rows": export.rows_done,
            "disclosure_id": export.disclosure_id,
        },
    )
    return data


def purge_expired(now: datetime) -> int:
    """Delete the files of exports past their expiry (the rows stay, as the record of who asked); flushes."""
    result = db.session.execute(
        update(EXPORT).where(EXPORT.c.status == DONE, EXPORT.c.expires_at <= now).values(status=EXPIRED, content=None)
    )
    return cast(CursorResult[Any], result).rowcount
