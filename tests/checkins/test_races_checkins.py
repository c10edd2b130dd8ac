"""Check-ins, plans, non-school days, the outbox, notifications and account settings under
identical requests at the same moment: exactly one effect, a clear message for the others
(tests/support/concurrency.py). On PostgreSQL each request has its own connection; on SQLite they take
turns for the write lock."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import monotonic

import pytest
from sqlalchemy import event, func, select, text, update

from school_prevention import crypto
from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.checkins.jobs import extend_plans
from school_prevention.checkins.models import CheckIn, CheckInPlan, NonSchoolDay, ReplanRequest
from school_prevention.checkins.replan import run_queued
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from school_prevention.students.models import Student
from school_prevention.timezones import district_zone
from tests.factories import make_checkin_plan, make_notification, make_school, make_student, make_user
from tests.support.concurrency import Answer, assert_one_effect, fire_each, fire_together, signed_in_clients


@dataclass
class World:
    """Ids of one school's people and students, committed in race_app's database."""

    counselor: int
    counselor2: int
    admin: int
    student: int


@pytest.fixture
def world(race_app) -> World:
    with race_app.app_context():
        school = make_school()
        counselor = make_user("counselor", schools=[school], name="Dana Counselor")
        counselor2 = make_user("counselor", schools=[school], name="Eli Counselor")
        admin = make_user("admin", name="Ada Admin")
        student = make_student(school)
        db.session.commit()
        return World(counselor.id, counselor2.id, admin.id, student.id)


def _count(app, statement) -> int:
    with app.app_context():
        return db.session.scalar(statement)


def _audits(app, action: str, object_id=None) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == str(object_id))
    return _count(app, query)


def _plan(app, world: World, *, student_id: int | None = None, counselor_id: int | None = None) -> int:
    """A plan weekly on Wednesdays, begun one to two weeks ago (its past check-ins written out too)."""
    with app.app_context():
        student = db.session.get(Student, student_id or world.student)
        counselor = db.session.get(User, counselor_id or world.counselor)
        start = utcnow().astimezone(district_zone()).date() - timedelta(days=8)
        start -= timedelta(days=(start.weekday() - 2) % 7)
        plan = make_checkin_plan(student, counselor, now=utcnow() - timedelta(days=15), starts_on=start)
        db.session.commit()
        return plan.id


def _checkin(app, plan_id: int, *, past: bool) -> int:
    """The plan's latest check-in already due (past) or its first one ahead."""
    with app.app_context():
        now = utcnow()
        query = select(CheckIn.id).where(CheckIn.plan_id == plan_id)
        query = (
            query.where(CheckIn.due_at < now).order_by(CheckIn.due_at.desc())
            if past
            else query.where(CheckIn.due_at > now + timedelta(days=1)).order_by(CheckIn.due_at)
        )
        return db.session.scalars(query.limit(1)).one()


def _row(app, model, row_id):
    with app.app_context():
        row = db.session.get(model, row_id)
        db.session.expunge(row)
        return row


# --- one check-in -----------------------------------------------------------------------------


def test_completing_one_check_in_at_once_completes_it_once_and_keeps_the_first_note(race_app, world):
    checkin_id = _checkin(race_app, _plan(race_app, world), past=True)
    notes = [f"Talked about lunch, version {i}." for i in range(8)]
    answers = fire_each(
        race_app,
        [
            (
                world.counselor if i % 2 else world.counselor2,
                "POST",
                f"/checkins/{checkin_id}",
                {"outcome": "some_concerns", "note": note},
            )
            for i, note in enumerate(notes)
        ],
    )
    assert_one_effect(answers, says="already completed by")
    checkin = _row(race_app, CheckIn, checkin_id)
    assert (checkin.status, checkin.sequence) == ("completed", 1)
    with race_app.app_context():
        assert crypto.decrypt_for_display(checkin.note_ciphertext) in notes
    assert _audits(race_app, "checkin.completed", checkin_id) == 1


