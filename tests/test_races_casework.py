"""Case work under identical requests at the same moment: exactly one effect, a clear message for
the others (tests/concurrency.py). On PostgreSQL each request has its own connection; on SQLite
they take turns for the write lock."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from school_prevention.audit import AuditEvent
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.referrals.models import Referral
from tests.concurrency import assert_one_effect, fire_together
from tests.factories import category, make_referral, make_school, make_student, make_user


@dataclass
class School:
    """Ids of one school's people and a student, committed in race_app's database."""

    counselor: int
    counselor2: int
    staff: int
    student: int


@pytest.fixture
def school(race_app) -> School:
    with race_app.app_context():
        s = make_school()
        counselor, counselor2 = make_user("counselor", schools=[s]), make_user("counselor", schools=[s])
        staff = make_user("staff", schools=[s])
        student = make_student(s)
        db.session.commit()
        return School(counselor.id, counselor2.id, staff.id, student.id)


def _new_referral(app, school: School) -> int:
    from school_prevention.auth.models import User
    from school_prevention.students.models import Student

    with app.app_context():
        referral = make_referral(db.session.get(Student, school.student), db.session.get(User, school.staff))
        db.session.commit()
        return referral.id


def _count(app, statement) -> int:
    with app.app_context():
        return db.session.scalar(statement)


def test_accepting_one_referral_at_once_makes_one_flag(race_app, school):
    rid = _new_referral(race_app, school)
    with race_app.app_context():
        form = {"category": str(category().id), "severity": "moderate", "note": "Seen crying twice."}
    answers = fire_together(race_app, [school.counselor] * 4 + [school.counselor2] * 4, "POST",
                            f"/referrals/{rid}/accept", form)
    assert_one_effect(answers, says="already accepted by")
    assert _count(race_app, select(func.count()).select_from(RiskFlag).where(RiskFlag.student_id == school.student)) == 1
    assert _count(race_app, select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "referral.accepted", AuditEvent.object_id == str(rid))) == 1


def test_closing_one_referral_at_once_closes_it_once(race_app, school):
    rid = _new_referral(race_app, school)
    answers = fire_together(race_app, school.counselor, "POST", f"/referrals/{rid}/close",
                            {"reason": "Spoke with the family; no concern."})
    assert_one_effect(answers, says="already closed by")
    assert _count(race_app, select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "referral.closed", AuditEvent.object_id == str(rid))) == 1
    with race_app.app_context():
        assert db.session.get(Referral, rid).closed_reason == "Spoke with the family; no concern."


def test_taking_one_referral_into_review_at_once_does_it_once(race_app, school):
    rid = _new_referral(race_app, school)
    answers = fire_together(race_app, school.counselor, "POST", f"/referrals/{rid}/review")
    assert_one_effect(answers, says="already in review")
    assert _count(race_app, select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "referral.in_review", AuditEvent.object_id == str(rid))) == 1
