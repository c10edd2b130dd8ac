"""Case work under identical requests at the same moment: exactly one effect, a clear message for
the others (tests/support/concurrency.py). On PostgreSQL each request has its own connection; on SQLite
they take turns for the write lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.extensions import db
from school_prevention.flags.models import FlagEvent, RiskFlag
from school_prevention.notifications.models import Notification
from school_prevention.referrals.models import Referral
from school_prevention.screenings.models import Screening
from tests.factories import (
    category,
    instrument,
    make_completion,
    make_flag,
    make_referral,
    make_school,
    make_student,
    make_user,
)
from tests.support.concurrency import assert_one_effect, fire_together


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
        make_completion(counselor), make_completion(counselor2)  # the CSE-IT instruments need the screener training
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
    answers = fire_together(
        race_app, [school.counselor] * 4 + [school.counselor2] * 4, "POST", f"/referrals/{rid}/accept", form
    )
    assert_one_effect(answers, says="already accepted by")
    assert (
        _count(race_app, select(func.count()).select_from(RiskFlag).where(RiskFlag.student_id == school.student)) == 1
    )
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "referral.accepted", AuditEvent.object_id == str(rid)),
        )
        == 1
    )


def test_closing_one_referral_at_once_closes_it_once(race_app, school):
    rid = _new_referral(race_app, school)
    answers = fire_together(
        race_app, school.counselor, "POST", f"/referrals/{rid}/close", {"reason": "Spoke with the family; no concern."}
    )
    assert_one_effect(answers, says="already closed by")
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "referral.closed", AuditEvent.object_id == str(rid)),
        )
        == 1
    )
    with race_app.app_context():
        assert db.session.get(Referral, rid).closed_reason == "Spoke with the family; no concern."


def test_taking_one_referral_into_review_at_once_does_it_once(race_app, school):
    rid = _new_referral(race_app, school)
    answers = fire_together(race_app, school.counselor, "POST", f"/referrals/{rid}/review")
    assert_one_effect(answers, says="already in review")
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "referral.in_review", AuditEvent.object_id == str(rid)),
        )
        == 1
    )


def _audited(app, action: str, **where) -> int:
    statement = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    for key, value in where.items():
        statement = statement.where(getattr(AuditEvent, key) == value)
    return _count(app, statement)


def _flag_events(app, flag_id: int, action: str) -> int:
    return _count(
        app, select(func.count()).select_from(FlagEvent).where(FlagEvent.flag_id == flag_id, FlagEvent.action == action)
    )


def _new_flag(
    app,
    school: School,
    *,
    category_name: str = "Social isolation",
    severity: str = "moderate",
    moves: tuple[str, ...] = (),
) -> int:
    """A committed flag on the school's student, moved through the given statuses first."""
    from school_prevention.auth.models import User
    from school_prevention.flags.services import change_status
    from school_prevention.students.models import Student

    with app.app_context():
        counselor = db.session.get(User, school.counselor)
        flag = make_flag(
            db.session.get(Student, school.student), counselor, category_name=category_name, severity=severity
        )
        for status in moves:
            change_status(counselor, flag, status, "Settled with the family." if status == "resolved" else None)
        db.session.commit()
        return flag.id


def test_sending_one_referral_at_once_sends_it_once(race_app, school):
    with race_app.app_context():
        form = {
            "categories": [str(category("Bullying — targeted").id)],
            "urgency": "soon",
            "observation": "Older students took her lunch money at the bus stop again.",
        }
    answers = fire_together(race_app, school.staff, "POST", f"/referrals/new?student={school.student}", form)
    assert_one_effect(answers, says="you already sent this referral at")
    assert (
        _count(race_app, select(func.count()).select_from(Referral).where(Referral.student_id == school.student)) == 1
    )
    assert _audited(race_app, "referral.created", student_id=school.student) == 1
    # Each counselor of the school hears of it once.
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.kind == "referral.new", Notification.user_id.in_([school.counselor, school.counselor2])
            ),
        )
        == 2
    )