@pytest.mark.parametrize(
    "action, status, audit, says",
    [
        ("missed", "missed", "checkin.missed", "already marked missed by Dana Counselor"),
        ("cancel", "cancelled", "checkin.cancelled", "already cancelled by Dana Counselor"),
    ],
)
def test_closing_one_check_in_at_once_closes_it_once(race_app, world, action, status, audit, says):
    checkin_id = _checkin(race_app, _plan(race_app, world), past=True)
    answers = fire_together(race_app, world.counselor, "POST", f"/checkins/{checkin_id}/{action}")
    assert_one_effect(answers, says=says)
    checkin = _row(race_app, CheckIn, checkin_id)
    assert (checkin.status, checkin.sequence) == (status, 1)
    assert _audits(race_app, audit, checkin_id) == 1


def test_completing_missing_and_cancelling_one_check_in_at_once_does_one_of_them(race_app, world):
    checkin_id = _checkin(race_app, _plan(race_app, world), past=True)
    url = f"/checkins/{checkin_id}"
    requests = [
        (world.counselor, "POST", url, {"outcome": "doing_well", "note": "Fine."}),
        (world.counselor2, "POST", f"{url}/missed", None),
        (world.counselor, "POST", f"{url}/cancel", None),
    ] * 3
    answers = fire_each(race_app, requests)
    assert_one_effect(answers, says="this check-in was already")
    assert _row(race_app, CheckIn, checkin_id).sequence == 1
    closed = sum(_audits(race_app, f"checkin.{a}", checkin_id) for a in ("completed", "missed", "cancelled"))
    assert closed == 1


def test_moving_one_check_in_at_once_moves_it_once(race_app, world):
    checkin_id = _checkin(race_app, _plan(race_app, world), past=False)
    with race_app.app_context():
        when = datetime.combine(utcnow().astimezone(district_zone()).date() + timedelta(days=3), time(13, 30))
    answers = fire_together(
        race_app,
        world.counselor,
        "POST",
        f"/checkins/{checkin_id}/reschedule",
        {"when": when.strftime("%Y-%m-%dT%H:%M")},
    )
    assert_one_effect(answers, says=f"already moved to {when:%a %b %-d, %-I:%M %p} by Dana Counselor")
    checkin = _row(race_app, CheckIn, checkin_id)
    assert (checkin.is_rescheduled, checkin.sequence) == (True, 1)
    assert _audits(race_app, "checkin.rescheduled", checkin_id) == 1


# --- plans ------------------------------------------------------------------------------------


def plan_form(counselor_id: int, **overrides) -> dict:
    data = {
        "counselor_id": str(counselor_id),
        "cadence": "weekly",
        "rrule": "",
        "local_time": "10:00",
        "starts_on": (date.today() + timedelta(days=2)).isoformat(),
        "duration_minutes": "20",
        "until": "",
        "non_school_day": "move",
        "reason": "Support after a move",
        "flag_id": "0",
    }
    data.update(overrides)
    return data


def test_starting_a_plan_at_once_starts_one(race_app, world):
    answers = fire_together(
        race_app, world.counselor, "POST", f"/students/{world.student}/checkin-plans/new", plan_form(world.counselor)
    )
    winner = assert_one_effect(answers, says="already started for this student by Dana Counselor")
    plans = _count(
        race_app, select(func.count()).select_from(CheckInPlan).where(CheckInPlan.student_id == world.student)
    )
    assert plans == 1
    plan_id = int(re.search(r"/checkin-plans/(\d+)", winner.location).group(1))
    # Every refusal points at the plan that was made.
    assert all(f'href="/checkin-plans/{plan_id}"' in a.text for a in answers if a is not winner)
    with race_app.app_context():
        occurrences = db.session.execute(
            select(CheckIn.occurrence, func.count())
            .where(CheckIn.student_id == world.student)
            .group_by(CheckIn.occurrence)
        ).all()
    assert occurrences and all(n == 1 for _, n in occurrences)  # no check-in booked twice
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "checkin_plan.created", AuditEvent.student_id == world.student),
        )
        == 1
    )


