"""The School model (a OneRoster org of type school)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from school_prevention.db import TimestampMixin
from school_prevention.extensions import Model

SCHOOL_LEVELS = ("elementary", "middle", "high", "other")


class School(TimestampMixin, Model):
    """A school; identified across systems by its SIS sourcedId."""

    __tablename__ = "school"
    __table_args__ = (CheckConstraint("level IN ('elementary', 'middle', 'high', 'other')", name="level_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sourced_id: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str | None] = mapped_column(String(255))
    level: Mapped[str] = mapped_column(String(20), default="other")
    is_active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return f"<School {self.sourced_id} {self.name!r}>"
