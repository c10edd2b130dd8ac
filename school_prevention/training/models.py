"""Course (the catalogue) and TrainingCompletion (one person's completion of one course)."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import gettext
from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model
from school_prevention.i18n import N_
from school_prevention.roles import SCHOOL_SCOPED_ROLES, Role

# Roles a course can be required for: the adults of a school (district and admin staff work with no child).
REQUIRABLE_ROLES = [r for r in Role if r in SCHOOL_SCOPED_ROLES]
ROLE_PLURALS = {Role.STAFF: N_("staff"), Role.COUNSELOR: N_("counselors"), Role.PRINCIPAL: N_("principals")}
# The same as choices on the course form ("Required of": Staff, Counselors, Principals).
ROLE_PLURALS_TITLE = {Role.STAFF: N_("Staff"), Role.COUNSELOR: N_("Counselors"), Role.PRINCIPAL: N_("Principals")}


class Course(Model):
    """A training course: provider, length, how often it must be renewed and whom it is required of."""

    __tablename__ = "course"
    __table_args__ = (
        CheckConstraint("renewal_months IS NULL OR renewal_months > 0", name="renewal_positive"),
        CheckConstraint("hours IS NULL OR hours >= 0", name="hours_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    provider: Mapped[str | None] = mapped_column(String(200))
    hours: Mapped[float | None] = mapped_column(Float)
    # A completion is valid this many months; None: it never has to be renewed.
    renewal_months: Mapped[int | None]
    # Roles that must hold the course, comma-separated ("staff,counselor,principal"); empty: none.
    required_for: Mapped[str] = mapped_column(String(100), default="", server_default="")
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def required_roles(self) -> list[str]:
        """The roles that must hold this course, in the order of Role."""
        named = {part.strip() for part in (self.required_for or "").split(",")}
        return [r.value for r in REQUIRABLE_ROLES if r.value in named]

    @required_roles.setter
    def required_roles(self, roles) -> None:
        wanted = set(roles or ())
        self.required_for = ",".join(r.value for r in REQUIRABLE_ROLES if r.value in wanted)

    @property
    def required_label(self) -> str:
        """Whom the course is required of, as people say it."""
        roles = self.required_roles
        return ", ".join(gettext(ROLE_PLURALS[Role(r)]) for r in roles) if roles else "—"

    @property
    def renewal_label(self) -> str:
        """How often the course is renewed, in the page's language (shown only on pages)."""
        if not self.renewal_months:
            return gettext("Never expires")
        if self.renewal_months % 12 == 0:
            years = self.renewal_months // 12
            return gettext("Every year") if years == 1 else gettext("Every %(num)d years", num=years)
        return gettext("Every %(num)d months", num=self.renewal_months)

    def __repr__(self) -> str:
        return f"<Course {self.id} {self.name!r}>"


class TrainingCompletion(Model):
    """A person completed a course on a day; valid through expires_on (None: for good)."""

    __tablename__ = "training_completion"
    __table_args__ = (
        # The same completion recorded twice (a double click, a file imported again) is one row.
        Index(
            "uq_training_completion_user_id_course_id_completed_on", "user_id", "course_id", "completed_on", unique=True
        ),
        CheckConstraint("expires_on IS NULL OR expires_on >= completed_on", name="expires_after_completion"),
        CheckConstraint("source IN ('manual', 'import')", name="source_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), index=True)
    completed_on: Mapped[date]
    expires_on: Mapped[date | None]
    source: Mapped[str] = mapped_column(String(10), default="manual")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    course: Mapped[Course] = relationship(lazy="joined")
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])
