"""The database side of sending: claims with a lease, the hand-over mark, and each email's result.

A sender claims a batch: a token of its own, the time (claimed_at) and a lease (leased_until), in
a committed transaction of their own. While it works it renews the lease (every RENEW_EVERY for
the batch, and for each email as it marks it handed over), so however slow the relay, its claim
never runs out while it lives. Another sender takes over a claim only once its lease has run out:
its sender died or stopped for longer than LEASE. The sender confirms the claim is still its own
(a conditional UPDATE) right before each email's DATA; one it lost is skipped, not sent.

Every write here is committed when it returns: a result must survive the sender being killed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session

from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification

# Longer than the worst single hand-over: smtplib gives up after 30 s of silence on each of its
# five commands, so a live sender renews well within it.
LEASE = timedelta(minutes=5)
RENEW_EVERY = timedelta(minutes=1)


def due(now: datetime):
    """Emails a sender may claim at now: pending, due, not backing off, and unclaimed or abandoned."""
    return and_(
        Notification.channel == "email",
        Notification.state == "pending",
        Notification.send_at <= now,
        or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        or_(
            Notification.claim_token.is_(None),
            Notification.leased_until < now,
            # a claim made before leases existed (migration 0019) holds for LEASE
            and_(Notification.leased_until.is_(None), Notification.claimed_at < now - LEASE),
        ),
    )


def claim_batch(now: datetime, limit: int, session: Session | None = None) -> tuple[str, list[int]]:
    """Claim up to limit due emails for a new token, leased until now + LEASE, and commit; returns (token, ids)."""
    session = session or db.session()
    token = secrets.token_hex(16)
    candidates = select(Notification.id).where(due(now)).order_by(Notification.send_at, Notification.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Two statements on purpose. Rows another sender is claiming right now are skipped, not
        # waited for. As one `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`
        # PostgreSQL may rescan the subquery for every row, skip the rows it has just updated, and
        # so claim every due row instead of n, leaving a second sender nothing to do.
        picked = list(session.scalars(candidates.with_for_update(skip_locked=True)))
        chosen = Notification.id.in_(picked) if picked else None
    else:
        # SQLite: one statement, so the write lock is taken before anything is read (a read
        # followed by a write could fail at once with "database is locked" beside another sender).
        chosen = Notification.id.in_(candidates.scalar_subquery())
    if chosen is not None:
        # The condition repeats due(): a row another sender claimed or renewed meanwhile is not
        # taken over (PostgreSQL re-reads a row it waited for before updating it).
        session.execute(
            update(Notification)
            .where(chosen, due(now))
            .values(claim_token=token, claimed_at=now, leased_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    ids = list(
        session.scalars(
            select(Notification.id).where(Notification.claim_token == token, Notification.state == "pending")
        )
    )
    return token, ids


def outgoing(session: Session, ids: list[int]):
    """What the emails of a claimed batch need, as plain rows.

    Plain values, not ORM objects: every "sent" commit would expire loaded objects and cost two
    reloads per email.
    """
    return session.execute(
        select(
            Notification.id,
            Notification.title,
            Notification.link,
            Notification.attempts,
            Notification.message_id,
            User.email,
            User.is_active,
            User.locale,
        )
        .join(User, User.id == Notification.user_id)
        .where(Notification.id.in_(ids))
        .order_by(Notification.id)
    ).all()


class Sweep:
    """One sender's writes: through a session, or on PostgreSQL an autocommit connection (one round trip each)."""

    def __init__(self, session: Session, results: Connection | None = None) -> None:
        self.session = session
        self._results = results

    def _write(self, stmt) -> int:
        if self._results is not None:
            return self._results.execute(stmt).rowcount  # autocommit: committed when this returns
        result = self.session.execute(stmt.execution_options(synchronize_session=False))
        count = cast(CursorResult[Any], result).rowcount
        self.session.commit()
        return count

    def renew(self, ids: list[int], token: str, until: datetime) -> int:
        """Extend this sender's lease on the batch's unsent emails; returns how many it still holds."""
        return self._write(
            update(Notification)
            .where(Notification.id.in_(ids), Notification.claim_token == token, Notification.state == "pending")
            .values(leased_until=until)
        )

    def hand_over(self, note_id: int, token: str, at: datetime) -> bool:
        """Confirm the claim on one email is still this sender's and mark it handed to the relay (before DATA)."""
        return (
            self._write(
                update(Notification)
                .where(Notification.id == note_id, Notification.claim_token == token, Notification.state == "pending")
                .values(handed_at=at, leased_until=at + LEASE)
            )
            == 1
        )

    def sent(self, note_id: int, at: datetime, attempts: int, **values) -> None:
        """The relay answered 250: the email is sent, whoever holds its claim now (so nobody sends it again)."""
        self._write(
            update(Notification)
            .where(Notification.id == note_id, Notification.state == "pending")
            .values(
                state="sent",
                sent_at=at,
                last_attempt_at=at,
                attempts=attempts,
                last_error=None,
                claim_token=None,
                leased_until=None,
                handed_at=None,
                next_attempt_at=None,
                **values,
            )
        )

    def failed(
        self, note_id: int, token: str, at: datetime, attempts: int, error: str, retry_at: datetime | None
    ) -> None:
        """A try that did not send: back off until retry_at, or fail for good (retry_at None)."""
        self._write(
            update(Notification)
            .where(Notification.id == note_id, Notification.claim_token == token)
            .values(
                attempts=attempts,
                last_error=error[:500],
                last_attempt_at=at,
                state="pending" if retry_at else "failed",
                next_attempt_at=retry_at,
                claim_token=None,
                claimed_at=None,
                leased_until=None,
                handed_at=None,
            )
        )

    def release(self, ids: list[int], token: str) -> int:
        """Give back this sender's claim on emails it did not try (no try counted): free at once for the next sweep."""
        return self._write(
            update(Notification)
            .where(Notification.id.in_(ids), Notification.claim_token == token, Notification.state == "pending")
            .values(claim_token=None, claimed_at=None, leased_until=None, handed_at=None)
        )


