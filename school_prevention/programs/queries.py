"""Queries for programs: seats, waitlists, dosage, candidates and mentoring matches.

Each takes an already scoped query (or ids from one), so lists start from what the user may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dateutil.relativedelta import relativedelta
from flask import abort
from sqlalchemy import Integer, Select, and_, bindparam, case, exists, false, func, null, or_, select, type_coerce
from sqlalchemy.orm import aliased, joinedload, selectinload

from school_prevention.auth.models import User
from school_prevention.flags.models import RiskFlag
from school_prevention.permissions import CASE_ROLES, assigned_school_ids, scoped_or_404
from school_prevention.programs.models import (
    CURRENT_ENROLLMENT,
    Attendance,
    Enrollment,
    Match,
    MatchContact,
    Mentor,
    Program,
    ProgramSession,
    ProgramType,
)
from school_prevention.roles import Role
from school_prevention.schools.models import School
from school_prevention.students.models import Student


def all_program_types() -> Select:
    """Every program type, those in use first (the admin list)."""
    return select(ProgramType).order_by(ProgramType.is_active.desc(), ProgramType.position, ProgramType.name)


def active_program_types() -> Select:
    """Program types offered when creating a program."""
    return select(ProgramType).where(ProgramType.is_active.is_(True)).order_by(ProgramType.position, ProgramType.name)


def seat_counts(program_ids) -> Select:
    """(program_id, active, waitlisted) for the given programs, in one grouped query."""
    return (
        select(
            Enrollment.program_id,
            func.count().filter(Enrollment.status == "active"),
            func.count().filter(Enrollment.status == "waitlisted"),
        )
        .where(Enrollment.program_id.in_(program_ids), Enrollment.status.in_(CURRENT_ENROLLMENT))
        .group_by(Enrollment.program_id)
    )


def seats_of(program_ids) -> dict[int, tuple[int, int]]:
    """(seats taken, seats waiting) per program, for the given programs."""
    from school_prevention.extensions import db

    if not program_ids:
        return {}
    return {pid: (active, waiting) for pid, active, waiting in db.session.execute(seat_counts(program_ids))}


def program_listing(
    scoped: Select, *, school_id: int | None = None, type_id: int | None = None, show: str = "active"
) -> Select:
    """Programs with their school and type, active first, by school then name."""
    query = scoped.join(School, School.id == Program.school_id).join(ProgramType, ProgramType.id == Program.type_id)
    if school_id:
        query = query.where(Program.school_id == school_id)
    if type_id:
        query = query.where(Program.type_id == type_id)
    if show == "active":
        query = query.where(Program.is_active.is_(True))
    elif show == "inactive":
        query = query.where(Program.is_active.is_(False))
    return query.order_by(School.name, Program.name)


def enrollments_of_program(program_id: int) -> Select:
    """The program's enrollments: active and waitlisted (in waitlist order), then past ones."""
    rank = case({"active": 0, "waitlisted": 1, "completed": 2, "withdrawn": 3}, value=Enrollment.status)
    return (
        select(Enrollment)
        .join(Student, Student.id == Enrollment.student_id)
        .where(Enrollment.program_id == program_id)
        .order_by(rank, Enrollment.requested_at, Enrollment.id)
    )


def enrollments_of_student(student_id: int) -> Select:
    """A student's enrollments, current first, newest first."""
    rank = case({"active": 0, "waitlisted": 1}, value=Enrollment.status, else_=2)
    return select(Enrollment).where(Enrollment.student_id == student_id).order_by(rank, Enrollment.requested_at.desc())


def waitlist_positions(program_id: int) -> dict[int, int]:
    """Enrollment id -> place on the program's waitlist (1 is next)."""
    from school_prevention.extensions import db

    ids = db.session.scalars(
        select(Enrollment.id)
        .where(Enrollment.program_id == program_id, Enrollment.status == "waitlisted")
        .order_by(Enrollment.requested_at, Enrollment.id)
    ).all()
    return {enrollment_id: place for place, enrollment_id in enumerate(ids, start=1)}


@dataclass(frozen=True)
class Dosage:
    """What a student received of a program: sessions and minutes attended, of sessions held."""

    sessions: int = 0
    minutes: int = 0
    absences: int = 0
    excused: int = 0


def dosage(*, program_id: int | None = None, student_id: int | None = None) -> Select:
    """(program_id, student_id, sessions present, minutes present, absent, excused), grouped."""
    present = Attendance.status == "present"
    query = (
        select(
            ProgramSession.program_id,
            Attendance.student_id,
            func.count().filter(present),
            func.coalesce(func.sum(case((present, ProgramSession.minutes), else_=0)), 0),
            func.count().filter(Attendance.status == "absent"),
            func.count().filter(Attendance.status == "excused"),
        )
        .join(ProgramSession, ProgramSession.id == Attendance.session_id)
        .group_by(ProgramSession.program_id, Attendance.student_id)
    )
    if program_id is not None:
        query = query.where(ProgramSession.program_id == program_id)
    if student_id is not None:
        query = query.where(Attendance.student_id == student_id)
    return query


