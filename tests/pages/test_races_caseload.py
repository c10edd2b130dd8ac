"""The caseload's bulk actions and saved views under identical requests at the same moment
(tests/support/concurrency.py): each student gets one plan, one seat, one assignment; a view is saved once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from school_prevention.checkins.models import CheckInPlan
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.programs.models import Enrollment
from school_prevention.students.models import CounselorAssignment, SavedView
from tests.factories import make_program, make_school, make_student, make_user
from tests.support.concurrency import assert_one_effect, fire_together


@dataclass
class World:
    counselor: int
    students: list[int]
    program: int


@pytest.fixture
def world(race_app) -> World:
    with race_app.app_context():
        school = make_school()
        counselor = make_user("counselor", schools=[school], name="Dana Counselor")
        students = [make_student(school, family_name=f"Race{i}") for i in range(3)]
        program = make_program(school, counselor, capacity=2)
        db.session.commit()
        return World(counselor.id, [s.id for s in students], program.id)


def _count(app, query) -> int:
    with app.app_context():
        return db.session.scalar(query)


def _done(answers) -> list[int]:
    """How many students each results page says were done."""
    assert all(a.status == 200 for a in answers), [(a.status, a.text[:300]) for a in answers]
    return sorted(int(re.search(r"(\d+) of \d+ done", a.text).group(1)) for a in answers)


def test_starting_plans_for_three_at_once_starts_one_each(race_app, world):
    data = {
        "student": world.students,
        "counselor": "me",
        "cadence": "weekly",
        "local_time": "10:30",
        "duration_minutes": "20",
        "non_school_day": "move",
        "link_flag": "y",
        "starts_on": (utcnow() + timedelta(days=1)).date().isoformat(),
    }
    answers = fire_together(race_app, world.counselor, "POST", "/students/bulk/plans", data)
    assert _done(answers) == [0] * (len(answers) - 1) + [3]  # one request started them; the others skipped all
    assert all("already has a check-in plan" in a.text for a in answers if "3 of 3 done" not in a.text)
    for student_id in world.students:
        assert (
            _count(race_app, select(func.count()).select_from(CheckInPlan).where(CheckInPlan.student_id == student_id))
            == 1
        )


def test_enrolling_three_at_once_seats_each_once(race_app, world):
    answers = fire_together(
        race_app,
        world.counselor,
        "POST",
        "/students/bulk/enroll",
        {"student": world.students, "program_id": str(world.program)},
    )
    assert _done(answers) == [0] * (len(answers) - 1) + [3]
    rows = _count(race_app, select(func.count()).select_from(Enrollment).where(Enrollment.program_id == world.program))
    seated = _count(
        race_app,
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.program_id == world.program, Enrollment.status == "active"),
    )
    assert rows == 3 and seated == 2  # capacity 2: the third waits


def test_assigning_at_once_assigns_once(race_app, world):
    answers = fire_together(
        race_app,
        world.counselor,
        "POST",
        "/students/bulk/assign",
        {"student": world.students, "counselor_id": str(world.counselor)},
    )
    assert _done(answers) == [0] * (len(answers) - 1) + [3]
    assert _count(race_app, select(func.count()).select_from(CounselorAssignment)) == 3


def test_saving_a_view_at_once_saves_it_once(race_app, world):
    answers = fire_together(
        race_app,
        world.counselor,
        "POST",
        "/students/views",
        {"name": "My watchlist", "query": "severity=urgent&plan=none"},
    )
    assert_one_effect(answers, says="already saved")
    assert _count(race_app, select(func.count()).select_from(SavedView)) == 1
