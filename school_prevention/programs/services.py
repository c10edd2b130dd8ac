"""Programs: create and edit, enroll with capacity and a FIFO waitlist, sessions and attendance.

Seat decisions lock the program row first (an UPDATE of its seat_version), so two counselors
taking the last seat at the same moment are served one after the other: the first gets the
seat, the second is waitlisted. Services flush; the caller commits.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select, update

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.errors import ServiceError
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.notifications.services import notify
from school_prevention.programs.models import ATTENDANCE, Attendance, Enrollment, Program, ProgramSession, ProgramType
from school_prevention.programs.queries import current_enrollment_student_ids
from school_prevention.referrals.queries import counselors_of_school
from school_prevention.schools.models import School
from school_prevention.students.models import Student

PROGRAM_FIELDS = ("name", "description", "facilitator", "capacity", "starts_on", "ends_on", "schedule",
                  "location", "session_minutes", "is_active")
END_STATUSES = {"completed": "Completed", "withdrawn": "Withdrawn"}


def _clean(values: dict) -> dict:
    cleaned = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in PROGRAM_FIELDS}
    for key in ("description", "facilitator", "schedule", "location"):
        if key in cleaned and not cleaned[key]:
            cleaned[key] = None
    return cleaned


def _check_program(values: dict, program_type: ProgramType | None, school: School, program_id: int | None) -> None:
    if program_type is None:
        raise ServiceError("type_id", "Choose the kind of program.")
    if not values.get("name"):
        raise ServiceError("name", "Give the program a name.")
    if not values.get("capacity") or values["capacity"] < 1:
        raise ServiceError("capacity", "Capacity must be at least 1 seat.")
    if values.get("starts_on") and values.get("ends_on") and values["ends_on"] < values["starts_on"]:
        raise ServiceError("ends_on", "The end date is before the start date.")
    same_name = select(func.count()).select_from(Program).where(
        Program.school_id == school.id, func.lower(Program.name) == values["name"].lower())
    if program_id is not None:
        same_name = same_name.where(Program.id != program_id)
    if db.session.scalar(same_name):
        raise ServiceError("name", f"{school.name} already has a program with this name.")


def create_program(actor: User, school: School, program_type: ProgramType | None, **values) -> Program:
    """Add a program to a school's catalogue."""
    values = _clean(values)
    if program_type is not None and not program_type.is_active:
        raise ServiceError("type_id", "This kind of program is no longer offered; choose another.")
    _check_program(values, program_type, school, None)
    program = Program(school_id=school.id, school=school, type_id=program_type.id, type=program_type,
                      created_by_id=actor.id, created_at=utcnow(), **values)
    db.session.add(program)
    db.session.flush()
    audit.record("program.created", actor=actor, obj=program, school_id=school.id,
                 detail={"capacity": program.capacity})
    return program


def update_program(actor: User, program: Program, program_type: ProgramType | None, **values) -> list[Enrollment]:
    """Change a program; a larger capacity promotes from the waitlist. Returns the promoted."""
    values = _clean(values)
    _check_program(values, program_type, program.school, program.id)
    _lock_seats(program)
    active = _active_count(program.id)
    if values["capacity"] < active:
        raise ServiceError("capacity", f"{active} students hold seats now. Complete or withdraw some before "
                                       f"lowering the capacity below {active}.")
    changed = {k: v for k, v in values.items() if getattr(program, k) != v}
    if program_type.id != program.type_id:
        changed["type_id"] = program_type.id
    for key, value in values.items():
        setattr(program, key, value)
    program.type_id, program.type = program_type.id, program_type
    db.session.flush()
    audit.record("program.updated", actor=actor, obj=program, school_id=program.school_id,
                 detail={"fields": sorted(changed)})
    return promote_waitlist(actor, program) if program.is_active else []


def _lock_seats(program: Program) -> None:
    """Take the program's row lock (PostgreSQL) or the write lock (SQLite) before counting seats."""
    db.session.execute(update(Program).where(Program.id == program.id)
                       .values(seat_version=Program.seat_version + 1)
                       .execution_options(synchronize_session=False))


def _active_count(program_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Enrollment).where(
        Enrollment.program_id == program_id, Enrollment.status == "active"))


