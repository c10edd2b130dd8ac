"""Changes to a student's row itself: the lock every change to a student's record takes first."""

from __future__ import annotations

from sqlalchemy import select

from school_prevention.extensions import db
from school_prevention.students.models import Student


def lock_student(student: Student) -> None:
    """Hold the student's row until the request commits (SELECT ... FOR UPDATE on PostgreSQL; on
    SQLite the request already holds the write lock). A second identical request made at the same
    moment waits here, then its check for what the first one saved sees it."""
    db.session.execute(select(Student.id).where(Student.id == student.id).with_for_update())
