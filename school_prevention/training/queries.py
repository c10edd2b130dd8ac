"""Queries for courses, completions and who on a school's staff is current, due or lapsed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from flask import abort, has_request_context, request
from sqlalchemy import Date, Select, false, func, literal, select

from school_prevention.auth.models import User, user_school
from school_prevention.extensions import db
from school_prevention.roles import Role
from school_prevention.training import rules
from school_prevention.training.models import REQUIRABLE_ROLES, Course, TrainingCompletion

SCHOOL_ROLES = tuple(r.value for r in REQUIRABLE_ROLES)


def all_courses() -> Select:
    """Every course, those in use first (the admin list)."""
    return select(Course).order_by(Course.is_active.desc(), Course.name)


def active_courses() -> Select:
    """Courses in use, by name."""
    return select(Course).where(Course.is_active.is_(True)).order_by(Course.name)


def course_by_name(name: str) -> Select:
    """The course with this name, ignoring case and surrounding spaces."""
    return select(Course).where(func.lower(Course.name) == name.strip().lower())


# --- whose training a user may see and record -------------------------------------------------


def manageable_staff(actor: User) -> Select:
    """People whose training the actor records: everyone for an admin; for a principal, the active
    staff, counselors and principals of their schools; nobody for other roles."""
    query = select(User)
    if actor.role_enum == Role.ADMIN:
        return query
    if actor.role_enum != Role.PRINCIPAL:
        return query.where(false())
    schools = select(user_school.c.school_id).where(user_school.c.user_id == actor.id)
    members = select(user_school.c.user_id).where(user_school.c.school_id.in_(schools))
    return query.where(User.id.in_(members), User.role.in_(SCHOOL_ROLES))


def get_staff_member_or_404(actor: User, user_id: int) -> User:
    """A person whose training the actor may record, or 404; locked for a change (two identical
    requests then run one after the other, and the second sees what the first did)."""
    query = manageable_staff(actor).where(User.id == user_id)
    if has_request_context() and request.method not in ("GET", "HEAD"):
        query = query.with_for_update(of=User).execution_options(populate_existing=True)
    person = db.session.scalars(query).one_or_none()
    if person is None:
        abort(404)
    return person


def completions_of(user_id: int) -> Select:
    """A person's completions, newest first."""
    return (
        select(TrainingCompletion)
        .where(TrainingCompletion.user_id == user_id)
        .order_by(TrainingCompletion.completed_on.desc(), TrainingCompletion.id.desc())
    )


def completion_of(user_id: int, completion_id: int) -> Select:
    """One completion of a person."""
    return select(TrainingCompletion).where(
        TrainingCompletion.user_id == user_id, TrainingCompletion.id == completion_id
    )


def completion_on(user_id: int, course_id: int, completed_on: date) -> Select:
    """The person's completion of a course on a day, if any (there is at most one)."""
    return select(TrainingCompletion).where(
        TrainingCompletion.user_id == user_id,
        TrainingCompletion.course_id == course_id,
        TrainingCompletion.completed_on == completed_on,
    )


def valid_completion(user_id: int, course_id: int, on: date) -> Select:
    """The person's completions of a course that were valid on a day (completed by then, not expired)."""
    return select(TrainingCompletion).where(
        TrainingCompletion.user_id == user_id,
        TrainingCompletion.course_id == course_id,
        TrainingCompletion.completed_on <= on,
        (TrainingCompletion.expires_on.is_(None)) | (TrainingCompletion.expires_on >= on),
    )


def latest_completion(user_id: int, course_id: int) -> Select:
    """The person's completion of a course that lasts longest (the one that says when it lapsed)."""
    lasts = func.coalesce(TrainingCompletion.expires_on, literal(rules.FOREVER, Date))
    return (
        select(TrainingCompletion)
        .where(TrainingCompletion.user_id == user_id, TrainingCompletion.course_id == course_id)
        .order_by(lasts.desc(), TrainingCompletion.completed_on.desc())
        .limit(1)
    )


def valid_through(user_ids, today: date) -> Select:
    """(user id, course id, last day valid) of each person's best completion of each course, counting
    completions up to today (a completion that never expires counts as valid through rules.FOREVER)."""
    lasts = func.max(func.coalesce(TrainingCompletion.expires_on, literal(rules.FOREVER, Date)), type_=Date)
    return (
        select(TrainingCompletion.user_id, TrainingCompletion.course_id, lasts.label("valid_through"))
        .where(TrainingCompletion.user_id.in_(user_ids), TrainingCompletion.completed_on <= today)
        .group_by(TrainingCompletion.user_id, TrainingCompletion.course_id)
    )


# --- status per person and per school -----------------------------------------------------------


@dataclass
class CourseLine:
    """One course for one person: its status and the last day it is valid."""

    course: Course
    status: str
    valid_through: date | None
    is_required: bool

    @property
    def label(self) -> str:
        return rules.STATUS_LABELS[self.status]

    @property
    def expires_on(self) -> date | None:
        """The last day valid, None when it never expires (or was never completed)."""
        return None if self.valid_through in (None, rules.FOREVER) else self.valid_through


