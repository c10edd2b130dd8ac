"""AccessRequest: a proposed grant of access to case data, waiting for a second person's decision."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model
from school_prevention.schools.models import School

# What an admin may propose but not give: each one opens case data (or the power to approve it)
# to the account, or hands the account to whoever holds the new credential.
ROLE = "role"  # value: counselor, principal or district
SCHOOL = "school"  # value: the school's id (a counselor's or principal's school)
STUDENT_EXPORT = "student_export"  # the district's student-level export grant
PRIVACY_OFFICER = "privacy_officer"  # the district's record-of-access look-up for any student
PASSWORD = "password"  # a temporary password set by an admin (only its hash is kept)
RESET_LINK = "reset_link"  # an invitation link emailed at an admin's request
SECOND_FACTOR = "second_factor"  # removing the account's second factor
REACTIVATE = "reactivate"  # giving a deactivated account its access back
KINDS = (ROLE, SCHOOL, STUDENT_EXPORT, PRIVACY_OFFICER, PASSWORD, RESET_LINK, SECOND_FACTOR, REACTIVATE)
STATUSES = ("pending", "approved", "rejected", "withdrawn")

# Condition of the partial unique index: one pending proposal of a kind and value per account.
PENDING = "status = 'pending'"


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AccessRequest(Model):
    """One proposed change to an account, proposed by one person and decided by another."""

    __tablename__ = "access_request"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind_known"),
        CheckConstraint(_in("status", STATUSES), name="status_known"),
        Index(
            "uq_access_request_pending",
            "user_id",
            "kind",
            "value",
            unique=True,
            postgresql_where=sa_text(PENDING),
            sqlite_where=sa_text(PENDING),
        ),
        Index("ix_access_request_status_proposed_at", "status", "proposed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # The role, or the school's id as text; '' for the kinds that carry no value.
    value: Mapped[str] = mapped_column(String(40), default="", server_default="")
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    # PASSWORD only, while pending: the argon2 hash of the proposed temporary password, never the
    # password itself; cleared once the request is decided or withdrawn.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    # Why it was rejected (required) or withdrawn.
    reason: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    school: Mapped[School | None] = relationship()
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def is_pending(self) -> bool:
        """True while nobody has decided it."""
        return self.status == "pending"