def test_the_same_edit_of_a_plan_at_once_is_saved_once(race_app, world):
    plan_id = _plan(race_app, world)
    with race_app.app_context():
        plan = db.session.get(CheckInPlan, plan_id)
        form = plan_form(
            world.counselor, starts_on=plan.starts_on.isoformat(), until=plan.until.isoformat(), local_time="14:30"
        )
    answers = fire_together(race_app, world.counselor, "POST", f"/checkin-plans/{plan_id}/edit", form)
    assert_one_effect(answers, says="already saved with these details by Dana Counselor")
    assert _row(race_app, CheckInPlan, plan_id).local_time == time(14, 30)
    assert _audits(race_app, "checkin_plan.updated", plan_id) == 1
    with race_app.app_context():
        ahead = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan_id, CheckIn.due_at > utcnow())).all()
        assert ahead and {c.due_at.astimezone(district_zone()).time() for c in ahead} == {time(14, 30)}
        # Each upcoming check-in moved once (the edit also writes out the weeks the horizon now reaches: 0).
        assert {c.sequence for c in ahead} == {0, 1} and len({c.occurrence for c in ahead}) == len(ahead)


def test_ending_a_plan_at_once_ends_it_once(race_app, world):
    plan_id = _plan(race_app, world)
    answers = fire_together(
        race_app, [world.counselor] * 4 + [world.counselor2] * 4, "POST", f"/checkin-plans/{plan_id}/end"
    )
    assert_one_effect(answers, says="already ended by")
    assert _row(race_app, CheckInPlan, plan_id).status == "ended"
    assert _audits(race_app, "checkin_plan.ended", plan_id) == 1
    with race_app.app_context():
        ahead = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan_id, CheckIn.due_at > utcnow())).all()
        assert ahead and {(c.status, c.sequence) for c in ahead} == {("cancelled", 1)}


def _while_completed_elsewhere(app, checkin_id: int, user_id: int, url: str, data: dict | None) -> Answer:
    """The request, sent while another connection is completing the check-in (row locked, not yet
    committed: a counselor saving the outcome at that moment); that one commits a second later."""
    client = signed_in_clients(app, user_id, 1)[0]
    with app.app_context():
        other = db.engine.connect()
    transaction = other.begin()
    other.execute(
        update(CheckIn)
        .where(CheckIn.id == checkin_id)
        .values(status="completed", outcome="doing_well", sequence=CheckIn.sequence + 1)
    )
    answer: list[Answer] = []

    def send() -> None:
        with app.app_context():
            response = client.post(url, data=data)
            answer.append(
                Answer(response.status_code, response.headers.get("Location"), response.get_data(as_text=True))
            )

    with app.app_context():
        engine = db.engine
    begun = threading.Event()

    def note_begin(conn, cursor, statement, *args) -> None:
        if statement.startswith("BEGIN IMMEDIATE") and threading.current_thread() is thread:
            begun.set()

    thread = threading.Thread(target=send)
    event.listen(engine, "before_cursor_execute", note_begin)
    thread.start()
    try:
        _wait_until_the_request_waits(engine, begun)
        transaction.commit()
    finally:
        event.remove(engine, "before_cursor_execute", note_begin)
        other.close()
        thread.join(timeout=60)
    assert answer, "the request did not finish"
    return answer[0]


def _wait_until_the_request_waits(engine, begun: threading.Event) -> None:
    """Until the request waits for the other connection's lock: PostgreSQL says so in pg_stat_activity;
    on SQLite the request has sent its BEGIN IMMEDIATE, which waits for the write lock (or takes it
    after the commit: the same order of events)."""
    if engine.dialect.name == "sqlite":
        assert begun.wait(30), "the request never began its transaction"
        return
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = monotonic() + 30
    with engine.connect() as watcher:
        while not watcher.execute(waiting).scalar():
            assert monotonic() < deadline, "the request never waited for the lock"
            watcher.rollback()  # a new snapshot of pg_stat_activity


