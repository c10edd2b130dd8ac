"""Figures for the role home pages."""
from __future__ import annotations

from sqlalchemy import Select, func, select

from school_prevention.auth.models import User
from school_prevention.students.models import Student


def active_students_by_school(schools: Select) -> Select:
    """(school, active student count) for each school of a scoped school query."""
    school_subq = schools.subquery()
    counts = (
        select(Student.school_id, func.count().label("n"))
        .where(Student.is_active.is_(True))
        .group_by(Student.school_id)
        .subquery()
    )
    return (
        select(school_subq, func.coalesce(counts.c.n, 0).label("active_students"))
        .outerjoin(counts, counts.c.school_id == school_subq.c.id)
        .order_by(school_subq.c.name)
    )


def users_by_role() -> Select:
    """(role, active users, inactive users) for the admin home."""
    return (
        select(
            User.role,
            func.count().filter(User.is_active.is_(True)).label("active"),
            func.count().filter(User.is_active.is_(False)).label("inactive"),
        )
        .group_by(User.role)
        .order_by(User.role)
    )


def count_of(query: Select) -> Select:
    """How many rows a query returns."""
    return select(func.count()).select_from(query.order_by(None).subquery())
