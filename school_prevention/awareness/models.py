"""AwarenessPage, its versions, and the confirmations that a person read a version."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext
from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import Model
from school_prevention.i18n import N_
from school_prevention.roles import Role

NOBODY = N_("nobody yet")


class AwarenessPage(Model):
    """A page of guidance an admin writes in Markdown, shown to the roles of its audience.

    `version` goes up whenever the title or text changes; each version is kept
    (AwarenessPageVersion), and the audience is asked to confirm the current one.
    """

    __tablename__ = "awareness_page"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text, default="")
    # Roles the page is for, comma-separated ("staff,counselor,principal").
    audience: Mapped[str] = mapped_column(String(100), default="")
    position: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    is_published: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    updated_by: Mapped[User | None] = relationship()

    @property
    def roles(self) -> list[str]:
        """The audience's roles, in the order of Role."""
        named = {part.strip() for part in (self.audience or "").split(",")}
        return [r.value for r in Role if r.value in named]

    def is_for(self, user) -> bool:
        """Whether the page is meant for the user's role (and published)."""
        return self.is_published and user.role in self.roles

    @property
    def audience_label(self) -> str:
        """The roles the page is for, in the page's language (shown only on pages)."""
        return ", ".join(gettext(Role(r).value) for r in self.roles) or gettext(NOBODY)


class AwarenessPageVersion(Model):
    """A page as it read at one version: what a confirmation refers to."""

    __tablename__ = "awareness_page_version"
    __table_args__ = (Index("uq_awareness_page_version_page_id_version", "page_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("awareness_page.id", ondelete="CASCADE"))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    created_by: Mapped[User | None] = relationship()


class AwarenessConfirmation(Model):
    """A person confirmed that they read a version of a page ("I have read this")."""

    __tablename__ = "awareness_confirmation"
    __table_args__ = (
        # One confirmation per person and version: a double click confirms once.
        Index("uq_awareness_confirmation_user_id_page_id_version", "user_id", "page_id", "version", unique=True),
        Index("ix_awareness_confirmation_page_id_version", "page_id", "version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("awareness_page.id", ondelete="CASCADE"))
    version: Mapped[int]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)