@pytest.mark.parametrize("change", ["edit", "end"])
def test_a_plan_changed_while_its_check_in_is_being_completed_leaves_that_one_completed(race_app, world, change):
    """Re-placing (an edit) or ending a plan waits for a check-in being completed, and then leaves it
    alone: without the lock it read the check-in as still scheduled and moved or cancelled it over the
    completion."""
    plan_id = _plan(race_app, world)
    with race_app.app_context():
        checkin = db.session.get(CheckIn, _checkin(race_app, plan_id, past=False))
        checkin.due_at = original = utcnow() + timedelta(hours=3)  # off the plan's beat: any edit re-places it
        db.session.commit()
        checkin_id, plan = checkin.id, db.session.get(CheckInPlan, plan_id)
        form = plan_form(
            world.counselor, starts_on=plan.starts_on.isoformat(), until=plan.until.isoformat(), local_time="14:30"
        )
    url = f"/checkin-plans/{plan_id}/edit" if change == "edit" else f"/checkin-plans/{plan_id}/end"
    answer = _while_completed_elsewhere(race_app, checkin_id, world.counselor2, url, form if change == "edit" else None)
    assert answer.status == 302, answer.text[:400]
    checkin = _row(race_app, CheckIn, checkin_id)
    assert (checkin.status, checkin.due_at, checkin.sequence) == ("completed", original, 1)


# --- non-school days ----------------------------------------------------------------------------


def _plan_day(app, plan_id: int, weeks: int) -> date:
    """A day of the plan's (a Wednesday) weeks after its first at least two days ahead: each test
    of non-school days takes a week of its own, as they share one database."""
    with app.app_context():
        first = db.session.scalars(
            select(CheckIn.occurrence)
            .where(
                CheckIn.plan_id == plan_id,
                CheckIn.occurrence > utcnow().astimezone(district_zone()).date() + timedelta(days=2),
            )
            .order_by(CheckIn.occurrence)
        ).first()
        return first + timedelta(weeks=weeks)


def _replan(app) -> int:
    """What the scheduler's checkins.replan job does next: the re-placing the requests queued."""
    with app.app_context():
        try:
            return run_queued(utcnow())
        finally:
            db.session.remove()


def _day_id(app, day: date) -> int:
    return _count(app, select(NonSchoolDay.id).where(NonSchoolDay.day == day))


def test_adding_a_non_school_day_at_once_adds_it_once_and_moves_each_check_in_once(race_app, world):
    plan_id = _plan(race_app, world)
    day = _plan_day(race_app, plan_id, 0)
    answers = fire_together(
        race_app, world.admin, "POST", "/admin/non-school-days", {"day": day.isoformat(), "name": "Teacher work day"}
    )
    assert_one_effect(
        answers, says=f"{day:%a %b %-d, %Y} is already on the list (Teacher work day), added by Ada Admin"
    )
    assert _count(race_app, select(func.count()).select_from(NonSchoolDay).where(NonSchoolDay.day == day)) == 1
    assert _audits(race_app, "non_school_day.added", _day_id(race_app, day)) == 1
    assert _replan(race_app) > 0 and _replan(race_app) == 0  # one re-placing queued, done once
    with race_app.app_context():
        moved = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan_id, CheckIn.occurrence == day)).one()
        assert moved.due_at.astimezone(district_zone()).date() > day and moved.sequence == 1


def test_taking_a_non_school_day_off_at_once_does_it_once(race_app, world):
    plan_id = _plan(race_app, world)
    day = _plan_day(race_app, plan_id, 1)
    admin_client = signed_in_clients(race_app, world.admin, 1)[0]
    with race_app.app_context():
        assert (
            admin_client.post("/admin/non-school-days", data={"day": day.isoformat(), "name": "Storm day"}).status_code
            == 302
        )
    assert _replan(race_app) > 0
    day_id = _day_id(race_app, day)
    answers = fire_together(race_app, world.admin, "POST", f"/admin/non-school-days/{day_id}/delete")
    assert_one_effect(answers, says="already taken off the list by Ada Admin")
    assert _audits(race_app, "non_school_day.removed", day_id) == 1
    assert _replan(race_app) > 0 and _replan(race_app) == 0
    with race_app.app_context():
        back = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan_id, CheckIn.occurrence == day)).one()
        assert (
            back.due_at.astimezone(district_zone()).date() == day and back.sequence == 2
        )  # moved away and back, once each