def dosage_map(rows, key_index: int) -> dict[int, Dosage]:
    """Rows of dosage() keyed by program (0) or student (1)."""
    return {row[key_index]: Dosage(row[2], int(row[3]), row[4], row[5]) for row in rows}


def sessions_of_program(program_id: int) -> Select:
    """The program's sessions, newest first."""
    return (
        select(ProgramSession)
        .where(ProgramSession.program_id == program_id)
        .order_by(ProgramSession.held_on.desc(), ProgramSession.id.desc())
    )


def attendance_of_session(session_id: int) -> Select:
    """(student_id, status) of one session."""
    return select(Attendance.student_id, Attendance.status).where(Attendance.session_id == session_id)


def in_any_program():
    """EXISTS: the student holds or waits for a seat in some program."""
    return exists().where(Enrollment.student_id == Student.id, Enrollment.status.in_(CURRENT_ENROLLMENT))


def has_current_flag():
    """EXISTS: the student has an open or monitoring flag."""
    return exists().where(RiskFlag.student_id == Student.id, RiskFlag.status != "resolved")


def flagged_not_in_any_program(scoped_students: Select, school_id: int) -> Select:
    """Active students of a school with a current flag and no current program: who to enroll first."""
    return scoped_students.where(
        Student.school_id == school_id, Student.is_active.is_(True), has_current_flag(), ~in_any_program()
    ).order_by(Student.family_name, Student.given_name)


def current_enrollments(program_id: int, student_ids) -> Select:
    """The current enrollments (holding or waiting for a seat) of these students in the program,
    with who enrolled them."""
    return (
        select(Enrollment)
        .where(
            Enrollment.program_id == program_id,
            Enrollment.student_id.in_(student_ids),
            Enrollment.status.in_(CURRENT_ENROLLMENT),
        )
        .options(joinedload(Enrollment.enrolled_by))
        .execution_options(populate_existing=True)
    )


def program_named(school_id: int, name: str, *, other_than: int | None = None) -> Select:
    """The school's program with this name, ignoring case (names are unique per school)."""
    query = select(Program).where(Program.school_id == school_id, func.lower(Program.name) == name.strip().lower())
    if other_than is not None:
        query = query.where(Program.id != other_than)
    return query.execution_options(populate_existing=True)


def session_on(program_id: int, held_on: date) -> Select:
    """The program's session on a day (there is at most one)."""
    return (
        select(ProgramSession)
        .where(ProgramSession.program_id == program_id, ProgramSession.held_on == held_on)
        .options(joinedload(ProgramSession.recorded_by))
        .execution_options(populate_existing=True)
    )


def open_programs_of_school(scoped: Select, school_id: int) -> Select:
    """Active programs of a school (for enrolling from the student page)."""
    return scoped.where(Program.school_id == school_id, Program.is_active.is_(True)).order_by(Program.name)


# --- mentoring ------------------------------------------------------------------------------


def mentor_listing(scoped: Select, show: str = "active") -> Select:
    """Mentors by name, active ones unless asked otherwise."""
    query = scoped
    if show == "active":
        query = query.where(Mentor.is_active.is_(True))
    return query.order_by(Mentor.name)


def background_check_valid_since(today: date, months: int) -> date:
    """The oldest background-check date that still clears a mentor today."""
    return today - relativedelta(months=months)


def matches_of_student(student_id: int) -> Select:
    """A student's mentoring matches, open ones first, newest first."""
    return (
        select(Match)
        .where(Match.student_id == student_id)
        .order_by((Match.status == "closed"), Match.created_at.desc())
    )


def match_listing(scoped: Select, show: str = "open") -> Select:
    """Matches with their students, open ones by status then age."""
    query = scoped.join(Student, Student.id == Match.student_id)
    if show == "open":
        query = query.where(Match.status != "closed")
    elif show == "closed":
        query = query.where(Match.status == "closed")
    rank = case({"matched": 0, "waiting": 1, "inquiry": 2, "closed": 3}, value=Match.status)
    return query.order_by(rank, Match.created_at).options(selectinload(Match.student))  # the list names each student


def last_contacts(match_ids) -> Select:
    """(match_id, date of the latest support contact)."""
    return (
        select(MatchContact.match_id, func.max(MatchContact.contacted_on))
        .where(MatchContact.match_id.in_(match_ids))
        .group_by(MatchContact.match_id)
    )


def next_contact_due(match: Match, last_contact: date | None) -> date | None:
    """A matched pair gets a support contact every month: a month after the last, or after the start."""
    if match.status != "matched" or match.matched_on is None:
        return None
    base = max(d for d in (last_contact, match.matched_on) if d is not None)
    return base + relativedelta(months=1)


def match_length_days(match: Match, today: date) -> int | None:
    """How long the match has lasted (to its close, or to today)."""
    if match.matched_on is None:
        return None
    return ((match.closed_on or today) - match.matched_on).days


