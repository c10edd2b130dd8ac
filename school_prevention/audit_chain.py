"""The audit trail's hash chain: each row sealed with its predecessor's seal, and the check of it.

A row's seal is HMAC-SHA256(SP_AUDIT_KEY, previous seal + the row's contents). The trail is
LANES chains side by side (the row's `chain`), so that app servers committing at the same moment
need not all wait for one lock: a transaction picks a chain at random and seals its rows on it as
it commits, one transaction per chain at a time (a PostgreSQL advisory lock per chain, held to the
commit; SQLite has one writer anyway, and uses chain 0), so each chain follows the ids. The key
lives in the environment, not in the database: whoever can edit the table cannot forge seals.

verify() walks the rows in id order, each against the row before it on its chain, and names the
first one that does not hold:
- its seal does not match its own contents and stored predecessor: the row was changed;
- it matches, but its stored predecessor is not the seal of the row before it: a row was
  removed before it, or it was inserted out of order;
- it has no seal: it was written by something other than the app.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import random
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import event, inspect, select, text
from sqlalchemy.orm import Session

# Any constant shared by every app server of one database ("SPAU" in ASCII).
CHAIN_LOCK_KEY = 0x53504155
LANES = 8
LANE = "sp_audit_lane"  # session.info: the chain this transaction seals on
GENESIS = "0" * 64
JOBS_NAME = "audit.verify"


def _key() -> bytes:
    configured = current_app.config.get("SP_AUDIT_KEY")
    if configured:
        return str(configured).encode()
    # Derived from SECRET_KEY when no key of its own is set (development, tests).
    return hmac.new(str(current_app.config["SECRET_KEY"]).encode(), b"sp-audit-chain", hashlib.sha256).digest()


def _utc(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:  # as SQLite hands it back to a raw query
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _contents(row) -> bytes:
    """The sealed fields of a row (an AuditEvent, or a row read back), in one canonical form."""
    detail = row.detail
    if isinstance(detail, str):  # a raw query may hand JSON back as text
        detail = json.loads(detail)
    fields = [row.chain or 0, _utc(row.at), row.actor_id, row.action, row.object_type, row.object_id, row.student_id,
              row.school_id, row.purpose, row.ip, detail]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def seal_of(key: bytes, prev_hash: str, row) -> str:
    """The seal a row must carry after prev_hash."""
    return hmac.new(key, prev_hash.encode() + b"|" + _contents(row), hashlib.sha256).hexdigest()


def _last_seal(session: Session, chain: int) -> str:
    from school_prevention.audit import AuditEvent

    last = session.execute(select(AuditEvent.row_hash).where(AuditEvent.chain == chain)
                           .order_by(AuditEvent.id.desc()).limit(1)).scalar()
    return last or GENESIS


@event.listens_for(Session, "before_flush")
def seal(session: Session, flush_context, instances) -> None:
    """Seal the audit rows this flush inserts, in the order they will get their ids."""
    from school_prevention.audit import AuditEvent

    new = [obj for obj in session.new if isinstance(obj, AuditEvent) and obj.row_hash is None]
    if not new:
        return
    chain = session.info.get(LANE)
    if chain is None:
        # One chain for the whole transaction: taking a second chain's lock later could deadlock.
        postgresql = session.get_bind().dialect.name == "postgresql"
        chain = session.info[LANE] = random.randrange(LANES) if postgresql else 0
        if postgresql:
            # Held to the commit: no other transaction can seal (or insert) rows on this chain meanwhile.
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY + chain})
    key = _key()
    # The newest row of the chain this transaction can see: committed ones, and its own already
    # flushed (read each time, so a savepoint rolled back leaves no gap).
    prev = _last_seal(session, chain)
    # The flush inserts rows in the order they were added, and they get their ids in that order.
    for row in sorted(new, key=lambda r: inspect(r).insert_order):
        row.chain, row.prev_hash = chain, prev
        row.row_hash = prev = seal_of(key, prev, row)


@event.listens_for(Session, "after_transaction_end")
def _forget_lane(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(LANE, None)


@dataclass
class Finding:
    """The first row that does not hold, and what is wrong with it."""

    row_id: int
    problem: str

    def __str__(self) -> str:
        return f"audit row {self.row_id}: {self.problem}"


def verify(session: Session, batch: int = 5000) -> tuple[int, Finding | None]:
    """(rows checked, the first bad row or None) for the whole trail, in id order."""
    from school_prevention.audit import AuditEvent

    key = _key()
    prev: dict[int, str] = {}  # the last seal of each chain so far
    checked = 0
    after = 0
    columns = [AuditEvent.id, AuditEvent.at, AuditEvent.actor_id, AuditEvent.action, AuditEvent.object_type,
               AuditEvent.object_id, AuditEvent.student_id, AuditEvent.school_id, AuditEvent.purpose,
               AuditEvent.ip, AuditEvent.detail, AuditEvent.chain, AuditEvent.prev_hash, AuditEvent.row_hash]
    while True:
        rows = session.execute(select(*columns).where(AuditEvent.id > after).order_by(AuditEvent.id)
                               .limit(batch)).all()
        if not rows:
            return checked, None
        for row in rows:
            checked += 1
            if row.row_hash is None:
                return checked, Finding(row.id, "it has no seal: it was written outside the app")
            if seal_of(key, row.prev_hash or "", row) != row.row_hash:
                return checked, Finding(row.id, "its contents were changed after it was written")
            if row.prev_hash != prev.get(row.chain, GENESIS):
                return checked, Finding(row.id, "the row before it in the chain is missing or out of order "
                                                "(a row was removed, or this one was inserted out of order)")
            prev[row.chain] = row.row_hash
        after = rows[-1].id


def alert(finding: Finding) -> int:
    """Tell every active admin and district user, in the app and by email (no student detail)."""
    from school_prevention.auth.models import User
    from school_prevention.notifications.services import notify
    from school_prevention.extensions import db
    from school_prevention.roles import Role

    people = db.session.scalars(select(User).where(User.role.in_([Role.ADMIN.value, Role.DISTRICT.value]),
                                                  User.is_active.is_(True))).all()
    title = f"The audit trail failed its check at row {finding.row_id}: it may have been tampered with."
    return sum(notify(people, kind="audit.broken", subject_type="audit_event", subject_id=finding.row_id,
                      title=title, link=None, channel=channel) for channel in ("in_app", "email"))


def _register_job() -> None:
    from school_prevention.scheduler import job

    @job(JOBS_NAME, trigger="cron", hour=3, minute=10, misfire_grace_time=6 * 3600)
    def verify_nightly(now: datetime) -> int:
        """Check the audit trail's hash chain; alert the admins and the district if a row fails."""
        from school_prevention.extensions import db

        checked, finding = verify(db.session)
        if finding is not None:
            alert(finding)
            current_app.logger.error("audit verify: %s (after %d rows)", finding, checked)
        return checked


_register_job()