@contextmanager
def sweep_connections() -> Iterator[Sweep]:
    """Database connections held for the whole sweep.

    The sweep commits twice per email. Through the app's pooled session every commit would hand the
    connection back and the next statement would check one out again (a pre-ping and a reset),
    and each commit would need BEGIN, UPDATE and COMMIT: several round trips per email. So the
    claims get a connection of their own and, on PostgreSQL, the results a second one in
    autocommit. When the app's session is already bound to one connection (the tests' per-test
    transaction), that session does everything.
    """
    bind = db.session.get_bind()
    if isinstance(bind, Connection):
        yield Sweep(db.session())
        return
    with bind.connect() as claims:
        session = Session(bind=claims)
        try:
            if bind.dialect.name == "postgresql":
                with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as results:
                    with _results_not_flushed(results):
                        yield Sweep(session, results)
            else:  # SQLite keeps synchronous=FULL: every commit of the sweep is on disk when it returns
                yield Sweep(session)
        finally:
            session.close()


@contextmanager
def _results_not_flushed(results: Connection) -> Iterator[None]:
    """Results that do not wait for the WAL flush to disk (synchronous_commit off), this sweep only.

    A result must outlive the sender process, and it does: it is committed and visible when the
    UPDATE returns. Only a crash of the database server itself can lose the last fraction of a
    second of them; such an email is then still claimed, not sent, and goes again when its lease
    runs out: a duplicate with the same Message-ID, never a loss. Claims stay fully durable.
    Waiting for a flush per email made a 10,000-email sweep about 2.5 times slower.
    """
    results.exec_driver_sql("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        try:
            # The connection goes back to the pool: other work on it must flush as usual.
            results.exec_driver_sql("RESET synchronous_commit")
        except Exception:
            results.invalidate()
