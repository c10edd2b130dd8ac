"""Programs: create and edit, enroll with capacity and a FIFO waitlist, sessions and attendance.

Seat decisions lock the program row first (an UPDATE of its seat_version), so two counselors
taking the last seat at the same moment are served one after the other: the first gets the
seat, the second is waitlisted. A request repeated at the same moment (a double click, two
counselors) waits for the first on the same lock and then finds its work done: it raises
AlreadyDone, naming who did it and when, and changes nothing. Services flush; the caller commits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import partial

from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import func, select, update

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.auth.services import by_whom, last_done_by
from school_prevention.checkins.models import NonSchoolDay
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError, refuse
from school_prevention.extensions import db
from school_prevention.i18n import N_, format_local
from school_prevention.notifications.services import notify
from school_prevention.programs.models import ATTENDANCE, Attendance, Enrollment, Program, ProgramSession, ProgramType
from school_prevention.programs.queries import current_enrollments, program_named, session_on
from school_prevention.referrals.queries import counselors_of_school
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from school_prevention.timezones import district_today

PROGRAM_FIELDS = (
    "name",
    "description",
    "facilitator",
    "capacity",
    "starts_on",
    "ends_on",
    "schedule",
    "location",
    "session_minutes",
    "is_active",
)
END_STATUSES = {"completed": N_("Completed"), "withdrawn": N_("Withdrawn")}


def _clean(values: dict) -> dict:
    cleaned = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in PROGRAM_FIELDS}
    for key in ("description", "facilitator", "schedule", "location"):
        if key in cleaned and not cleaned[key]:
            cleaned[key] = None
    return cleaned


def program_problems(values: dict, program_type: ProgramType | None) -> list[tuple[str, str]]:
    """Every reason to refuse a program's details, all at once."""
    problems = []
    if program_type is None:
        problems.append(("type_id", gettext("Choose the kind of program.")))
    if not values.get("name"):
        problems.append(("name", gettext("Give the program a name.")))
    if not values.get("capacity") or values["capacity"] < 1:
        problems.append(("capacity", gettext("Capacity must be at least 1 seat.")))
    if values.get("starts_on") and values.get("ends_on") and values["ends_on"] < values["starts_on"]:
        problems.append(("ends_on", gettext("The end date is before the start date.")))
    return problems


def _check_program(values: dict, program_type: ProgramType | None) -> ProgramType:
    """Refuse the details with every problem at once; else the kind of program chosen."""
    refuse(program_problems(values, program_type))
    assert program_type is not None  # program_problems refuses a missing kind
    return program_type


def _differences(program: Program, program_type: ProgramType, values: dict) -> list[str]:
    """The fields whose value differs from the program's."""
    changed = sorted(k for k, v in values.items() if getattr(program, k) != v)
    return changed + (["type_id"] if program_type.id != program.type_id else [])


def _lock_school(school_id: int) -> None:
    """Take the school's row lock (PostgreSQL; SQLite's request already holds the write lock):
    two identical creations at once run one after the other, and the second sees the first's row."""
    db.session.execute(select(School.id).where(School.id == school_id).with_for_update())


def create_program(actor: User, school: School, program_type: ProgramType | None, **values) -> Program:
    """Add a program to a school's catalogue (a name once per school)."""
    values = _clean(values)
    if program_type is not None and not program_type.is_active:
        raise ServiceError("type_id", gettext("This kind of program is no longer offered; choose another."))
    program_type = _check_program(values, program_type)
    _lock_school(school.id)
    existing = db.session.scalars(program_named(school.id, values["name"])).first()
    if existing is not None:
        if not _differences(existing, program_type, values):
            raise AlreadyDone(
                gettext(
                    "The program “%(name)s” was already created by %(by)s. Nothing more was changed.",
                    name=existing.name,
                    by=last_done_by(existing, "program.created"),
                ),
                next_url=f"/programs/{existing.id}",
            )
        raise ServiceError("name", gettext("%(school)s already has a program with this name.", school=school.name))
    program = Program(
        school_id=school.id,
        school=school,
        type_id=program_type.id,
        type=program_type,
        created_by_id=actor.id,
        created_at=utcnow(),
        **values,
    )
    db.session.add(program)
    db.session.flush()
    audit.record(
        "program.created", actor=actor, obj=program, school_id=school.id, detail={"capacity": program.capacity}
    )
    return program


