"""The audit trail's tables: the append-only AuditEvent rows and the heads of their hash chains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from school_prevention.db import utcnow
from school_prevention.extensions import Model


class AuditEvent(Model):
    """Who did what to which object, about which student, when and from where."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_student_id_at", "student_id", "at"),
        Index("ix_audit_event_actor_id_at", "actor_id", "at"),
        Index("ix_audit_event_chain_id", "chain", "id"),
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
    # The chain (audit_chain.seal): which of the side-by-side chains, this row's seal, and the seal
    # of the row before it on that chain.
    chain: Mapped[int] = mapped_column(default=0, server_default="0")
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))


class AuditChainHead(Model):
    """Where one chain ends: its number of rows, last row and that row's seal, sealed together."""

    __tablename__ = "audit_chain_head"

    chain: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    row_count: Mapped[int] = mapped_column(BigInteger)
    last_id: Mapped[int]
    last_hash: Mapped[str] = mapped_column(String(64))
    seal: Mapped[str] = mapped_column(String(64))
