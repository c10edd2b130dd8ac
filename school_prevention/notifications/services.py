"""Create in-app notifications (once per user, kind and subject), mark them read, retry a failed email.

Each change is one conditional UPDATE (… WHERE read_at IS NULL, … WHERE state = 'failed'): of two
identical requests at the same moment the second waits for the first's row lock, finds the
condition no longer true and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from flask_babel import gettext, pgettext
from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone
from school_prevention.extensions import db
from school_prevention.notifications.locales import Compose, compose_titles, in_language
from school_prevention.notifications.mail import new_message_id
from school_prevention.notifications.models import Notification
from school_prevention.notifications.queries import last_retry
from school_prevention.timezones import localtime


def notify(
    users: Iterable[User],
    *,
    kind: str,
    subject_type: str,
    subject_id: int,
    title: str | Compose,
    link: str | None,
    channel: str = "in_app",
) -> int:
    """Add one notification per user unless that user already has it; returns how many were new.

    Titles must never carry a student's name or case detail (initials at most). A composable title
    (functools.partial of a function that calls gettext) is written in each recipient's language.
    """
    users = list(users)
    if not users:
        return 0
    existing = set(
        db.session.scalars(
            select(Notification.user_id).where(
                Notification.user_id.in_([u.id for u in users]),
                Notification.kind == kind,
                Notification.channel == channel,
                Notification.subject_type == subject_type,
                Notification.subject_id == subject_id,
            )
        )
    )
    now = utcnow()
    created = 0
    for user in users:
        if user.id in existing:
            continue
        sent = now if channel == "in_app" else None
        if callable(title):
            with in_language(user.locale):
                text = str(title())
        else:
            text = title
        db.session.add(
            Notification(
                user_id=user.id,
                kind=kind,
                channel=channel,
                subject_type=subject_type,
                subject_id=subject_id,
                title=text,
                link=link,
                created_at=now,
                send_at=now,
                sent_at=sent,
                state="sent" if sent else "pending",
                message_id=None if sent else new_message_id(),
            )
        )
        created += 1
    db.session.flush()
    return created


def mark_notification_read(user: User, notification_id: int) -> int:
    """Mark one of the user's in-app notifications read; returns 1 when it was unread, else 0.

    Idempotent: a notification read already keeps the time it was first read.
    """
    return _mark_read(user, Notification.id == notification_id)


def mark_all_read(user: User) -> int:
    """Mark every in-app notification of the user read; returns how many were unread."""
    return _mark_read(user)


def _mark_read(user: User, *where) -> int:
    stmt = (
        update(Notification)
        .where(
            Notification.user_id == user.id, Notification.channel == "in_app", Notification.read_at.is_(None), *where
        )
        .values(read_at=utcnow())
    )
    return cast(CursorResult[Any], db.session.execute(stmt)).rowcount


def enqueue(rows: list[dict], now: datetime | None = None) -> int:
    """Insert notifications, skipping any that already exist (user, kind, channel, subject).

    now is the job's time (`jobs run NAME --now ...`), so emails made "as if at" a time are due then.

    INSERT ... ON CONFLICT DO NOTHING on the unique constraint: two sweeps or two schedulers
    creating the same reminder at the same moment end with one row, never an error.
    A row's title may be composable (notifications.locales): it is written in the row's user's language.
    Returns how many rows were new.
    """
    if not rows:
        return 0
    dialect = db.session.get_bind().dialect.name
    now = now or utcnow()
    compose_titles(rows)  # each email in its recipient's language (notifications.locales)
    values = []
    for row in rows:
        in_app = row.get("channel", "in_app") == "in_app"
        values.append(
            {
                "channel": "in_app",
                "link": None,
                "created_at": now,
                "send_at": now,
                "attempts": 0,
                "sent_at": now if in_app else None,
                "state": "sent" if in_app else "pending",
                "message_id": None if in_app else new_message_id(),
                **row,
            }
        )
    # A Core insert on the session's connection: sent as multi-row INSERTs (the ORM form of this
    # statement went row by row, 20,000 round trips for a sweep of 10,000 check-ins).
    table = Notification.__table__
    unique = ["user_id", "kind", "channel", "subject_type", "subject_id"]
    insert: Insert
    if dialect == "postgresql":
        insert = postgresql.insert(table).on_conflict_do_nothing(index_elements=unique)
    else:
        insert = sqlite.insert(table).on_conflict_do_nothing(index_elements=unique)
    stmt = insert.returning(table.c.id)
    connection = db.session.connection()
    created = 0
    for start in range(0, len(values), 500):
        created += len(connection.execute(stmt, values[start : start + 500]).all())
    return created


# A failed email put back in the queue: a fresh set of tries, no claim, never handed to the relay.
REQUEUED = {
    "state": "pending",
    "attempts": 0,
    "next_attempt_at": None,
    "claim_token": None,
    "claimed_at": None,
    "leased_until": None,
    "handed_at": None,
}


def retry_email(actor: User, note: Notification) -> None:
    """Put a failed email back in the queue with a fresh set of tries, once.

    A conditional UPDATE on the state: a second identical request waits for the first one's row
    lock, then finds the email no longer failed and is told who queued it again.
    """
    queued = cast(
        CursorResult[Any],
        db.session.execute(
            update(Notification)
            .where(Notification.id == note.id, Notification.state == "failed")
            .values(**REQUEUED)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if not queued:
        db.session.refresh(note)
        found = db.session.execute(last_retry(note.id)).first()
        if found is not None and note.state != "failed":
            name, at = found
            raise AlreadyDone(
                gettext(
                    "This email was already queued again by %(name)s (%(when)s); it is now "
                    "%(state)s. Nothing more was changed.",
                    name=name or gettext("someone"),
                    when=localtime(at),
                    state=_state(note.state),
                ),
                next_url=f"/admin/outbox?state={note.state}",
            )
        raise AlreadyDone(
            gettext(
                "This email is %(state)s, not failed: only failed emails can be retried. Nothing was changed.",
                state=_state(note.state),
            ),
            next_url=f"/admin/outbox?state={note.state}",
        )
    db.session.refresh(note)
    audit.record("outbox.retry", actor=actor, obj=note)


def _state(state: str) -> str:
    """An email's delivery state in words of the reader's language (the outbox's own)."""
    return pgettext("email state", state) if state in ("pending", "sent", "failed") else state


def failed_in(failed_from: datetime | None, failed_before: datetime | None, as_of: datetime):
    """The failed emails whose last try ended in [failed_from, failed_before) and no later than as_of.

    as_of is when the admin was shown the count: an email that fails after that is not swept in
    by the confirmation. Without a period, failed rows never tried (made failed by hand) count too.
    """
    tried = Notification.last_attempt_at
    conditions = [Notification.channel == "email", Notification.state == "failed"]
    if failed_from is None and failed_before is None:
        conditions.append(or_(tried.is_(None), tried <= as_of))
    else:
        conditions.append(tried <= as_of)
        if failed_from is not None:
            conditions.append(tried >= failed_from)
        if failed_before is not None:
            conditions.append(tried < failed_before)
    return and_(*conditions)


def count_failed(failed_from: datetime | None, failed_before: datetime | None, as_of: datetime) -> int:
    """How many failed emails requeue_failed would queue again."""
    return db.session.execute(
        select(func.count()).select_from(Notification).where(failed_in(failed_from, failed_before, as_of))
    ).scalar_one()


def requeue_failed(
    actor: User,
    *,
    failed_from: datetime | None,
    failed_before: datetime | None,
    as_of: datetime,
    period: str,
    audit_period: str | None = None,
) -> int:
    """Queue again, with a fresh set of tries, every failed email of a period (or all); returns how many.

    One conditional UPDATE: two identical requests queue each email once, and the second is told
    nothing was left (errors.AlreadyDone). The audit row carries the count and the period only (audit_period:
    the period in English, so the trail reads the same whoever acted; period is in the reader's language).
    """
    count = cast(
        CursorResult[Any],
        db.session.execute(
            update(Notification)
            .where(failed_in(failed_from, failed_before, as_of))
            .values(**REQUEUED)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if not count:
        raise AlreadyDone(
            gettext(
                "No failed emails are left to queue again (%(period)s): they were queued again "
                "or sent meanwhile. Nothing was changed.",
                period=period,
            ),
            next_url="/admin/outbox?state=pending",
        )
    audit.record(
        "outbox.requeue",
        actor=actor,
        object_type="notification",
        detail={"count": count, "period": audit_period or period, "as_of": as_of.isoformat()},
    )
    return count