def test_two_days_added_at_once_and_the_nightly_replan_each_place_every_check_in_once(race_app, world):
    """Re-placements at the same moment (two admins, the nightly job) take turns plan by plan: no
    check-in is written twice, none is lost, both days are respected."""
    with race_app.app_context():
        others = [make_student(db.session.get(Student, world.student).school).id for _ in range(5)]
        db.session.commit()
    plans = [_plan(race_app, world)] + [
        _plan(race_app, world, student_id=other, counselor_id=world.counselor2) for other in others
    ]
    first, second = _plan_day(race_app, plans[0], 2), _plan_day(race_app, plans[0], 3)
    answers = fire_each(
        race_app,
        [
            (world.admin, "POST", "/admin/non-school-days", {"day": d.isoformat(), "name": "Closed"})
            for d in (first, second)
        ],
        jobs=(lambda: extend_plans(utcnow()),) * 2,
    )
    assert sorted(a.status for a in answers) == [302, 302], [a.text[:300] for a in answers]
    _replan(race_app)  # what the two requests queued (one request, or one queued behind a running one)
    _replan(race_app)
    with race_app.app_context():
        for plan_id in plans:
            rows = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan_id)).all()
            days = [c.due_at.astimezone(district_zone()).date() for c in rows if c.status == "scheduled"]
            assert first not in days and second not in days
            assert len({c.occurrence for c in rows}) == len(rows)


# --- outbox, notifications -----------------------------------------------------------------------


def test_retrying_a_failed_email_at_once_queues_it_once(race_app, world):
    with race_app.app_context():
        note_id = make_notification(
            db.session.get(User, world.counselor),
            channel="email",
            state="failed",
            attempts=8,
            last_error="cannot connect",
        ).id
        db.session.commit()
    answers = fire_together(race_app, world.admin, "POST", f"/admin/outbox/{note_id}/retry")
    assert_one_effect(answers, says="already queued again by Ada Admin")
    note = _row(race_app, Notification, note_id)
    assert (note.state, note.attempts) == ("pending", 0)
    assert _audits(race_app, "outbox.retry", note_id) == 1


@pytest.mark.parametrize("path", ["open", "read-all"])
def test_opening_a_notification_at_once_marks_it_read_once(race_app, world, path):
    with race_app.app_context():
        note_id = make_notification(db.session.get(User, world.counselor), link=f"/students/{world.student}").id
        db.session.commit()
    url = f"/notifications/{note_id}/open" if path == "open" else "/notifications/read-all"
    answers = fire_together(race_app, world.counselor, "POST", url)
    # Reading is idempotent: every click lands where it should, nothing fails.
    target = f"/students/{world.student}" if path == "open" else "/notifications"
    assert [(a.status, a.location) for a in answers] == [(302, target)] * len(answers), [a.text[:300] for a in answers]
    with race_app.app_context():
        first_read = db.session.get(Notification, note_id).read_at
    assert first_read is not None
    fire_together(race_app, world.counselor, "POST", url, n=2)
    with race_app.app_context():
        assert db.session.get(Notification, note_id).read_at == first_read  # read once, when first opened


# --- account settings --------------------------------------------------------------------------


def test_creating_a_calendar_link_at_once_makes_one_and_the_link_shown_works(race_app, world):
    answers = fire_together(
        race_app, world.counselor, "POST", "/account/calendar", {"action": "create", "replaces": "none"}
    )
    winner = assert_one_effect(answers, done=(200,), says="already made")
    assert _audits(race_app, "calendar.link_created", world.counselor) == 1
    token = re.search(r"/calendar/([A-Za-z0-9_-]+)\.ics", winner.text).group(1)
    with race_app.app_context():
        assert race_app.test_client().get(f"/calendar/{token}.ics").status_code == 200


