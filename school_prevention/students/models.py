"""The Student model (rows are created only by the roster import: the SIS is the source), and the caseload's
own rows: a student's assigned counselor and each user's saved list views."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention.auth.models import User
from school_prevention.db import TimestampMixin, utcnow
from school_prevention.extensions import Model
from school_prevention.schools.models import School

# Display order of OneRoster grade codes.
GRADE_ORDER = ["IT", "PR", "PK", "TK", "KG"] + [f"{n:02d}" for n in range(1, 14)] + ["PS", "UG", "Other"]


def grade_label(code: str | None) -> str:
    """A grade code as people say it: 'KG' -> 'K', '07' -> '7'."""
    if not code:
        return "—"
    if code == "KG":
        return "K"
    if code.isascii() and code.isdigit():
        return str(int(code))
    return code


def display_name(family_name: str, given_name: str, preferred_name: str | None) -> str:
    """Family name, given name (preferred name in parentheses when different)."""
    if preferred_name and preferred_name != given_name:
        given_name = f"{given_name} ({preferred_name})"
    return f"{family_name}, {given_name}"


class Student(TimestampMixin, Model):
    """A student of one school, identified by the SIS sourcedId."""

    __tablename__ = "student"
    __table_args__ = (Index("ix_student_school_id_family_name", "school_id", "family_name", "given_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sourced_id: Mapped[str] = mapped_column(String(255), unique=True)
    identifier: Mapped[str | None] = mapped_column(String(255), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    given_name: Mapped[str] = mapped_column(String(255))
    family_name: Mapped[str] = mapped_column(String(255))
    preferred_name: Mapped[str | None] = mapped_column(String(255))
    grade: Mapped[str | None] = mapped_column(String(10))
    is_active: Mapped[bool] = mapped_column(default=True)

    school: Mapped[School] = relationship(lazy="joined")

    @property
    def display_name(self) -> str:
        """Family name, given name (preferred name in parentheses when different)."""
        return display_name(self.family_name, self.given_name, self.preferred_name)

    @property
    def initials(self) -> str:
        """Initials only: what may appear in an email or a calendar entry."""
        return f"{self.given_name[:1]}{self.family_name[:1]}".upper()

    @property
    def grade_label(self) -> str:
        """The grade as people say it."""
        return grade_label(self.grade)

    def __repr__(self) -> str:
        return f"<Student {self.id}>"


class CounselorAssignment(Model):
    """The counselor whose caseload a student is on (at most one; the roster knows nothing of it)."""

    __tablename__ = "counselor_assignment"

    student_id: Mapped[int] = mapped_column(ForeignKey("student.id", ondelete="CASCADE"), primary_key=True)
    counselor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)

    counselor: Mapped[User] = relationship(foreign_keys=[counselor_id])


class SavedView(Model):
    """A user's named filter of the student list ("My watchlist"): the list's query string, without
    a name search (a search for a child's name is not a view to keep)."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_view_user_id_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
