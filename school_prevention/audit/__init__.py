"""The audit trail: record(), the one way to write an audit row (the AuditEvent model is in audit/models.py).

The table is append-only. The application never updates or deletes a row; database triggers
(migrations 0001 and 0015) reject UPDATE, DELETE and TRUNCATE, and on SQLite an INSERT OR REPLACE
of an existing row. It is also tamper-evident: each row carries a keyed hash (HMAC-SHA256 with
SP_AUDIT_KEY) of its contents and of the row before it (audit_chain.py), so `flask --app app
audit verify` names the first row that was changed, removed or inserted out of order, even by
someone who could bypass the triggers but does not hold the key.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

from school_prevention.audit.models import AuditEvent
from school_prevention.db import utcnow
from school_prevention.extensions import db


def record(
    action: str,
    *,
    actor=None,
    obj=None,
    object_type: str | None = None,
    object_id: Any = None,
    student=None,
    school_id: int | None = None,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Add one audit row to the session: it is written with the request's (or job's) one commit,
    together with the change it describes, or not at all. A page that names a student records its
    read the same way: its row is committed after the page is built, and if it cannot be, the page
    is not shown."""
    if obj is not None:
        object_type = object_type or obj.__tablename__
        object_id = obj.id if object_id is None else object_id
    if student is not None and school_id is None:
        school_id = student.school_id
    if ip is None and has_request_context():
        ip = request.remote_addr
    event = AuditEvent(
        at=utcnow(),
        actor_id=getattr(actor, "id", None),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        student_id=getattr(student, "id", None),
        school_id=school_id,
        purpose=purpose,
        ip=ip,
        detail=detail,
    )
    session = db.session()
    if session.info.get(DEFER):
        session.info.setdefault(PENDING, []).append(event)
    else:
        session.add(event)
    return event


# session.info keys. In a web request audit rows wait until the request's commit (web.App sets
# DEFER): sealing a row takes the chain's lock until the commit (audit_chain), and a row flushed
# mid-page, by a query's autoflush while the template renders, would hold it that much longer.
DEFER = "sp_audit_defer"
PENDING = "sp_audit_pending"


@event.listens_for(Session, "before_commit")
def _add_pending(session: Session) -> None:
    """The request's audit rows go in with its commit (and are sealed by its flush)."""
    pending = session.info.pop(PENDING, None)
    if pending:
        session.add_all(pending)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    """Rows of a rolled-back request are not written."""
    if previous_transaction.parent is None:
        session.info.pop(PENDING, None)


# Seal every audit row as it is written (the listener lives in audit_chain).
from school_prevention import audit_chain  # noqa: E402,F401