def test_opening_one_flag_at_once_opens_one(race_app, school):
    with race_app.app_context():
        form = {
            "category": str(category("Social isolation").id),
            "severity": "moderate",
            "source": "counselor_observation",
            "note": "Eats lunch alone in the library every day.",
        }
    answers = fire_together(
        race_app,
        [school.counselor] * 4 + [school.counselor2] * 4,
        "POST",
        f"/students/{school.student}/flags/new",
        form,
    )
    assert_one_effect(answers, says="this flag was already opened by")
    assert (
        _count(race_app, select(func.count()).select_from(RiskFlag).where(RiskFlag.student_id == school.student)) == 1
    )
    assert _audited(race_app, "flag.created", student_id=school.student) == 1


@pytest.mark.parametrize(
    "moves, form, says, action",
    [
        (
            (),
            {"status": "resolved", "resolution": "Joined the lunch club; has friends now."},
            "already resolved by",
            "resolved",
        ),
        ((), {"status": "monitoring"}, "already moved to monitoring by", "monitoring"),
        (("resolved",), {"status": "open"}, "already reopened by", "reopened"),
        (("monitoring",), {"status": "open"}, "already moved back to open by", "open"),
    ],
    ids=["resolve", "monitor", "reopen", "back-to-open"],
)
def test_moving_one_flag_at_once_moves_it_once(race_app, school, moves, form, says, action):
    flag_id = _new_flag(race_app, school, moves=moves)
    answers = fire_together(
        race_app, [school.counselor] * 4 + [school.counselor2] * 4, "POST", f"/flags/{flag_id}/status", form
    )
    assert_one_effect(answers, says=says)
    assert _flag_events(race_app, flag_id, action) == 1
    assert _audited(race_app, "flag.status", object_id=str(flag_id)) == len(moves) + 1
    with race_app.app_context():
        assert db.session.get(RiskFlag, flag_id).status == form["status"]


def test_one_flag_edit_at_once_is_saved_once(race_app, school):
    flag_id = _new_flag(race_app, school)
    with race_app.app_context():
        form = {
            "category": str(category("Social isolation").id),
            "severity": "high",
            "source": "counselor_observation",
            "note": "Says nobody would notice if she stopped coming.",
            "replace_note": "y",
        }
    answers = fire_together(race_app, school.counselor, "POST", f"/flags/{flag_id}/edit", form)
    assert_one_effect(answers, says="already has these details, as saved by")
    assert _flag_events(race_app, flag_id, "edited") == 1
    assert _audited(race_app, "flag.updated", object_id=str(flag_id)) == 1


def test_recording_one_mandated_report_at_once_records_it_once(race_app, school):
    flag_id = _new_flag(race_app, school, category_name="Signs of commercial", severity="high")
    made_at = (datetime.now() - timedelta(days=2)).strftime("%Y-%m-%dT09:30")
    answers = fire_together(
        race_app,
        [school.counselor] * 4 + [school.counselor2] * 4,
        "POST",
        f"/flags/{flag_id}/report",
        {"agency": "State hotline", "made_at": made_at, "reference": "HL-2291"},
    )
    assert_one_effect(answers, says="mandated report was already recorded by")
    assert _flag_events(race_app, flag_id, "report_recorded") == 1
    assert _audited(race_app, "flag.report_recorded", object_id=str(flag_id)) == 1


def test_recording_one_screening_at_once_records_it_once(race_app, school):
    with race_app.app_context():
        form = {
            "instrument": str(instrument("CSE-IT").id),
            "screened_on": (date.today() - timedelta(days=1)).isoformat(),
            "result": "no_concern",
            "next_step": "none",
        }
    answers = fire_together(
        race_app,
        [school.counselor] * 4 + [school.counselor2] * 4,
        "POST",
        f"/students/{school.student}/screenings/new",
        form,
    )
    assert_one_effect(answers, says="screening of this student on")
    assert (
        _count(race_app, select(func.count()).select_from(Screening).where(Screening.student_id == school.student)) == 1
    )
    assert _audited(race_app, "screening.created", student_id=school.student) == 1