@dataclass
class EnrollResult:
    """What happened to each student asked for: seated, waitlisted or skipped with a reason."""

    active: list[Student] = field(default_factory=list)
    waitlisted: list[Student] = field(default_factory=list)
    skipped: list[tuple[Student, str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        if self.active:
            parts.append(f"{len(self.active)} enrolled")
        if self.waitlisted:
            parts.append(f"{len(self.waitlisted)} waitlisted (the program is full)")
        for student, reason in self.skipped:
            parts.append(f"{student.display_name}: {reason}")
        return "; ".join(parts) or "Nobody was enrolled."


def enroll(actor: User, program: Program, students: list[Student]) -> EnrollResult:
    """Give each student a free seat, or a place on the waitlist when the program is full."""
    result = EnrollResult()
    if not program.is_active:
        raise ServiceError("student_ids", "This program is not running; make it active before enrolling.")
    if not students:
        raise ServiceError("student_ids", "Choose at least one student.")
    _lock_seats(program)
    already = set(db.session.scalars(current_enrollment_student_ids(program.id, [s.id for s in students])))
    free = program.capacity - _active_count(program.id)
    now = utcnow()
    for student in students:
        if student.school_id != program.school_id:
            result.skipped.append((student, "attends another school"))
            continue
        if not student.is_active:
            result.skipped.append((student, "is no longer enrolled at the school"))
            continue
        if student.id in already:
            result.skipped.append((student, "is already in this program or on its waitlist"))
            continue
        status = "active" if free > 0 else "waitlisted"
        free -= status == "active"
        enrollment = Enrollment(program_id=program.id, student_id=student.id, status=status, requested_at=now,
                                started_at=now if status == "active" else None, enrolled_by_id=actor.id)
        db.session.add(enrollment)
        db.session.flush()
        already.add(student.id)
        (result.active if status == "active" else result.waitlisted).append(student)
        audit.record(f"enrollment.{status}", actor=actor, obj=enrollment, student=student,
                     detail={"program_id": program.id})
    return result


def end_enrollment(actor: User, enrollment: Enrollment, status: str, reason: str | None) -> list[Enrollment]:
    """Complete or withdraw (a waitlisted place can only be withdrawn); frees a seat. Returns the promoted."""
    if status not in END_STATUSES:
        raise ServiceError("status", "Choose completed or withdrawn.")
    if not enrollment.is_current:
        raise ServiceError("status", "This enrollment has already ended.")
    if status == "completed" and enrollment.status != "active":
        raise ServiceError("status", "Only a student holding a seat can complete the program; withdraw instead.")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("reason", "Say why, for example “finished the 10-week cycle” or “family moved”.")
    program = enrollment.program
    _lock_seats(program)
    held_seat = enrollment.status == "active"
    enrollment.status, enrollment.ended_at, enrollment.end_reason = status, utcnow(), reason[:500]
    enrollment.ended_by_id = actor.id
    db.session.flush()
    audit.record(f"enrollment.{status}", actor=actor, obj=enrollment, student=enrollment.student,
                 detail={"program_id": program.id})
    return promote_waitlist(actor, program) if held_seat else []


def promote_waitlist(actor: User | None, program: Program) -> list[Enrollment]:
    """Move the first waitlisted students into free seats, in order, and tell the school's counselors."""
    _lock_seats(program)
    free = program.capacity - _active_count(program.id)
    if free <= 0:
        return []
    waiting = db.session.scalars(
        select(Enrollment).where(Enrollment.program_id == program.id, Enrollment.status == "waitlisted")
        .order_by(Enrollment.requested_at, Enrollment.id).limit(free)).all()
    counselors = db.session.scalars(counselors_of_school(program.school_id)).all() if waiting else []
    now = utcnow()
    for enrollment in waiting:
        enrollment.status, enrollment.started_at = "active", now
        db.session.flush()
        audit.record("enrollment.promoted", actor=actor, obj=enrollment, student=enrollment.student,
                     detail={"program_id": program.id})
        # Initials only: notification titles can be read over a shoulder.
        notify(counselors, kind="enrollment.promoted", subject_type="enrollment", subject_id=enrollment.id,
               title=f"{enrollment.student.initials} moved from the waitlist into {program.name}",
               link=f"/programs/{program.id}")
    return list(waiting)


# --- sessions and attendance --------------------------------------------------------------------

def _check_session(program: Program, held_on: date | None, minutes: int | None, attendance: dict[int, str],
                   roster_ids: set[int]) -> None:
    if held_on is None:
        raise ServiceError("held_on", "Enter the date of the session.")
    if program.starts_on and held_on < program.starts_on:
        raise ServiceError("held_on", "The program had not started on that date.")
    if not minutes or not 1 <= minutes <= 1440:
        raise ServiceError("minutes", "Enter the session's length in minutes (1 to 1440).")
    unknown = set(attendance) - roster_ids
    if unknown:
        raise ServiceError(None, "Attendance can be taken only for students on the program's roster.")
    if any(status not in ATTENDANCE for status in attendance.values()):
        raise ServiceError(None, "Mark each student present, absent or excused.")


def record_session(actor: User, program: Program, *, held_on: date | None, minutes: int | None,
                   topic: str | None, attendance: dict[int, str], roster_ids: set[int]) -> ProgramSession:
    """Record one meeting and who attended it, in one step."""
    _check_session(program, held_on, minutes, attendance, roster_ids)
    session = ProgramSession(program_id=program.id, held_on=held_on, minutes=minutes,
                             topic=(topic or "").strip() or None, recorded_by_id=actor.id, recorded_at=utcnow())
    db.session.add(session)
    db.session.flush()
    db.session.add_all(Attendance(session_id=session.id, student_id=sid, status=status)
                       for sid, status in attendance.items())
    db.session.flush()
    audit.record("program_session.recorded", actor=actor, obj=session, school_id=program.school_id,
                 detail={"program_id": program.id, "marked": len(attendance),
                         "present": sum(s == "present" for s in attendance.values())})
    return session


def update_session(actor: User, session: ProgramSession, program: Program, *, held_on: date | None,
                   minutes: int | None, topic: str | None, attendance: dict[int, str],
                   roster_ids: set[int]) -> None:
    """Correct a session's date, length, topic or attendance."""
    _check_session(program, held_on, minutes, attendance, roster_ids)
    session.held_on, session.minutes, session.topic = held_on, minutes, (topic or "").strip() or None
    existing = {a.student_id: a for a in db.session.scalars(select(Attendance).where(Attendance.session_id == session.id))}
    for sid, status in attendance.items():
        if sid in existing:
            existing[sid].status = status
        else:
            db.session.add(Attendance(session_id=session.id, student_id=sid, status=status))
    db.session.flush()
    audit.record("program_session.updated", actor=actor, obj=session, school_id=program.school_id,
                 detail={"program_id": program.id, "marked": len(attendance)})
