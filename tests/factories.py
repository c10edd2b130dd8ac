"""Factories for every model: small functions with sensible defaults, flushed, not committed."""

from __future__ import annotations

import itertools
from functools import cache

from sqlalchemy import select

from school_prevention.auth.models import User
from school_prevention.auth.passwords import hash_password
from school_prevention.extensions import db
from school_prevention.schools.models import School
from school_prevention.students.models import Student

PASSWORD = "umbrella-quartz-violin-58"
_seq = itertools.count(1)


@cache
def _password_hash(password: str) -> str:
    # argon2 is deliberately slow; hash each test password once per run.
    return hash_password(password)


def make_school(**kw) -> School:
    n = next(_seq)
    school = School(
        sourced_id=kw.pop("sourced_id", f"school-{n}"),
        name=kw.pop("name", f"School {n}"),
        level=kw.pop("level", "middle"),
        **kw,
    )
    db.session.add(school)
    db.session.flush()
    return school


def make_student(school: School, **kw) -> Student:
    n = next(_seq)
    student = Student(
        sourced_id=kw.pop("sourced_id", f"stu-{n}"),
        identifier=kw.pop("identifier", f"{500000 + n}"),
        school_id=school.id,
        given_name=kw.pop("given_name", f"Given{n}"),
        family_name=kw.pop("family_name", f"Family{n}"),
        grade=kw.pop("grade", "07"),
        **kw,
    )
    db.session.add(student)
    db.session.flush()
    return student


def make_user(role: str = "counselor", schools=(), password: str = PASSWORD, **kw) -> User:
    n = next(_seq)
    user = User(
        email=kw.pop("email", f"user{n}@example.org"),
        name=kw.pop("name", f"User {n}"),
        role=role,
        password_hash=_password_hash(password),
        schools=list(schools),
        **kw,
    )
    db.session.add(user)
    db.session.flush()
    return user


def category(name_start: str = "Social isolation"):
    """A seeded flag category (the migration seeds them)."""
    from sqlalchemy import select

    from school_prevention.flags.models import FlagCategory

    return db.session.scalars(select(FlagCategory).where(FlagCategory.name.startswith(name_start))).first()


def instrument(name_start: str = "SRSS"):
    """A seeded screening instrument."""
    from sqlalchemy import select

    from school_prevention.screenings.models import Instrument

    return db.session.scalars(select(Instrument).where(Instrument.name.startswith(name_start))).first()


def make_flag(
    student,
    counselor,
    *,
    category_name: str = "Social isolation",
    severity: str = "moderate",
    note: str | None = "Sits alone at lunch.",
):
    from school_prevention.flags.services import create_flag

    return create_flag(
        counselor,
        student,
        category=category(category_name),
        severity=severity,
        source="counselor_observation",
        note=note,
    )


def make_referral(student, staff, *, urgency: str = "routine", observation: str = "Crying at dismissal."):
    from school_prevention.referrals.services import submit_referral

    return submit_referral(staff, student, categories=[category()], observation=observation, urgency=urgency)


def make_notification(user, **kw):
    from school_prevention.notifications.models import Notification

    n = next(_seq)
    note = Notification(
        user_id=user.id,
        kind=kw.pop("kind", "test"),
        channel=kw.pop("channel", "in_app"),
        subject_type="test",
        subject_id=n,
        title=kw.pop("title", f"Test notification {n}"),
        link=kw.pop("link", "/"),
        state=kw.pop("state", "sent"),
        **kw,
    )
    db.session.add(note)
    db.session.flush()
    return note


def program_type(name_start: str = "Mentoring"):
    from school_prevention.programs.models import ProgramType

    return db.session.scalars(select(ProgramType).where(ProgramType.name.startswith(name_start))).first()


def make_program(school, user, *, capacity: int = 10, type_name: str = "Anti-bullying", **kw):
    from school_prevention.programs.services import create_program

    kw.setdefault("name", f"Program {next(_seq)}")
    kw.setdefault("session_minutes", 45)
    kw.setdefault("is_active", True)
    return create_program(user, school, program_type(type_name), capacity=capacity, **kw)


def make_mentor(school, user, *, checked_on=None, **kw):
    from school_prevention.db import utcnow
    from school_prevention.programs.mentoring import save_mentor

    kw.setdefault("name", f"Mentor {next(_seq)}")
    kw.setdefault("is_active", True)
    return save_mentor(user, None, school, utcnow().date(), background_check_on=checked_on, **kw)


def make_checkin_plan(student, counselor, *, now, **kw):
    """A check-in plan through the service (check-ins written out as of `now`): weekly at 10:00 by default."""
    from datetime import time

    from school_prevention.checkins.services import create_plan
    from school_prevention.timezones import district_zone

    kw.setdefault("cadence", "weekly")
    kw.setdefault("local_time", time(10, 0))
    kw.setdefault("duration_minutes", 20)
    kw.setdefault("non_school_day", "move")
    kw.setdefault("starts_on", now.astimezone(district_zone()).date())
    return create_plan(counselor, student, counselor, now=now, **kw)


def make_agency(kind: str = "child_welfare", **kw):
    """An agency of the directory."""
    from school_prevention.agencies.models import Agency

    n = next(_seq)
    agency = Agency(name=kw.pop("name", f"Agency {n}"), kind=kind, phone=kw.pop("phone", "555-0100"), **kw)
    db.session.add(agency)
    db.session.flush()
    return agency


def make_guardian(*students, **kw):
    """A parent or guardian (as the roster imports them), linked to these students."""
    from school_prevention.disclosures.models import Guardian

    n = next(_seq)
    guardian = Guardian(
        sourced_id=kw.pop("sourced_id", f"guardian-{n}"),
        given_name=kw.pop("given_name", f"Parent{n}"),
        family_name=kw.pop("family_name", f"Family{n}"),
        role=kw.pop("role", "parent"),
        email=kw.pop("email", f"parent{n}@family.example"),
        phone=kw.pop("phone", "555-0199"),
        students=list(students),
        **kw,
    )
    db.session.add(guardian)
    db.session.flush()
    return guardian


def make_completion(user, course_name: str = "CSE-IT screener", *, completed_on=None, expires_on=None, **kw):
    """A training completion (default: the seeded CSE-IT screener course, completed a year ago, valid as the
    course says)."""
    from datetime import timedelta

    from school_prevention.db import utcnow
    from school_prevention.training.models import Course, TrainingCompletion
    from school_prevention.training.rules import expiry

    course = db.session.scalars(select(Course).where(Course.name == course_name)).one()
    completed_on = completed_on or utcnow().date() - timedelta(days=365)
    completion = TrainingCompletion(
        user_id=user.id,
        course_id=course.id,
        completed_on=completed_on,
        expires_on=expires_on or expiry(completed_on, course.renewal_months),
        **kw,
    )
    db.session.add(completion)
    db.session.flush()
    return completion