def test_revoking_the_calendar_link_at_once_revokes_it_once(race_app, world):
    client = signed_in_clients(race_app, world.counselor, 1)[0]
    with race_app.app_context():
        assert client.post("/account/calendar", data={"action": "create", "replaces": "none"}).status_code == 200
    answers = fire_together(race_app, world.counselor, "POST", "/account/calendar", {"action": "revoke"})
    assert_one_effect(answers, says="already revoked")
    assert _audits(race_app, "calendar.link_revoked", world.counselor) == 1
    assert _row(race_app, User, world.counselor).calendar_token_hash is None


def test_saving_reminder_times_at_once_saves_them_once(race_app, world):
    answers = fire_together(race_app, world.counselor, "POST", "/account/reminders", {"leads": ["2880", "15"]})
    assert_one_effect(answers, says="already saved")
    assert _row(race_app, User, world.counselor).reminder_leads == "2880,15"
    assert _audits(race_app, "account.reminders", world.counselor) == 1


def test_two_schedulers_running_the_replan_job_at_once_do_it_once(race_app, world):
    """The checkins.replan job on two schedulers (or a `jobs run` beside the scheduler) at the same
    moment: one claims the queued request, the other finds nothing to do; each check-in moves once."""
    plans = [_plan(race_app, world)]
    with race_app.app_context():
        for _ in range(3):
            other = make_student(db.session.get(Student, world.student).school).id
            db.session.commit()
            plans.append(_plan(race_app, world, student_id=other, counselor_id=world.counselor2))
    day = _plan_day(race_app, plans[0], 5)
    admin_client = signed_in_clients(race_app, world.admin, 1)[0]
    with race_app.app_context():
        assert (
            admin_client.post("/admin/non-school-days", data={"day": day.isoformat(), "name": "Closed"}).status_code
            == 302
        )
    results: list[int] = []
    fire_each(race_app, [], jobs=(lambda: results.append(run_queued(utcnow())),) * 2)
    assert sorted(results)[0] == 0 and sorted(results)[1] >= len(plans)
    with race_app.app_context():
        # (race_app's database is shared by this module's tests: the newest request is this one)
        request = db.session.scalars(select(ReplanRequest).order_by(ReplanRequest.id.desc()).limit(1)).one()
        active = db.session.scalar(select(func.count()).select_from(CheckInPlan).where(CheckInPlan.status == "active"))
        assert (request.state, request.plans_done) == ("done", active)  # each plan once, not twice
        for plan_id in plans:
            moved = db.session.scalars(
                select(CheckIn).where(CheckIn.plan_id == plan_id, CheckIn.occurrence == day)
            ).one()
            assert moved.due_at.astimezone(district_zone()).date() > day and moved.sequence == 1


def test_two_sweeps_at_once_open_one_overdue_episode_and_tell_the_principal_once(race_app, world):
    """Two schedulers' reminder sweeps at the same moment: one episode for the student (partial
    unique index, INSERT ... ON CONFLICT DO NOTHING), one escalation per principal and channel."""
    from school_prevention.checkins.jobs import escalate
    from school_prevention.checkins.models import OverdueEpisode
    from tests.support.reminder_helpers import make_checkin

    with race_app.app_context():
        student = db.session.get(Student, world.student)
        principal = make_user("principal", schools=[student.school])
        make_checkin(student, db.session.get(User, world.counselor), utcnow() - timedelta(days=9))
        db.session.commit()
        principal_id = principal.id
    fire_each(race_app, [], jobs=(lambda: escalate(utcnow()),) * 2)
    with race_app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(OverdueEpisode).where(OverdueEpisode.student_id == world.student)
            )
            == 1
        )
        told = db.session.scalars(
            select(Notification.channel).where(
                Notification.user_id == principal_id, Notification.kind == "checkin.escalation"
            )
        ).all()
        assert sorted(told) == ["email", "in_app"]