@dataclass
class PersonTraining:
    """A member of a school's staff and their status on each course required of them."""

    user: User
    school_id: int
    lines: dict[int, CourseLine]
    status: str

    @property
    def label(self) -> str:
        return rules.STATUS_LABELS[self.status]


@dataclass
class Coverage:
    """How many of a school's staff are current, due for renewal, lapsed or not trained."""

    current: int = 0
    due: int = 0
    lapsed: int = 0
    missing: int = 0

    @property
    def staff(self) -> int:
        return self.current + self.due + self.lapsed + self.missing

    @property
    def trained(self) -> int:
        """In date today: current, or due for renewal but not yet lapsed."""
        return self.current + self.due

    @property
    def share_trained(self) -> float | None:
        return self.trained / self.staff if self.staff else None

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


@dataclass
class SchoolTraining:
    """Every staff member of some schools with their status, and the courses required of each role."""

    people: list[PersonTraining]
    required: dict[str, list[Course]]
    courses: Sequence[Course] = field(default_factory=list)

    def coverage(self) -> dict[int, Coverage]:
        out: dict[int, Coverage] = defaultdict(Coverage)
        for person in self.people:
            out[person.school_id].add(person.status)
        return out


def required_by_role(courses) -> dict[str, list[Course]]:
    """Role -> the courses in use that are required of it."""
    return {role: [c for c in courses if c.is_active and role in c.required_roles] for role in SCHOOL_ROLES}


def _members(school_ids, *columns) -> Select:
    """The active staff, counselors and principals of these schools (None: of every school): the columns
    asked for, per school."""
    query = (
        select(*columns, user_school.c.school_id)
        .join(user_school, user_school.c.user_id == User.id)
        .where(User.is_active.is_(True), User.role.in_(SCHOOL_ROLES))
    )
    # Every school: no list at all (SQLite would probe a list of thousands of ids once per person).
    return query if school_ids is None else query.where(user_school.c.school_id.in_(list(school_ids)))


def _validity(school_ids, today: date) -> dict[tuple[int, int], date]:
    """(user id, course id) -> last day valid, for everyone assigned to these schools (None: to any)."""
    ids = select(user_school.c.user_id)
    if school_ids is not None:
        ids = ids.where(user_school.c.school_id.in_(list(school_ids)))
    return {(u, c): v for u, c, v in db.session.execute(valid_through(ids, today))}


def _lines(user_id: int, role: str, required, validity, today: date) -> dict[int, CourseLine]:
    """A person's line for each course required of their role."""
    lines = {}
    for course in required.get(role, []):
        through = validity.get((user_id, course.id))
        lines[course.id] = CourseLine(course, rules.course_status(through, today), through, True)
    return lines


def school_training(school_ids, today: date) -> SchoolTraining:
    """The active staff, counselors and principals of these schools with their training status (three queries).

    A person assigned to several of the schools is listed (and counted) at each.
    """
    courses = db.session.scalars(active_courses()).all()
    required = required_by_role(courses)
    rows = db.session.execute(_members(school_ids, User).order_by(User.name, User.id)).all()
    validity = _validity(school_ids, today) if rows else {}
    people = []
    for user, school_id in rows:
        lines = _lines(user.id, user.role, required, validity, today)
        people.append(
            PersonTraining(user, school_id, lines, rules.overall_status(line.status for line in lines.values()))
        )
    return SchoolTraining(people, required, courses)


def training_coverage(school_ids=None, today: date | None = None) -> dict[int, Coverage]:
    """School id -> how many of its staff are current, due, lapsed or not trained: for every school
    asked for, or (None) for every school that has staff.

    The same statuses as school_training() gives each person, counted from ids and roles alone: the
    district's page asks for every school, thousands of people it does not list.
    """
    from school_prevention.timezones import district_today

    today = today or district_today()
    ids = None if school_ids is None else list(school_ids)
    out: dict[int, Coverage] = defaultdict(Coverage) if ids is None else {school_id: Coverage() for school_id in ids}
    if ids == []:
        return out
    required = required_by_role(db.session.scalars(active_courses()).all())
    rows = db.session.execute(_members(ids, User.id, User.role)).all()
    validity = _validity(ids, today) if rows else {}
    for user_id, role, school_id in rows:
        lines = _lines(user_id, role, required, validity, today)
        out[school_id].add(rules.overall_status(line.status for line in lines.values()))
    return dict(out)


def person_training(user: User, today: date) -> list[CourseLine]:
    """Every course required of the person or completed by them, with its status (two queries)."""
    courses = db.session.scalars(all_courses()).all()
    validity = {c: v for _, c, v in db.session.execute(valid_through([user.id], today))}
    lines = []
    for course in courses:
        required = course.is_active and user.role in course.required_roles
        if required or course.id in validity:
            through = validity.get(course.id)
            lines.append(CourseLine(course, rules.course_status(through, today), through, required))
    lines.sort(key=lambda line: (not line.is_required, rules.SEVERITY.index(line.status), line.course.name))
    return lines


def to_renew(user: User, today: date) -> list[CourseLine]:
    """The courses required of the person that are not current (never taken, lapsed, or due within
    30 days), worst first: the home page reminds them before a screening is refused for it."""
    return [line for line in person_training(user, today) if line.is_required and line.status != rules.CURRENT]