def update_program(actor: User, program: Program, program_type: ProgramType | None, **values) -> list[Enrollment]:
    """Change a program; a larger capacity promotes from the waitlist. Returns the promoted.

    The caller holds the program's row lock (its loader takes it for a change): a repeated identical
    save finds nothing to change and raises AlreadyDone.
    """
    values = _clean(values)
    program_type = _check_program(values, program_type)
    if db.session.scalars(program_named(program.school_id, values["name"], other_than=program.id)).first():
        raise ServiceError(
            "name", gettext("%(school)s already has a program with this name.", school=program.school.name)
        )
    _lock_seats(program)
    changed = _differences(program, program_type, values)
    if not changed:
        raise AlreadyDone(
            gettext(
                "These details of “%(name)s” were already saved by %(by)s. Nothing more was changed.",
                name=program.name,
                by=last_done_by(program, "program.updated", "program.created"),
            ),
            next_url=f"/programs/{program.id}",
        )
    active = _active_count(program.id)
    if values["capacity"] < active:
        raise ServiceError(
            "capacity",
            gettext(
                "%(num)s students hold seats now. Complete or withdraw some before "
                "lowering the capacity below %(num)s.",
                num=active,
            ),
        )
    for key, value in values.items():
        setattr(program, key, value)
    program.type_id, program.type = program_type.id, program_type
    db.session.flush()
    audit.record("program.updated", actor=actor, obj=program, school_id=program.school_id, detail={"fields": changed})
    return promote_waitlist(actor, program) if program.is_active else []


def _lock_seats(program: Program) -> None:
    """Take the program's row lock (PostgreSQL) or the write lock (SQLite) before counting seats."""
    db.session.execute(
        update(Program)
        .where(Program.id == program.id)
        .values(seat_version=Program.seat_version + 1)
        .execution_options(synchronize_session=False)
    )


def _active_count(program_id: int) -> int:
    return db.session.execute(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.program_id == program_id, Enrollment.status == "active")
    ).scalar_one()


