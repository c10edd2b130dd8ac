"""Tiers of support, intervention plans (goal-line chart, progress, reviews, fidelity), the student
profile's new sections, the coverage page's tiers and the printed summary: on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.programs.models import Enrollment
from school_prevention.programs.services import record_session
from school_prevention.roster.models import StudentDemographics
from school_prevention.tiers import services
from school_prevention.tiers.models import InterventionPlan, ProgressPoint, StudentTier, TierChange
from school_prevention.tiers.queries import fidelity, reviews_due, tier_coverage
from school_prevention.timezones import district_today
from tests.factories import make_flag, make_guardian, make_program, make_school, make_student, make_user
from tests.support.apps import statements_sent


@dataclass
class World:
    school: object
    other_school: object
    counselor: object
    counselor2: object
    principal: object
    staff: object
    district: object
    outsider: object
    student: object
    other: object


@pytest.fixture
def world(db_session) -> World:
    school, other_school = make_school(name="North Middle"), make_school(name="South High")
    w = World(
        school,
        other_school,
        make_user("counselor", schools=[school], name="Casey Counselor"),
        make_user("counselor", schools=[school], name="Robin Second"),
        make_user("principal", schools=[school]),
        make_user("staff", schools=[school]),
        make_user("district"),
        make_user("counselor", schools=[other_school]),
        make_student(school, given_name="Maya", family_name="Okafor"),
        make_student(school),
    )
    db_session.commit()
    return w


def _plan(
    w: World,
    *,
    started_on=None,
    review_on=None,
    baseline=2.0,
    target=4.0,
    program_ids=(),
    actor=None,
    goal="Attend at least 4 days a week",
    measure="Days attended per week",
):
    today = district_today()
    return services.create_plan(
        actor or w.counselor,
        w.student,
        goal=goal,
        measure=measure,
        baseline=baseline,
        target=target,
        started_on=started_on or today - timedelta(days=14),
        review_on=review_on or today + timedelta(days=28),
        program_ids=list(program_ids),
        today=today,
    )


def _audit(action: str, student_id: int | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if student_id is not None:
        query = query.where(AuditEvent.student_id == student_id)
    return db.session.scalar(query)


# --- tiers ---------------------------------------------------------------------------------------


def test_moving_a_student_keeps_the_history_with_who_and_why(world):
    services.set_tier(world.counselor, world.student, 2, "Attendance under 80% for six weeks", 0)
    services.set_tier(world.counselor2, world.student, 3, "No response to tier 2 after eight weeks", 1)
    history = db.session.scalars(
        select(TierChange).where(TierChange.student_id == world.student.id).order_by(TierChange.version)
    ).all()
    assert [(h.previous_tier, h.tier, h.changed_by_id) for h in history] == [
        (1, 2, world.counselor.id),
        (2, 3, world.counselor2.id),
    ]
    assert history[0].reason == "Attendance under 80% for six weeks"
    assert db.session.get(StudentTier, world.student.id).tier == 3
    assert _audit("student.tier_changed", world.student.id) == 2


def test_a_tier_change_needs_a_reason_and_a_real_move(world):
    with pytest.raises(ServiceError) as no_reason:
        services.set_tier(world.counselor, world.student, 2, "  ", 0)
    assert no_reason.value.field == "reason"
    with pytest.raises(ServiceError) as same:
        services.set_tier(world.counselor, world.student, 1, "Doing well", 0)
    assert "already in tier 1" in same.value.message
    with pytest.raises(ServiceError):
        services.set_tier(world.counselor, world.student, 4, "Off the scale", 0)
    assert db.session.get(StudentTier, world.student.id) is None


def test_a_tier_change_made_from_an_old_page_is_refused_naming_who_moved_the_student(world):
    services.set_tier(world.counselor, world.student, 2, "Team decision", 0)
    with pytest.raises(AlreadyDone) as stale:
        services.set_tier(world.counselor2, world.student, 3, "Saw the old page", 0)
    assert "Casey Counselor" in stale.value.message and "tier 2" in stale.value.message
    assert db.session.get(StudentTier, world.student.id).tier == 2


def test_tier_page_moves_the_student_and_the_student_page_shows_it(client, login_as, world):
    login_as(world.counselor)
    page = client.get(f"/students/{world.student.id}/tier")
    assert page.status_code == 200 and b"Never moved from tier 1" in page.data
    response = client.post(
        f"/students/{world.student.id}/tier",
        data={"tier": "2", "reason": "Three office referrals this month", "version": "0"},
    )
    assert response.status_code == 302
    student_page = client.get(f"/students/{world.student.id}").get_data(as_text=True)
    assert "Tier 2: targeted" in student_page
    assert "Moved from tier 1 to tier 2 by Casey Counselor" in student_page  # the timeline
    history = client.get(f"/students/{world.student.id}/tier").get_data(as_text=True)
    assert "Three office referrals this month" in history


def test_bad_tier_input_says_what_is_wrong_and_changes_nothing(client, login_as, world):
    login_as(world.counselor)
    response = client.post(f"/students/{world.student.id}/tier", data={"tier": "7", "reason": "", "version": "x"})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Say why the student moves" in text or "Not a valid choice" in text
    assert db.session.get(StudentTier, world.student.id) is None


def test_tier_pages_are_for_counselors_of_the_school(client, login_as, world):
    for user, code in ((world.principal, 403), (world.staff, 403), (world.district, 403), (world.outsider, 404)):
        login_as(user)
        assert (
            client.post(
                f"/students/{world.student.id}/tier", data={"tier": "2", "reason": "x", "version": "0"}
            ).status_code
            == code
        ), user.role
    assert db.session.get(StudentTier, world.student.id) is None


# --- intervention plans ----------------------------------------------------------------------------


def test_an_empty_plan_form_lists_every_problem_at_once(client, login_as, world):
    login_as(world.counselor)
    response = client.post(
        f"/students/{world.student.id}/interventions/new",
        data={
            "goal": "",
            "measure": "",
            "baseline": "abc",
            "target": "",
            "started_on": (district_today() + timedelta(days=3)).isoformat(),
            "review_on": "",
        },
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    for message in (
        "Write the goal",
        "Say how progress is measured",
        "Not a valid float value",
        "Enter the target as a number",
        "cannot start in the future",
        "Enter a review date",
    ):
        assert message in text, message
    assert db.session.scalar(select(func.count()).select_from(InterventionPlan)) == 0


def test_making_a_plan_and_recording_progress_draws_the_goal_line(client, login_as, world):
    login_as(world.counselor)
    today = district_today()
    response = client.post(
        f"/students/{world.student.id}/interventions/new",
        data={
            "goal": "Attend at least 4 days a week",
            "measure": "Days attended per week",
            "baseline": "2",
            "target": "4",
            "started_on": (today - timedelta(days=21)).isoformat(),
            "review_on": (today + timedelta(days=21)).isoformat(),
        },
    )
    assert response.status_code == 302
    plan = db.session.scalars(select(InterventionPlan)).one()
    for days_ago, value in ((14, 2.5), (7, 3)):
        assert (
            client.post(
                f"/interventions/{plan.id}/progress",
                data={
                    "measured_on": (today - timedelta(days=days_ago)).isoformat(),
                    "value": str(value),
                    "note": "From the attendance office",
                },
            ).status_code
            == 302
        )
    html = client.get(f"/interventions/{plan.id}").get_data(as_text=True)
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert svg.count('class="progress-point"') == 2
    assert 'class="aim-line"' in svg and "<title" in svg and "<desc" in svg
    assert "latest 3 on" in svg and "at or better than the aim line" in svg
    table = html[html.index('id="progress-table"') :]
    assert "2.5" in table and "From the attendance office" in table and "4 (target)" in table
    page = client.get(f"/students/{world.student.id}").get_data(as_text=True)
    assert "Days attended per week" in page and "(2 points)" in page


def test_progress_points_are_refused_in_the_future_before_the_start_and_twice_a_day(world):
    plan = _plan(world)
    today = district_today()
    for day, field in (
        (today + timedelta(days=1), "measured_on"),
        (plan.started_on - timedelta(days=1), "measured_on"),
    ):
        with pytest.raises(ServiceError) as refused:
            services.record_progress(world.counselor, plan, measured_on=day, value=3, note=None, today=today)
        assert refused.value.field == field
    services.record_progress(world.counselor, plan, measured_on=today, value=3, note=None, today=today)
    with pytest.raises(AlreadyDone):
        services.record_progress(world.counselor2, plan, measured_on=today, value=3, note=None, today=today)
    with pytest.raises(ServiceError) as other_value:
        services.record_progress(world.counselor2, plan, measured_on=today, value=5, note=None, today=today)
    assert "already has a value (3)" in other_value.value.message
    with pytest.raises(ServiceError):
        services.record_progress(
            world.counselor, plan, measured_on=today - timedelta(days=1), value=float("inf"), note=None, today=today
        )
    assert db.session.scalar(select(func.count()).select_from(ProgressPoint)) == 1


def test_bad_progress_input_is_a_400_with_both_messages(client, login_as, world):
    plan = _plan(world)
    db.session.commit()
    login_as(world.counselor)
    response = client.post(
        f"/interventions/{plan.id}/progress",
        data={"measured_on": (district_today() + timedelta(days=2)).isoformat(), "value": "lots"},
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "cannot be in the future" in text and "Not a valid float value" in text
    assert db.session.scalar(select(func.count()).select_from(ProgressPoint)) == 0


def test_a_plan_is_reviewed_to_a_new_date_then_closed_once(client, login_as, world):
    plan = _plan(world)
    db.session.commit()
    login_as(world.counselor)
    later = district_today() + timedelta(days=40)
    assert (
        client.post(f"/interventions/{plan.id}/review", data={"decision": "continue", "next_review_on": ""}).status_code
        == 400
    )
    assert (
        client.post(
            f"/interventions/{plan.id}/review",
            data={"decision": "continue", "next_review_on": later.isoformat(), "note": "Improving; keep going"},
        ).status_code
        == 302
    )
    db.session.refresh(plan)
    assert plan.review_on == later and plan.review_note == "Improving; keep going"
    assert client.post(f"/interventions/{plan.id}/review", data={"decision": "met"}).status_code == 302
    again = client.post(f"/interventions/{plan.id}/review", data={"decision": "met"})
    assert again.status_code == 409 and "already closed" in again.get_data(as_text=True)
    db.session.refresh(plan)
    assert plan.status == "met"
    assert (
        client.post(
            f"/interventions/{plan.id}/progress", data={"measured_on": district_today().isoformat(), "value": "4"}
        ).status_code
        == 400
    )


def test_plans_link_only_programs_the_student_is_in_and_fidelity_counts_their_attendance(world):
    program = make_program(world.school, world.counselor, capacity=10)
    elsewhere = make_program(world.school, world.counselor, capacity=10)
    today = district_today()
    with pytest.raises(ServiceError) as refused:
        _plan(world, program_ids=[elsewhere.id])
    assert refused.value.field == "programs"
    db.session.add(
        Enrollment(
            program_id=program.id,
            student_id=world.student.id,
            status="active",
            started_at=utcnow() - timedelta(days=30),
        )
    )
    db.session.flush()
    plan = _plan(world, program_ids=[program.id])
    roster = {world.student.id}
    # Sessions are held on school days (weekdays); the n-th weekday before today, whatever today is.
    weekdays = [d for d in (today - timedelta(days=k) for k in range(1, 40)) if d.weekday() < 5]
    for nth, status in ((7, "present"), (3, "absent"), (1, "present"), (14, "present")):
        record_session(
            world.counselor,
            program,
            held_on=weekdays[nth],
            minutes=30,
            topic=None,
            attendance={world.student.id: status},
            roster_ids=roster,
        )
    found = fidelity(plan, today)
    # The session 14 weekdays ago was before the plan started (14 days ago): it does not count.
    assert (found.offered, found.attended) == (3, 2)
    assert found.programs[0].program == program.name
    # A program the student joined today: a session they were marked at counts, one without them does not.
    later = make_program(world.school, world.counselor, capacity=10)
    db.session.add(Enrollment(program_id=later.id, student_id=world.student.id, status="active", started_at=utcnow()))
    db.session.flush()
    record_session(
        world.counselor,
        later,
        held_on=weekdays[1],
        minutes=30,
        topic=None,
        attendance={world.student.id: "present"},
        roster_ids={world.student.id},
    )
    record_session(
        world.counselor,
        later,
        held_on=weekdays[2],
        minutes=30,
        topic=None,
        attendance={world.other.id: "present"},
        roster_ids={world.other.id},
    )
    plan.programs.append(later)
    db.session.flush()
    found = fidelity(plan, today)
    assert [(p.offered, p.attended) for p in found.programs] == [
        (3, 2) if p.program_id == program.id else (1, 1) for p in found.programs
    ]
    assert (found.offered, found.attended) == (4, 3)


def test_reviews_due_lists_the_counselors_own_active_plans_due_today_or_before(world):
    today = district_today()
    due = _plan(world, started_on=today - timedelta(days=30), review_on=today)
    _plan(world, goal="Later", review_on=today + timedelta(days=3))
    _plan(
        world,
        goal="Someone else's",
        started_on=today - timedelta(days=30),
        review_on=today - timedelta(days=1),
        actor=world.counselor2,
    )
    closed = _plan(world, goal="Closed", started_on=today - timedelta(days=30), review_on=today - timedelta(days=2))
    services.review_plan(world.counselor, closed, decision="discontinued", next_review_on=None, note=None, today=today)
    assert [p.id for p in db.session.scalars(reviews_due(world.counselor, today))] == [due.id]
    assert db.session.scalars(reviews_due(world.outsider, today)).all() == []
    assert db.session.scalars(reviews_due(world.principal, today)).all() == []


def test_plans_are_read_by_principals_and_hidden_from_everyone_else(client, login_as, world):
    plan = _plan(world)
    db.session.commit()
    login_as(world.principal)
    page = client.get(f"/interventions/{plan.id}")
    assert page.status_code == 200 and b"Record progress" not in page.data
    assert client.post(f"/interventions/{plan.id}/progress", data={"value": "3"}).status_code == 403
    for user, code in ((world.staff, 403), (world.district, 403), (world.outsider, 404)):
        login_as(user)
        assert client.get(f"/interventions/{plan.id}").status_code == code
    assert _audit("intervention_plan.view", world.student.id) == 1


# --- the student profile, coverage and the summary ------------------------------------------------------


def test_student_page_shows_guardians_and_demographics_to_counselors_only(client, login_as, world):
    make_guardian(world.student, given_name="Ada", family_name="Okafor", phone="555-0101")
    db.session.add(
        StudentDemographics(student_id=world.student.id, sex="female", asian=True, white=True, hispanic_or_latino=False)
    )
    db.session.commit()
    login_as(world.counselor)
    text = client.get(f"/students/{world.student.id}").get_data(as_text=True)
    assert "Ada Okafor" in text and "555-0101" in text and "Asian, White" in text
    login_as(world.principal)
    text = client.get(f"/students/{world.student.id}").get_data(as_text=True)
    assert "Ada Okafor" not in text and "Asian" not in text
    assert "Tier 1: universal" in text  # principals read the tier


def test_the_student_page_sends_as_many_statements_with_plans_and_tier_moves_as_without(client, login_as, world):
    login_as(world.counselor)
    few = statements_sent(client, f"/students/{world.other.id}")
    plan = _plan(world)
    services.set_tier(world.counselor, world.student, 2, "Team", 0)
    services.record_progress(
        world.counselor, plan, measured_on=district_today(), value=3, note=None, today=district_today()
    )
    _plan(world, goal="Second goal")
    make_guardian(world.student)
    db.session.commit()
    assert statements_sent(client, f"/students/{world.student.id}") == few


def test_coverage_page_counts_students_by_tier_and_flagged_students_with_a_plan(client, login_as, world):
    flagged = [make_student(world.school) for _ in range(3)]
    for s in flagged:
        make_flag(s, world.counselor)
    services.set_tier(world.counselor, flagged[0], 2, "Team", 0)
    services.set_tier(world.counselor, flagged[1], 3, "Team", 0)
    services.set_tier(world.counselor, world.other, 2, "Team", 0)
    today = district_today()
    services.create_plan(
        world.counselor,
        flagged[0],
        goal="g",
        measure="m",
        baseline=1,
        target=2,
        started_on=today,
        review_on=today + timedelta(days=7),
        program_ids=[],
        today=today,
    )
    db.session.commit()
    figures = tier_coverage(world.school.id)
    # Five active students: Maya, the other and three flagged; tier 2 holds flagged[0] and the other.
    assert figures.students == {1: 2, 2: 2, 3: 1}
    assert figures.flagged == {1: 1, 2: 1, 3: 1}
    assert (figures.flagged_with_plan, figures.flagged_total) == (1, 3)
    login_as(world.principal)
    html = client.get("/reports/coverage").get_data(as_text=True)
    table = html[html.index('id="tier-table"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><th scope=\"row\">Tier (\d)</th><td>(\d+)</td><td>(\d+)</td></tr>", table)
    assert rows == [("1", "2", "1"), ("2", "2", "1"), ("3", "1", "1")]
    assert "1 of 3 flagged" in html


def test_summary_leaves_out_restricted_notes_unless_asked_and_each_print_is_audited(client, login_as, world):
    make_flag(world.student, world.counselor, note="Disclosed an older boyfriend who buys her gifts.")
    _plan(world)
    db.session.commit()
    login_as(world.counselor)
    plain = client.get(f"/students/{world.student.id}/summary")
    assert plain.status_code == 200
    text = plain.get_data(as_text=True)
    assert "Okafor, Maya" in text and "Social isolation" in text and "Attend at least 4 days a week" in text
    assert "older boyfriend" not in text and "Restricted notes are left out" in text
    full = client.get(f"/students/{world.student.id}/summary?include_restricted=y").get_data(as_text=True)
    assert "older boyfriend" in full
    rows = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "student.summary.print").order_by(AuditEvent.id)
    ).all()
    assert [(r.student_id, r.detail["include_restricted"], r.detail["restricted_notes"]) for r in rows] == [
        (world.student.id, False, 0),
        (world.student.id, True, 1),
    ]
    for user, code in ((world.principal, 403), (world.staff, 403), (world.district, 403), (world.outsider, 404)):
        login_as(user)
        assert client.get(f"/students/{world.student.id}/summary?include_restricted=y").status_code == code


# --- the review reminder ---------------------------------------------------------------------------------


def test_review_reminder_tells_the_counselor_once_per_review_date_with_initials_only(world):
    from school_prevention.notifications.models import Notification
    from school_prevention.tiers.jobs import review_reminders

    today = district_today()
    due = _plan(world, started_on=today - timedelta(days=30), review_on=today)
    _plan(world, goal="Not yet", review_on=today + timedelta(days=30))
    now = utcnow()
    assert review_reminders(now) == 1
    assert review_reminders(now) == 0  # a second run adds nothing
    note = db.session.scalars(select(Notification).where(Notification.user_id == world.counselor.id)).one()
    assert note.title == "Intervention plan review due: MO" and note.link == f"/interventions/{due.id}"
    assert "Maya" not in note.title and "Okafor" not in note.title
    # Continued to a later review: that day brings a new reminder.
    services.review_plan(
        world.counselor, due, decision="continue", next_review_on=today + timedelta(days=14), note=None, today=today
    )
    assert review_reminders(now) == 0
    assert review_reminders(now + timedelta(days=14)) == 1
    # A counselor who no longer works at the student's school is not told.
    services.review_plan(
        world.counselor, due, decision="continue", next_review_on=today + timedelta(days=21), note=None, today=today
    )
    world.counselor.schools = []
    db.session.flush()
    assert review_reminders(now + timedelta(days=21)) == 0


def test_caseload_filters_by_tier_and_intervention_plan(world):
    from school_prevention.permissions import visible_students
    from school_prevention.tiers.queries import in_tiers, intervention_filter

    today = district_today()
    third = make_student(world.school)
    services.set_tier(world.counselor, world.student, 2, "Team", 0)
    services.set_tier(world.counselor, third, 3, "Team", 0)
    _plan(world, started_on=today - timedelta(days=10), review_on=today)

    def ids(condition):
        return set(db.session.scalars(visible_students(world.counselor).where(condition).with_only_columns(Student.id)))

    from school_prevention.students.models import Student

    assert ids(in_tiers([1])) == {world.other.id}
    assert ids(in_tiers([2, 3])) == {world.student.id, third.id}
    assert ids(intervention_filter("active", today)) == {world.student.id}
    assert ids(intervention_filter("review_due", today)) == {world.student.id}
    assert ids(intervention_filter("review_due", today - timedelta(days=1))) == set()
    assert ids(intervention_filter("none", today)) == {world.other.id, third.id}


def test_the_reviews_due_partial_lists_the_due_plans_for_the_home_page(app, world):
    from flask import render_template

    today = district_today()
    due = _plan(world, started_on=today - timedelta(days=30), review_on=today)
    with app.test_request_context():
        html = render_template(
            "tiers/_reviews_due.html", reviews=db.session.scalars(reviews_due(world.counselor, today)).all()
        )
    assert "Plan reviews due" in html and "(1)" in html
    assert f'href="/interventions/{due.id}"' in html and "Okafor, Maya: Days attended per week" in html
