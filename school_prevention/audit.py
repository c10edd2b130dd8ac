"""The audit trail: the AuditEvent model and record(), the one way to write an audit row.

The table is append-only. The application never updates or deletes a row, and a database
trigger (see the first migration) rejects UPDATE and DELETE on PostgreSQL and SQLite alike.
"""
from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import Any

from flask import has_request_context, render_template, request
from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from school_prevention.db import begin_writing, mark_read, utcnow
from school_prevention.extensions import db


class AuditEvent(db.Model):
    """Who did what to which object, about which student, when and from where."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_student_id_at", "student_id", "at"),
        Index("ix_audit_event_actor_id_at", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("student.id"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"))
    purpose: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    # Counts and ids only: never names, narrative notes or search text typed about a child.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


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
    """Add one audit row to the session (the caller commits with the change it describes)."""
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
    db.session.add(event)
    return event


def record_read(action: str, **kwargs) -> AuditEvent:
    """record() for a read (a restricted note shown, a page viewed), not a change: the row may be
    written after the transaction that read (db.begin_afresh carries it into the next one)."""
    event = record(action, **kwargs)
    mark_read(db.session, event)
    return event


def record_view(action: str, **kwargs) -> AuditEvent:
    """The audit row of a page or export that has only read (a list, a record, a report), added in
    a transaction begun for writing (db.begin_writing), so on SQLite it cannot fail because someone
    else saved something while the page was read. Audit rows of reads the page made before
    (record_read: a restricted note shown) go into that transaction too. Not for a change: its
    reads and writes belong in one transaction, and begin_writing leaves it alone.

    The row is made before the transaction ends: ending it expires every loaded object, and
    reading an id from one afterwards (the signed-in user's, the student's) would load it again.
    """
    with db.session.no_autoflush:  # not the rows of reads, in the transaction that read
        event = record_read(action, **kwargs)
    begin_writing(db.session)
    return event


def render_viewed(template: str, context: dict[str, Any], action: str, *, rendering=None, **kwargs) -> str:
    """A page that only reads: rendered, then its audit row (record_view) written and committed.

    Rendered first because the commit expires every loaded object: a template reading them after
    it would load each one again, a query per row of a list. Rendered without autoflush: audit rows
    the page added while reading (a restricted note read) are written with the page's own, in the
    transaction begun for writing, not by the first lazy load of the template. If the audit rows
    cannot be written, the page is not shown. `rendering`: a context manager held while rendering
    only (reports.district.collector_paused), not while the audit row waits for the write lock.
    """
    with db.session.no_autoflush, rendering or nullcontext():
        page = render_template(template, **context)
    record_view(action, **kwargs)
    db.session.commit()
    return page
