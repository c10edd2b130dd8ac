"""Queries about users."""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from school_prevention.auth.models import User


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return (email or "").strip().lower()


def user_by_email(email: str) -> Select:
    """The user with this email (case-insensitive)."""
    return select(User).where(User.email == normalise_email(email))


def users_list(search: str | None = None, role: str | None = None) -> Select:
    """Users for the admin list, optionally filtered, ordered by name."""
    # The list shows each user's schools: one more query for the page, not one per user.
    query = select(User).options(selectinload(User.schools)).order_by(User.is_active.desc(), func.lower(User.name))
    if search:
        pattern = f"%{search.strip().lower()}%"
        query = query.where(or_(func.lower(User.name).like(pattern), User.email.like(pattern)))
    if role:
        query = query.where(User.role == role)
    return query
