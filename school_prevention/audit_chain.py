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

A chain's last rows leave no successor to notice they are gone, so each chain also has a head
(audit_chain_head): how many rows it holds, its last row's id and seal, itself sealed with the key.
It is advanced in the same transaction as every row sealed on the chain, and the next row is sealed
after the head's seal, not after whatever row the table ends with. The database lets it only
advance (triggers refuse an UPDATE that does not add rows, a DELETE or a TRUNCATE; the app's
PostgreSQL role may not delete it either). verify() then compares each chain's end with its head:
rows removed from the end, a last row replaced, a head edited or removed are named too. What it
cannot see is an older head put back (by the tables' owner) together with the rows after it
removed: that needs a copy of the heads kept outside the database (the nightly check logs them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import event, inspect, select, text
from sqlalchemy.orm import Session

from school_prevention.audit.models import AuditChainHead, AuditEvent
from school_prevention.extensions import Model

# Any constant shared by every app server of one database ("SPAU" in ASCII).
CHAIN_LOCK_KEY = 0x53504155
LANES = 8
LANE = "sp_audit_lane"  # session.info: the chain this transaction seals on
HEAD = "sp_audit_head"  # session.info: the head this flush advances its chain to, written after it
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
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _contents(row) -> bytes:
    """The sealed fields of a row (an AuditEvent, or a row read back), in one canonical form."""
    detail = row.detail
    if isinstance(detail, str):  # a raw query may hand JSON back as text
        detail = json.loads(detail)
    fields = [
        row.chain or 0,
        _utc(row.at),
        row.actor_id,
        row.action,
        row.object_type,
        row.object_id,
        row.student_id,
        row.school_id,
        row.purpose,
        row.ip,
        detail,
    ]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def seal_of(key: bytes, prev_hash: str, row) -> str:
    """The seal a row must carry after prev_hash."""
    return hmac.new(key, prev_hash.encode() + b"|" + _contents(row), hashlib.sha256).hexdigest()


def head_seal(key: bytes, chain: int, row_count: int, last_id: int, last_hash: str) -> str:
    """The seal a chain's head must carry."""
    return hmac.new(key, f"head|{chain}|{row_count}|{last_id}|{last_hash}".encode(), hashlib.sha256).hexdigest()


def _chain_end(session: Session, chain: int) -> tuple[int, str, bool]:
    """(rows on the chain, the seal the next row follows, whether the chain has a head row yet)."""
    head = session.execute(
        select(AuditChainHead.row_count, AuditChainHead.last_hash).where(AuditChainHead.chain == chain)
    ).one_or_none()
    if head is not None:
        return head.row_count, head.last_hash, True
    # No head: a chain not used yet (migration 0024 gave one to every chain that had rows). Were it
    # removed, the chain starts again from GENESIS and verify names that row as out of order.
    return 0, GENESIS, False


def _insert_order(row: Model) -> int:
    """The position of a pending row in the order the session was given its rows."""
    order = inspect(row).insert_order
    assert order is not None  # set on every pending row, and only pending rows are sealed
    return order


@event.listens_for(Session, "before_flush")
def seal(session: Session, flush_context, instances) -> None:
    """Seal the audit rows this flush inserts, in the order they will get their ids."""
    session.info.pop(HEAD, None)  # left by a flush that failed
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
    # The chain's head as this transaction sees it: committed, and advanced by its own earlier
    # flushes (read each time, so a savepoint rolled back leaves no gap).
    count, prev, has_head = _chain_end(session, chain)
    # The flush inserts rows in the order they were added, and they get their ids in that order.
    rows = sorted(new, key=_insert_order)
    for row in rows:
        row.chain, row.prev_hash = chain, prev
        row.row_hash = prev = seal_of(key, prev, row)
    session.info[HEAD] = (chain, count + len(rows), rows[-1], has_head)


@event.listens_for(Session, "after_flush")
def advance_head(session: Session, flush_context) -> None:
    """Move the chain's head to the last row this flush sealed (its id is known now), in the same transaction."""
    pending = session.info.pop(HEAD, None)
    if pending is None:
        return
    chain, count, last, has_head = pending
    values = {
        "chain": chain,
        "row_count": count,
        "last_id": last.id,
        "last_hash": last.row_hash,
        "seal": head_seal(_key(), chain, count, last.id, last.row_hash),
    }
    if has_head:
        statement = (
            "UPDATE audit_chain_head SET row_count = :row_count, last_id = :last_id, "
            "last_hash = :last_hash, seal = :seal WHERE chain = :chain"
        )
    else:
        statement = (
            "INSERT INTO audit_chain_head (chain, row_count, last_id, last_hash, seal) "
            "VALUES (:chain, :row_count, :last_id, :last_hash, :seal)"
        )
    session.connection().execute(text(statement), values)


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
    """(rows checked, the first bad row or None) for the whole trail, in id order, then each chain's end."""
    key = _key()
    prev: dict[int, str] = {}  # the last seal of each chain so far
    ends: dict[int, tuple[int, int]] = {}  # each chain's rows so far and its last row's id
    checked = 0
    after = 0
    columns = [
        AuditEvent.id,
        AuditEvent.at,
        AuditEvent.actor_id,
        AuditEvent.action,
        AuditEvent.object_type,
        AuditEvent.object_id,
        AuditEvent.student_id,
        AuditEvent.school_id,
        AuditEvent.purpose,
        AuditEvent.ip,
        AuditEvent.detail,
        AuditEvent.chain,
        AuditEvent.prev_hash,
        AuditEvent.row_hash,
    ]
    while True:
        rows = session.execute(select(*columns).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(batch)).all()
        if not rows:
            return checked, _check_heads(session, key, prev, ends)
        for row in rows:
            checked += 1
            if row.row_hash is None:
                return checked, Finding(row.id, "it has no seal: it was written outside the app")
            if seal_of(key, row.prev_hash or "", row) != row.row_hash:
                return checked, Finding(row.id, "its contents were changed after it was written")
            if row.prev_hash != prev.get(row.chain, GENESIS):
                return checked, Finding(
                    row.id,
                    "the row before it in the chain is missing or out of order "
                    "(a row was removed, or this one was inserted out of order)",
                )
            prev[row.chain] = row.row_hash
            ends[row.chain] = (ends.get(row.chain, (0, 0))[0] + 1, row.id)
        after = rows[-1].id


def _check_heads(
    session: Session, key: bytes, prev: dict[int, str], ends: dict[int, tuple[int, int]]
) -> Finding | None:
    """The first chain whose end does not match its head: rows removed from its end, or a head changed or removed."""
    heads = {
        head.chain: head
        for head in session.execute(select(AuditChainHead).execution_options(populate_existing=True)).scalars()
    }
    for chain in sorted(set(heads) | set(ends)):
        count, last_id = ends.get(chain, (0, 0))
        head = heads.get(chain)
        if head is None:
            return Finding(
                last_id,
                f"chain {chain} has no head: it was removed, so rows at the chain's end may have been removed with it",
            )
        if head_seal(key, chain, head.row_count, head.last_id, head.last_hash) != head.seal:
            return Finding(head.last_id, f"the head of chain {chain} was changed after it was written")
        if count < head.row_count:
            where = f"after row {last_id}" if count else "(it has no rows left)"
            return Finding(
                head.last_id,
                f"the last {head.row_count - count} row(s) of chain {chain} are missing "
                f"{where}: the chain ended at row {head.last_id}",
            )
        if count > head.row_count or last_id != head.last_id or prev.get(chain) != head.last_hash:
            return Finding(
                last_id,
                f"chain {chain} does not end where its head says (row {head.last_id}): "
                "its last row was replaced, or rows were added outside the app",
            )
    return None


def describe_heads(session: Session) -> str:
    """Each chain's head in one line (chain:rows:last id:seal's start), for a log kept elsewhere."""
    heads = session.execute(select(AuditChainHead).order_by(AuditChainHead.chain)).scalars()
    return " ".join(f"{h.chain}:{h.row_count}:{h.last_id}:{h.seal[:16]}" for h in heads) or "none"
