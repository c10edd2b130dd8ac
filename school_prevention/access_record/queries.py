"""The audit rows about one student, as a record of access, newest first."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.students.models import Student

# What kind of access an audit action is: a read, a change, an export, or a disclosure outside the school.
KINDS = ("viewed", "changed", "exported", "disclosed")
_VIEW_SUFFIXES = (".view", ".list", ".read", ".print")


def kind_of(action: str) -> str:
    """viewed, changed, exported or disclosed, from an audit action's name."""
    if action.startswith("export."):
        return "exported"
    if action.startswith(("disclosure.", "flag.report_recorded")):
        return "disclosed"
    if action.endswith(_VIEW_SUFFIXES) or action.startswith("access_record."):
        return "viewed"
    return "changed"


def access_of(student_id: int) -> Select:
    """(at, action, actor name, actor role, purpose, ip) of every audit row about the student."""
    actor = aliased(User)
    return (
        select(
            AuditEvent.id,
            AuditEvent.at,
            AuditEvent.action,
            actor.name.label("actor_name"),
            actor.role.label("actor_role"),
            AuditEvent.purpose,
            AuditEvent.ip,
        )
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .where(AuditEvent.student_id == student_id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    )


def student_by_sis_id(sis_id: str) -> Select:
    """The student (any school, active or not) with this SIS sourcedId or local identifier."""
    return select(Student).where((Student.sourced_id == sis_id) | (Student.identifier == sis_id)).limit(2)
