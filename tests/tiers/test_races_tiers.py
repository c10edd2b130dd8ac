"""Two counselors changing one student's tier at the same moment: one move, the others told who moved the
student (tests/support/concurrency.py; SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from school_prevention.extensions import db
from school_prevention.tiers.models import InterventionPlan, ProgressPoint, StudentTier, TierChange
from school_prevention.timezones import district_today
from tests.factories import make_school, make_student, make_user
from tests.support.concurrency import assert_one_effect, fire_each, fire_together


def _people(app):
    with app.app_context():
        school = make_school()
        one, two = make_user("counselor", schools=[school]), make_user("counselor", schools=[school])
        student = make_student(school)
        db.session.commit()
        return one.id, two.id, student.id


def _count(app, statement) -> int:
    with app.app_context():
        return db.session.scalar(statement)


def test_two_counselors_moving_one_student_at_once_make_one_move(race_app):
    one, two, student = _people(race_app)
    answers = fire_together(
        race_app,
        [one] * 4 + [two] * 4,
        "POST",
        f"/students/{student}/tier",
        {"tier": "2", "reason": "Attendance fell below 80%", "version": "0"},
    )
    assert_one_effect(answers, says="already moved this student to tier 2")
    assert _count(race_app, select(func.count()).select_from(TierChange).where(TierChange.student_id == student)) == 1
    with race_app.app_context():
        assert db.session.get(StudentTier, student).version == 1


def test_different_moves_from_the_same_page_make_one_and_name_it(race_app):
    one, two, student = _people(race_app)
    url = f"/students/{student}/tier"
    answers = fire_each(
        race_app,
        [
            (one, "POST", url, {"tier": "2", "reason": "Team", "version": "0"}),
            (two, "POST", url, {"tier": "3", "reason": "Crisis", "version": "0"}),
        ]
        * 3,
    )
    assert_one_effect(answers, says="this student to tier")
    with race_app.app_context():
        moves = db.session.scalars(select(TierChange).where(TierChange.student_id == student)).all()
        assert len(moves) == 1 and db.session.get(StudentTier, student).tier == moves[0].tier


def test_one_data_point_sent_many_times_at_once_is_saved_once(race_app):
    one, two, student = _people(race_app)
    with race_app.app_context():
        today = district_today()
        from school_prevention.auth.models import User
        from school_prevention.students.models import Student
        from school_prevention.tiers.services import create_plan

        plan = create_plan(
            db.session.get(User, one),
            db.session.get(Student, student),
            goal="g",
            measure="m",
            baseline=1,
            target=3,
            started_on=today - timedelta(days=7),
            review_on=today + timedelta(days=7),
            program_ids=[],
            today=today,
        )
        db.session.commit()
        plan_id = plan.id
    answers = fire_together(
        race_app,
        [one, two] * 4,
        "POST",
        f"/interventions/{plan_id}/progress",
        {"measured_on": today.isoformat(), "value": "2"},
    )
    assert_one_effect(answers, says="already recorded")
    assert (
        _count(race_app, select(func.count()).select_from(ProgressPoint).where(ProgressPoint.plan_id == plan_id)) == 1
    )
    assert (
        _count(race_app, select(func.count()).select_from(InterventionPlan).where(InterventionPlan.id == plan_id)) == 1
    )


def test_one_plan_sent_many_times_at_once_is_made_once(race_app):
    one, two, student = _people(race_app)
    with race_app.app_context():
        today = district_today()
    form = {
        "goal": "Attend at least 4 days a week",
        "measure": "Days attended per week",
        "baseline": "2",
        "target": "4",
        "started_on": (today - timedelta(days=7)).isoformat(),
        "review_on": (today + timedelta(days=35)).isoformat(),
    }
    answers = fire_together(race_app, [one] * 4 + [two] * 4, "POST", f"/students/{student}/interventions/new", form)
    assert_one_effect(answers, says="This plan was already made by")
    assert (
        _count(
            race_app, select(func.count()).select_from(InterventionPlan).where(InterventionPlan.student_id == student)
        )
        == 1
    )


def test_closing_one_plan_many_times_at_once_closes_it_once(race_app):
    """Two counselors closing the same plan from the page at once: one closes it, the rest are told it was closed."""
    one, two, student = _people(race_app)
    with race_app.app_context():
        today = district_today()
        from school_prevention.audit.models import AuditEvent
        from school_prevention.auth.models import User
        from school_prevention.students.models import Student
        from school_prevention.tiers.services import create_plan

        plan = create_plan(
            db.session.get(User, one),
            db.session.get(Student, student),
            goal="g",
            measure="m",
            baseline=1,
            target=3,
            started_on=today - timedelta(days=7),
            review_on=today + timedelta(days=7),
            program_ids=[],
            today=today,
        )
        db.session.commit()
        plan_id = plan.id
    answers = fire_together(
        race_app,
        [one, two] * 4,
        "POST",
        f"/interventions/{plan_id}/review",
        {"decision": "met", "note": "Goal reached"},
    )
    assert_one_effect(answers, says="already closed")
    with race_app.app_context():
        assert db.session.get(InterventionPlan, plan_id).status == "met"
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "intervention_plan.reviewed", AuditEvent.object_id == str(plan_id)),
        )
        == 1
    )