@dataclass
class EnrollResult:
    """What happened to each student asked for: seated, waitlisted or skipped with a reason."""

    active: list[Student] = field(default_factory=list)
    waitlisted: list[Student] = field(default_factory=list)
    skipped: list[tuple[Student, str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        if self.active:
            parts.append(gettext("%(num)s enrolled", num=len(self.active)))
        if self.waitlisted:
            parts.append(gettext("%(num)s waitlisted (the program is full)", num=len(self.waitlisted)))
        # Counts and reasons, no names: the summary is flashed, and flashed messages travel in the session cookie.
        reasons = Counter(reason for _student, reason in self.skipped)
        parts += [gettext("%(num)s not enrolled: %(reason)s", num=n, reason=reason) for reason, n in reasons.items()]
        return "; ".join(parts) or gettext("Nobody was enrolled.")


def _place(enrollment: Enrollment) -> str:
    """ "in this program (enrolled by Casey Doe (Dec 3, 2026 10:02 AM))", or on its waitlist."""
    by = by_whom(enrollment.enrolled_by, enrollment.requested_at)
    if enrollment.status == "active":
        return gettext("in this program (added by %(by)s)", by=by)
    return gettext("on this program’s waitlist (added by %(by)s)", by=by)


def enroll(actor: User, program: Program, students: list[Student]) -> EnrollResult:
    """Give each student a free seat, or a place on the waitlist when the program is full.

    When every student asked for already holds or waits for a seat, the request repeats one already
    answered (a double click, two counselors at once): AlreadyDone, nothing changes. A student
    already in among others is skipped with a reason.
    """
    result = EnrollResult()
    if not program.is_active:
        raise ServiceError("student_ids", gettext("This program is not running; make it active before enrolling."))
    if not students:
        raise ServiceError("student_ids", gettext("Choose at least one student."))
    _lock_seats(program)
    current = {e.student_id: e for e in db.session.scalars(current_enrollments(program.id, [s.id for s in students]))}
    if all(s.id in current for s in students):
        # No name on this page: it writes no audit row (DESIGN: a page that names a student does).
        places = gettext(" or ").join(sorted({_place(current[s.id]) for s in students}))
        raise AlreadyDone(
            ngettext(
                "This student is already %(places)s. Nothing more was changed.",
                "These %(num)d students are already %(places)s. Nothing more was changed.",
                len(students),
                places=places,
            ),
            next_url=f"/programs/{program.id}",
        )
    free = program.capacity - _active_count(program.id)
    now = utcnow()
    for student in students:
        if student.school_id != program.school_id:
            result.skipped.append((student, gettext("of another school")))
            continue
        if not student.is_active:
            result.skipped.append((student, gettext("no longer enrolled at the school")))
            continue
        if student.id in current:
            result.skipped.append((student, gettext("already in this program or on its waitlist")))
            continue
        status = "active" if free > 0 else "waitlisted"
        free -= status == "active"
        enrollment = Enrollment(
            program_id=program.id,
            student_id=student.id,
            status=status,
            requested_at=now,
            started_at=now if status == "active" else None,
            enrolled_by_id=actor.id,
        )
        db.session.add(enrollment)
        db.session.flush()
        current[student.id] = enrollment
        (result.active if status == "active" else result.waitlisted).append(student)
        audit.record(
            f"enrollment.{status}", actor=actor, obj=enrollment, student=student, detail={"program_id": program.id}
        )
    return result


def end_enrollment(actor: User, enrollment: Enrollment, status: str, reason: str | None) -> list[Enrollment]:
    """Complete or withdraw (a waitlisted place can only be withdrawn); frees a seat. Returns the promoted.

    The caller holds the program's and the enrollment's row locks: a repeated request finds the
    enrollment ended and raises AlreadyDone.
    """
    if status not in END_STATUSES:
        raise ServiceError("status", gettext("Choose completed or withdrawn."))
    if not enrollment.is_current:
        raise AlreadyDone(
            gettext(
                "This student’s place in %(program)s was already ended (%(status)s) by %(by)s. "
                "Nothing more was changed.",
                program=enrollment.program.name,
                status=gettext(END_STATUSES.get(enrollment.status, enrollment.status)).lower(),
                by=by_whom(enrollment.ended_by, enrollment.ended_at),
            ),
            next_url=f"/programs/{enrollment.program_id}",
        )
    if status == "completed" and enrollment.status != "active":
        raise ServiceError(
            "status", gettext("Only a student holding a seat can complete the program; withdraw instead.")
        )
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("reason", gettext("Say why, for example “finished the 10-week cycle” or “family moved”."))
    program = enrollment.program
    _lock_seats(program)
    held_seat = enrollment.status == "active"
    enrollment.status, enrollment.ended_at, enrollment.end_reason = status, utcnow(), reason[:500]
    enrollment.ended_by_id = actor.id
    db.session.flush()
    audit.record(
        f"enrollment.{status}",
        actor=actor,
        obj=enrollment,
        student=enrollment.student,
        detail={"program_id": program.id},
    )
    return promote_waitlist(actor, program) if held_seat else []


def promote_waitlist(actor: User | None, program: Program) -> list[Enrollment]:
    """Move the first waitlisted students into free seats, in order, and tell the school's counselors."""
    _lock_seats(program)
    free = program.capacity - _active_count(program.id)
    if free <= 0:
        return []
    waiting = db.session.scalars(
        select(Enrollment)
        .where(Enrollment.program_id == program.id, Enrollment.status == "waitlisted")
        .order_by(Enrollment.requested_at, Enrollment.id)
        .limit(free)
    ).all()
    counselors = db.session.scalars(counselors_of_school(program.school_id)).all() if waiting else []
    now = utcnow()
    for enrollment in waiting:
        enrollment.status, enrollment.started_at = "active", now
        db.session.flush()
        audit.record(
            "enrollment.promoted",
            actor=actor,
            obj=enrollment,
            student=enrollment.student,
            detail={"program_id": program.id},
        )
        # Initials only: notification titles can be read over a shoulder.
        notify(
            counselors,
            kind="enrollment.promoted",
            subject_type="enrollment",
            subject_id=enrollment.id,
            title=partial(_promoted_title, enrollment.student.initials, program.name),
            link=f"/programs/{program.id}",
        )
    return list(waiting)


def _promoted_title(initials: str, program: str) -> str:
    """Composed in each counselor's language (notifications.locales); the program's name is data."""
    return gettext("%(initials)s moved from the waitlist into %(program)s", initials=initials, program=program)


# --- sessions and attendance --------------------------------------------------------------------


def session_problems(
    program: Program,
    held_on: date | None,
    minutes: int | None,
    attendance: dict[int, str],
    roster_ids: set[int],
    *,
    today: date | None = None,
) -> list[tuple[str | None, str]]:
    """Every reason to refuse a session as entered, all at once: a session counts as attendance and dosage,
    so it must have been held (not in the future) on a day school was open, while the program ran."""
    problems: list[tuple[str | None, str]] = []
    today = today or district_today()
    if held_on is not None:
        weekdays = current_app.config.get("SP_SCHOOL_WEEKDAYS", range(5))
        when = format_local(held_on, "%A, %b %-d, %Y")
        if held_on > today:
            message = gettext("%(day)s is still to come: record a session once it has been held.", day=when)
        elif program.starts_on and held_on < program.starts_on:
            message = gettext(
                "The program had not started on that date (it starts %(day)s).",
                day=format_local(program.starts_on, "%b %-d, %Y"),
            )
        elif held_on.weekday() not in weekdays:
            message = gettext("%(day)s is not a school day. Enter the day the session was held.", day=when)
        elif (closed := db.session.scalar(select(NonSchoolDay.name).where(NonSchoolDay.day == held_on))) is not None:
            message = gettext(
                "%(day)s is a non-school day (%(name)s). Enter the day the session was held.", day=when, name=closed
            )
        else:
            message = None
        if message:
            problems.append(("held_on", message))
    else:
        problems.append(("held_on", gettext("Enter the date of the session.")))
    if not minutes or not 1 <= minutes <= 1440:
        problems.append(("minutes", gettext("Enter the session's length in minutes (1 to 1440).")))
    if set(attendance) - roster_ids:
        problems.append((None, gettext("Attendance can be taken only for students on the program's roster.")))
    if any(status not in ATTENDANCE for status in attendance.values()):
        problems.append((None, gettext("Mark each student present, absent or excused.")))
    return problems


def _check_session(
    program: Program, held_on: date | None, minutes: int | None, attendance: dict[int, str], roster_ids: set[int]
) -> tuple[date, int]:
    """Refuse the session with every problem at once; else its date and length."""
    refuse(session_problems(program, held_on, minutes, attendance, roster_ids))
    assert held_on is not None and minutes is not None  # session_problems refuses either missing
    return held_on, minutes


def _marks(session: ProgramSession) -> dict[int, Attendance]:
    return {a.student_id: a for a in db.session.scalars(select(Attendance).where(Attendance.session_id == session.id))}


def _same_session(
    session: ProgramSession, minutes: int, topic: str | None, attendance: dict[int, str], marks: dict[int, Attendance]
) -> bool:
    return (session.minutes, session.topic) == (minutes, topic) and {
        sid: mark.status for sid, mark in marks.items()
    } == attendance


def record_session(
    actor: User,
    program: Program,
    *,
    held_on: date | None,
    minutes: int | None,
    topic: str | None,
    attendance: dict[int, str],
    roster_ids: set[int],
) -> ProgramSession:
    """Record one meeting and who attended it, in one step; one session per program and day.

    The caller holds the program's row lock: a repeated identical request (a double click) finds
    the session recorded and raises AlreadyDone; a different session on a day that has one is
    refused beside the date (correct the one recorded instead).
    """
    held_on, minutes = _check_session(program, held_on, minutes, attendance, roster_ids)
    topic = (topic or "").strip() or None
    existing = db.session.scalars(session_on(program.id, held_on)).first()
    if existing is not None:
        who = by_whom(existing.recorded_by, existing.recorded_at)
        if _same_session(existing, minutes, topic, attendance, _marks(existing)):
            raise AlreadyDone(
                gettext(
                    "The session of %(day)s was already recorded by %(by)s. Nothing more was changed.",
                    day=format_local(held_on, "%b %-d, %Y"),
                    by=who,
                ),
                next_url=f"/programs/{program.id}/sessions/{existing.id}",
            )
        raise ServiceError(
            "held_on",
            gettext(
                "A session on %(day)s was already recorded by %(by)s. Open it from the "
                "program page to correct it, or choose another date.",
                day=format_local(held_on, "%b %-d, %Y"),
                by=who,
            ),
        )
    session = ProgramSession(
        program_id=program.id,
        held_on=held_on,
        minutes=minutes,
        topic=topic,
        recorded_by_id=actor.id,
        recorded_at=utcnow(),
    )
    db.session.add(session)
    db.session.flush()
    db.session.add_all(
        Attendance(session_id=session.id, student_id=sid, status=status) for sid, status in attendance.items()
    )
    db.session.flush()
    audit.record(
        "program_session.recorded",
        actor=actor,
        obj=session,
        school_id=program.school_id,
        detail={
            "program_id": program.id,
            "marked": len(attendance),
            "present": sum(s == "present" for s in attendance.values()),
        },
    )
    return session


def update_session(
    actor: User,
    session: ProgramSession,
    program: Program,
    *,
    held_on: date | None,
    minutes: int | None,
    topic: str | None,
    attendance: dict[int, str],
    roster_ids: set[int],
) -> None:
    """Correct a session's date, length, topic or attendance.

    The caller holds the program's row lock: a repeated identical save finds nothing to change and
    raises AlreadyDone.
    """
    held_on, minutes = _check_session(program, held_on, minutes, attendance, roster_ids)
    topic = (topic or "").strip() or None
    existing = _marks(session)
    if session.held_on == held_on and _same_session(session, minutes, topic, attendance, existing):
        raise AlreadyDone(
            gettext(
                "These details of the session of %(day)s were already saved by %(by)s. Nothing more was changed.",
                day=format_local(held_on, "%b %-d, %Y"),
                by=last_done_by(session, "program_session.updated", "program_session.recorded"),
            ),
            next_url=f"/programs/{program.id}",
        )
    other = db.session.scalars(session_on(program.id, held_on).where(ProgramSession.id != session.id)).first()
    if other is not None:
        raise ServiceError(
            "held_on",
            gettext(
                "Another session of this program is recorded on %(day)s; choose another date.",
                day=format_local(held_on, "%b %-d, %Y"),
            ),
        )
    session.held_on, session.minutes, session.topic = held_on, minutes, topic
    for sid, status in attendance.items():
        if sid in existing:
            existing[sid].status = status
        else:
            db.session.add(Attendance(session_id=session.id, student_id=sid, status=status))
    db.session.flush()
    audit.record(
        "program_session.updated",
        actor=actor,
        obj=session,
        school_id=program.school_id,
        detail={"program_id": program.id, "marked": len(attendance)},
    )
