"""Queries over students, always narrowed from permissions.visible_students(user)."""

from __future__ import annotations

from sqlalchemy import Select, and_, func, or_, select

from school_prevention.auth.models import User, user_school
from school_prevention.roles import Role
from school_prevention.students.models import Student


def _like_prefix(word: str) -> str:
    escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def search_students(
    scoped: Select,
    q: str | None = None,
    school_id: int | None = None,
    grade: str | None = None,
    include_inactive: bool = False,
) -> Select:
    """Narrow a scoped student query by a name or SIS id search, school, grade and status.

    Each word of q must match the start of a name part ("gar mar" finds Maria Garcia), or the
    whole of q must equal the SIS id or the student number.
    """
    query = scoped
    if not include_inactive:
        query = query.where(Student.is_active.is_(True))
    if school_id:
        query = query.where(Student.school_id == school_id)
    if grade:
        query = query.where(Student.grade == grade)
    q = (q or "").strip()
    if q:
        words = q.replace(",", " ").split()
        names = and_(
            *[
                or_(
                    func.lower(Student.family_name).like(_like_prefix(w), escape="\\"),
                    func.lower(Student.given_name).like(_like_prefix(w), escape="\\"),
                    func.lower(Student.preferred_name).like(_like_prefix(w), escape="\\"),
                )
                for w in words
            ]
        )
        query = query.where(or_(Student.identifier == q, Student.sourced_id == q, names))
    return query.order_by(func.lower(Student.family_name), func.lower(Student.given_name), Student.id)


def counselors_of_my_schools(user: User) -> Select:
    """Active counselors of the user's schools, by name (the caseload's counselor filter and assign action)."""
    mine = select(user_school.c.school_id).where(user_school.c.user_id == user.id)
    return (
        select(User)
        .where(
            User.role == Role.COUNSELOR.value,
            User.is_active.is_(True),
            User.id.in_(select(user_school.c.user_id).where(user_school.c.school_id.in_(mine))),
        )
        .order_by(User.name)
    )