def active_matches_with_contact_due(scoped: Select, today: date) -> list[tuple[Match, date]]:
    """Matched pairs whose monthly support contact is due by today, most overdue first."""
    from school_prevention.extensions import db

    matches = db.session.scalars(scoped.where(Match.status == "matched").options(selectinload(Match.student))).all()
    last = dict(db.session.execute(last_contacts([m.id for m in matches])).all()) if matches else {}
    due = [(m, next_contact_due(m, last.get(m.id))) for m in matches]
    return sorted(((m, d) for m, d in due if d is not None and d <= today), key=lambda pair: pair[1])


def visible_programs(user: User) -> Select:
    """Programs of the user's schools for counselors and principals; every school's for the
    district, whose pages show them only in aggregate (no enrollment rows, no names)."""
    if user.role_enum == Role.DISTRICT:
        return select(Program)
    if user.role_enum not in CASE_ROLES:
        return select(Program).where(false())
    return select(Program).where(Program.school_id.in_(assigned_school_ids(user)))


def get_program_or_404(user: User, program_id: int):
    """A program of one of the user's schools (counselors and principals); 404 otherwise."""
    if user.role_enum not in CASE_ROLES:
        abort(404)
    return scoped_or_404(visible_programs(user), Program, program_id)


def visible_mentors(user: User) -> Select:
    """Mentors registered at the user's schools (counselors and principals)."""
    if user.role_enum not in CASE_ROLES:
        return select(Mentor).where(false())
    return select(Mentor).where(Mentor.school_id.in_(assigned_school_ids(user)))


def get_mentor_or_404(user: User, mentor_id: int):
    """A mentor of one of the user's schools; 404 otherwise."""
    return scoped_or_404(visible_mentors(user), Mentor, mentor_id)


def visible_matches(user: User) -> Select:
    """Mentoring matches of students the user may see."""
    if user.role_enum not in CASE_ROLES:
        return select(Match).where(false())
    return select(Match).where(Match.school_id.in_(assigned_school_ids(user)))


def get_match_or_404(user: User, match_id: int):
    """A match of a student of one of the user's schools; 404 otherwise."""
    return scoped_or_404(visible_matches(user), Match, match_id)


def running_programs(scoped_programs: Select) -> Select:
    """The programs of a scoped program query that are marked running, by name (the caseload's choices)."""
    return scoped_programs.where(Program.is_active.is_(True)).order_by(Program.name)


def student_page_enrollments():
    """The student page's enrollments (pages.students.page_queries makes it a section of the page's one
    statement): (query, named columns, order), current first, newest first, for :student_id; each with
    the program's name, what the student attended of it, and a waitlisted one's place in line (1 is next)."""
    student = bindparam("student_id")
    present = Attendance.status == "present"
    dose = (
        select(
            ProgramSession.program_id,
            func.count().filter(present).label("sessions"),
            func.coalesce(func.sum(case((present, ProgramSession.minutes), else_=0)), 0).label("minutes"),
        )
        .join(ProgramSession, ProgramSession.id == Attendance.session_id)
        .where(Attendance.student_id == student)
        .group_by(ProgramSession.program_id)
        .subquery("dose")
    )
    ahead = aliased(Enrollment)
    place = (
        select(func.count())
        .where(
            ahead.program_id == Enrollment.program_id,
            ahead.status == "waitlisted",
            or_(
                ahead.requested_at < Enrollment.requested_at,
                and_(ahead.requested_at == Enrollment.requested_at, ahead.id <= Enrollment.id),
            ),
        )
        .correlate(Enrollment)
        .scalar_subquery()
    )
    columns = {
        "id": Enrollment.id,
        "program_id": Enrollment.program_id,
        "program": Program.name,
        "status": Enrollment.status,
        "requested_at": Enrollment.requested_at,
        "started_at": Enrollment.started_at,
        "ended_at": Enrollment.ended_at,
        "end_reason": Enrollment.end_reason,
        "sessions": type_coerce(func.coalesce(dose.c.sessions, 0), Integer),
        "minutes": type_coerce(func.coalesce(dose.c.minutes, 0), Integer),
        "place": type_coerce(case((Enrollment.status == "waitlisted", place), else_=null()), Integer),
    }
    query = (
        select(Enrollment.id)
        .join(Program, Program.id == Enrollment.program_id)
        .outerjoin(dose, dose.c.program_id == Enrollment.program_id)
        .where(Enrollment.student_id == student)
    )
    rank = case({"active": 0, "waitlisted": 1}, value=Enrollment.status, else_=2)
    return query, columns, [rank, Enrollment.requested_at.desc(), Enrollment.id.desc()]


def student_page_matches():
    """The student page's mentoring matches (a section of the page's one statement, like
    student_page_enrollments): (query, named columns, order), open ones first, newest first, with the
    mentor's name, for :student_id."""
    columns = {"id": Match.id, "status": Match.status, "matched_on": Match.matched_on, "mentor": Mentor.name}
    query = (
        select(Match.id)
        .outerjoin(Mentor, Mentor.id == Match.mentor_id)
        .where(Match.student_id == bindparam("student_id"))
    )
    return query, columns, [Match.status == "closed", Match.created_at.desc(), Match.id.desc()]
