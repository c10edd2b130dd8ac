"""Urgent referrals never wait: the school's counselors are emailed at once; one nobody opens within
SP_URGENT_REFERRAL_MINUTES of school time reaches the principal by email, exactly once; a school with no
active counselor routes to the district counselor. Emails go through a real SMTP server on loopback, and
the clock is moved by running the job (or `flask jobs run … --now`) at a chosen time."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time
from types import SimpleNamespace
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.checkins.models import NonSchoolDay
from school_prevention.config import ConfigError, _env_weekdays
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from school_prevention.referrals.escalation import SchoolHours
from school_prevention.referrals.jobs import escalate_urgent
from school_prevention.referrals.models import Referral
from school_prevention.scheduler import run_job
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests.factories import make_referral, make_school, make_student, make_user
from tests.support.smtp_sink import Sink

CHICAGO = ZoneInfo("America/Chicago")
OBSERVATION = "Older man waits for her at the bus stop and she left with him."


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in the district (America/Chicago) as UTC."""
    return datetime.combine(day, time(hour, minute), CHICAGO).astimezone(UTC)


FRIDAY, MONDAY, TUESDAY = date(2030, 3, 1), date(2030, 3, 4), date(2030, 3, 5)
WEDNESDAY = date(2030, 3, 6)


@pytest.fixture
def sink():
    server = Sink().start()
    yield server
    server.stop()


@pytest.fixture
def mail(app, sink):
    """The app's MAIL_SERVER pointed at the sink for one test."""
    saved = {key: app.config.get(key) for key in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=sink.port)
    yield sink
    app.config.update(saved)


@pytest.fixture
def world(db_session):
    """Ids of a school's people and a student (jobs end the session: tests reload what they need)."""
    school = make_school(name="Cedar Middle")
    counselors = [make_user("counselor", schools=[school], email=f"counselor{i}@cedar.example") for i in (1, 2)]
    principal = make_user("principal", schools=[school], email="principal@cedar.example", name="Pat Principal")
    staff = make_user("staff", schools=[school], email="teacher@cedar.example")
    student = make_student(school, given_name="Lena", family_name="Ortiz")
    db_session.commit()
    return SimpleNamespace(
        school_id=school.id,
        counselor_ids=[c.id for c in counselors],
        principal_id=principal.id,
        staff_id=staff.id,
        student_id=student.id,
    )


def user(user_id: int) -> User:
    return db.session.get(User, user_id)


class Sent(NamedTuple):
    """What a test needs of a referral after jobs have run (their commit and session end detach objects)."""

    id: int
    routed_to_id: int | None


def urgent(w, sent_at: datetime | None = None, urgency: str = "urgent", student_id: int | None = None) -> Sent:
    """A referral from the school's staff member, sent at sent_at (as if then)."""
    student = db.session.get(Student, student_id or w.student_id)
    referral = make_referral(student, db.session.get(User, w.staff_id), urgency=urgency, observation=OBSERVATION)
    if sent_at is not None:
        referral.submitted_at = sent_at
    db.session.commit()
    return Sent(referral.id, referral.routed_to_id)


def another_student(school_id: int) -> int:
    student = make_student(db.session.get(School, school_id))
    db.session.commit()
    return student.id


def told(referral: Sent, channel: str = "email") -> list[int]:
    return sorted(
        db.session.scalars(
            select(Notification.user_id).where(
                Notification.kind == "referral.urgent.unopened",
                Notification.channel == channel,
                Notification.subject_id == referral.id,
            )
        )
    )


def to(sink: Sink, address: str) -> list:
    return [m for m in sink.messages() if m["To"] == address]


# -- school time (pure rules) -------------------------------------------------------------------------


def test_school_minutes_count_only_school_hours_on_school_days():
    hours = SchoolHours(zone=CHICAGO, start=time(7, 30), end=time(16, 0), weekdays={0, 1, 2, 3, 4})
    assert hours.deadline(local(FRIDAY, 15, 50), 60) == local(MONDAY, 8, 20)  # 10 minutes Friday, 50 Monday
    assert hours.deadline(local(FRIDAY, 22, 0), 60) == local(MONDAY, 8, 30)  # sent at night: from the next morning
    assert hours.deadline(local(TUESDAY, 10, 0), 60) == local(TUESDAY, 11, 0)
    assert hours.minutes_between(local(FRIDAY, 15, 50), local(MONDAY, 8, 20)) == 60
    assert hours.minutes_between(local(FRIDAY, 17, 0), local(MONDAY, 7, 0)) == 0
    holiday = SchoolHours(zone=CHICAGO, start=time(7, 30), end=time(16, 0), weekdays={0, 1, 2, 3, 4}, closed={MONDAY})
    assert holiday.deadline(local(FRIDAY, 15, 50), 60) == local(TUESDAY, 8, 20)
    # Daylight saving time starts on Sunday March 10, 2030: school hours stay on the local clock.
    assert hours.deadline(local(date(2030, 3, 8), 15, 30), 60) == local(date(2030, 3, 11), 8, 0)
    assert local(date(2030, 3, 11), 8, 0).hour == 13  # CDT: UTC-5, not UTC-6


def test_school_days_and_hours_are_settings():
    import os

    assert _env_weekdays("SP_TEST_UNSET_DAYS", "Mon-Fri") == (0, 1, 2, 3, 4)
    assert _env_weekdays("SP_TEST_UNSET_DAYS", "mon,wed, Thursday") == (0, 2, 3)
    assert _env_weekdays("SP_TEST_UNSET_DAYS", "Sun") == (6,)
    for bad in ("Fri-Mon", "Funday", ""):
        os.environ["SP_TEST_BAD_DAYS"] = bad or ","
        try:
            with pytest.raises(ConfigError, match="days of the week"):
                _env_weekdays("SP_TEST_BAD_DAYS", "Mon-Fri")
        finally:
            del os.environ["SP_TEST_BAD_DAYS"]


# -- at once: the school's counselors -----------------------------------------------------------------


def test_an_urgent_referral_emails_the_schools_counselors_at_once_with_initials_and_a_link(app, world, mail):
    referral = urgent(world)
    urgent(world, urgency="soon", student_id=another_student(world.school_id))
    emails = db.session.scalars(select(Notification).where(Notification.channel == "email")).all()
    assert sorted(n.user_id for n in emails) == world.counselor_ids  # the urgent one only
    assert run_job(app, "notifications.deliver", datetime.now(UTC)) == 2
    messages = mail.messages()
    assert sorted(m["To"] for m in messages) == ["counselor1@cedar.example", "counselor2@cedar.example"]
    for message in messages:
        body = message.get_content()
        assert message["Subject"] == "Urgent referral about LO: please open it now"
        assert f"/referrals/{referral.id}" in body
        assert "Lena" not in body + message["Subject"] and "Ortiz" not in body and OBSERVATION not in body


# -- unopened: the principal ---------------------------------------------------------------------------


def test_an_urgent_referral_nobody_opens_reaches_the_principal_by_email_exactly_once(app, world, mail):
    referral = urgent(world, local(TUESDAY, 10, 0))
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 10, 59)) == 0  # 59 school minutes
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 11, 1)) == 2  # email and in the app
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 11, 2)) == 0
    assert run_job(app, "referrals.escalate_urgent", local(WEDNESDAY, 9, 0)) == 0
    assert told(referral) == [world.principal_id] and told(referral, "in_app") == [world.principal_id]
    assert db.session.get(Referral, referral.id).escalated_at == local(TUESDAY, 11, 1)  # marked: not a candidate again
    run_job(app, "notifications.deliver", local(TUESDAY, 11, 2))
    run_job(app, "notifications.deliver", local(TUESDAY, 11, 5))
    [message] = to(mail, "principal@cedar.example")
    assert message["Subject"] == "Urgent referral about LO unopened after 60 school minutes"
    body = message.get_content()
    assert f"/referrals/{referral.id}/waiting" in body and "Ortiz" not in body and OBSERVATION not in body


def test_the_principal_follows_the_link_to_what_waits_and_whom_to_ask_never_what_staff_wrote(
    app, world, client, login_as
):
    referral = urgent(world, local(TUESDAY, 10, 0))
    run_job(app, "referrals.escalate_urgent", local(TUESDAY, 11, 1))
    link = db.session.scalars(select(Notification.link).where(Notification.user_id == world.principal_id)).first()
    assert link == f"/referrals/{referral.id}/waiting"
    login_as(user(world.principal_id))
    page = client.get(link)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Ortiz, Lena" in text and "No counselor has opened it yet" in text
    assert "counselor1@cedar.example" in text and "counselor2@cedar.example" in text  # whom to ask
    assert OBSERVATION not in text and "911" in text
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "referral.waiting.view",
                AuditEvent.object_id == str(referral.id),
                AuditEvent.student_id == world.student_id,
            )
        )
        == 1
    )
    login_as(user(world.counselor_ids[0]))
    client.get(f"/referrals/{referral.id}")  # a counselor opens it
    login_as(user(world.principal_id))
    assert "Opened by" in client.get(link).get_data(as_text=True)
    # Another school's principal: it does not exist for them; a counselor opens the referral itself.
    other = make_user("principal", schools=[make_school()])
    login_as(other)
    assert client.get(link).status_code == 404
    login_as(user(world.counselor_ids[0]))
    assert client.get(link).status_code == 403


def test_an_urgent_referral_a_counselor_opened_is_not_escalated(app, world, client, login_as):
    referral = urgent(world, local(TUESDAY, 10, 0))
    login_as(user(world.counselor_ids[1]))
    assert client.get(f"/referrals/{referral.id}").status_code == 200
    db.session.expire_all()
    opened = db.session.get(Referral, referral.id)
    assert opened.first_opened_by_id == world.counselor_ids[1] and opened.first_opened_at is not None
    first = opened.first_opened_at
    login_as(user(world.counselor_ids[0]))
    client.get(f"/referrals/{referral.id}")
    db.session.expire_all()
    assert db.session.get(Referral, referral.id).first_opened_at == first  # the first opening stays
    assert run_job(app, "referrals.escalate_urgent", local(WEDNESDAY, 12, 0)) == 0
    assert told(referral) == []


def test_the_queue_or_a_routine_referral_does_not_count_and_decided_ones_are_not_escalated(
    app, world, client, login_as
):
    referral = urgent(world, local(TUESDAY, 10, 0))
    routine = urgent(world, local(TUESDAY, 10, 0), urgency="routine", student_id=another_student(world.school_id))
    login_as(user(world.counselor_ids[0]))
    assert client.get("/referrals").status_code == 200  # the queue lists it: not opened
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 11, 30)) == 2
    assert told(referral) == [world.principal_id] and told(routine) == []
    closed = urgent(world, local(TUESDAY, 10, 0), student_id=another_student(world.school_id))
    db.session.get(Referral, closed.id).status = "closed"  # decided (as a bulk load would leave it)
    db.session.commit()
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 12, 0)) == 0


def test_evenings_weekends_and_non_school_days_do_not_count(app, world):
    referral = urgent(world, local(FRIDAY, 15, 30))
    db.session.add(NonSchoolDay(day=MONDAY, name="Staff development day"))
    db.session.commit()
    for moment in (local(FRIDAY, 23, 0), local(date(2030, 3, 2), 12, 0), local(MONDAY, 12, 0), local(TUESDAY, 7, 59)):
        assert run_job(app, "referrals.escalate_urgent", moment) == 0, moment
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 8, 1)) == 2  # 30 minutes Friday, 30 Tuesday
    assert told(referral) == [world.principal_id]


def test_the_minutes_are_a_setting(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "SP_URGENT_REFERRAL_MINUTES", 15)
    referral = urgent(world, local(TUESDAY, 10, 0))
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 10, 14)) == 0
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 10, 16)) == 2
    assert (
        "after 15 school minutes"
        in db.session.scalars(
            select(Notification.title).where(
                Notification.subject_id == referral.id, Notification.kind == "referral.urgent.unopened"
            )
        ).first()
    )


def test_the_job_runs_from_the_command_line_with_a_moved_clock(app, world):
    referral = urgent(world, local(TUESDAY, 10, 0))
    runner = app.test_cli_runner()
    early = runner.invoke(args=["jobs", "run", "referrals.escalate_urgent", "--now", "2030-03-05T16:30:00Z"])
    assert early.exit_code == 0 and early.output.strip() == "referrals.escalate_urgent: 0"  # 10:30 in Chicago
    late = runner.invoke(args=["jobs", "run", "referrals.escalate_urgent", "--now", "2030-03-05T17:05:00Z"])
    assert late.exit_code == 0 and late.output.strip() == "referrals.escalate_urgent: 2"
    assert told(referral) == [world.principal_id]


# -- no active counselor: the district counselor ---------------------------------------------------------


@pytest.fixture
def lonely(db_session, app, monkeypatch):
    """A school whose only counselor's account is closed, and a district counselor named in settings."""
    school, elsewhere = make_school(name="Pine Elementary"), make_school(name="Birch Middle")
    make_user("counselor", schools=[school], is_active=False)
    principal = make_user("principal", schools=[school], email="principal@pine.example")
    district = make_user("counselor", schools=[elsewhere], email="district.counselor@district.example")
    staff = make_user("staff", schools=[school], email="teacher@pine.example")
    student = make_student(school, given_name="Ana", family_name="Reyes")
    monkeypatch.setitem(app.config, "SP_DISTRICT_COUNSELOR_EMAIL", "district.counselor@district.example")
    db_session.commit()
    return SimpleNamespace(
        school_id=school.id,
        elsewhere_id=elsewhere.id,
        principal_id=principal.id,
        district_id=district.id,
        staff_id=staff.id,
        student_id=student.id,
    )


def test_a_school_without_an_active_counselor_routes_to_the_district_counselor(app, lonely, client, login_as, mail):
    referral = urgent(lonely, local(TUESDAY, 10, 0))
    assert referral.routed_to_id == lonely.district_id
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "referral.routed", AuditEvent.object_id == str(referral.id))
        )
        == 1
    )
    run_job(app, "notifications.deliver", local(TUESDAY, 10, 1))
    [message] = to(mail, "district.counselor@district.example")
    assert message["Subject"] == "Urgent referral about AR: please open it now"
    # The district counselor may open exactly the referrals routed to them (and their own schools').
    unrouted = urgent(lonely, urgency="soon", student_id=another_student(lonely.school_id))
    login_as(user(lonely.district_id))
    assert str(referral.id) in client.get("/referrals").get_data(as_text=True)
    assert client.get(f"/referrals/{unrouted.id}").status_code == 200  # routed too: the school has no counselor
    page = client.get(f"/referrals/{referral.id}")
    assert page.status_code == 200 and OBSERVATION in page.get_data(as_text=True)
    assert run_job(app, "referrals.escalate_urgent", local(WEDNESDAY, 12, 0)) == 0  # opened: nobody to tell
    colleague = make_user("counselor", schools=[db.session.get(School, lonely.elsewhere_id)])
    db.session.commit()
    login_as(colleague)  # a counselor of the district counselor's own school: not routed to them
    assert client.get(f"/referrals/{referral.id}").status_code == 404


def test_unopened_and_routed_it_still_reaches_the_principal(app, lonely):
    referral = urgent(lonely, local(TUESDAY, 10, 0))
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 11, 1)) == 2
    assert told(referral) == [lonely.principal_id]


def test_no_principal_tells_the_district_counselor_and_nobody_at_all_is_logged(app, lonely, caplog):
    user(lonely.principal_id).is_active = False
    db.session.commit()
    referral = urgent(lonely, local(TUESDAY, 10, 0))
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 11, 1)) == 2
    assert told(referral) == [lonely.district_id]
    app.config["SP_DISTRICT_COUNSELOR_EMAIL"] = None
    second = urgent(lonely, local(TUESDAY, 10, 0), student_id=another_student(lonely.school_id))
    assert second.routed_to_id is None
    assert "no district counselor is configured" in caplog.text
    assert run_job(app, "referrals.escalate_urgent", local(TUESDAY, 11, 1)) == 0
    assert "has no active principal or district counselor to tell" in caplog.text


# -- two schedulers at the same moment -----------------------------------------------------------------


def test_two_sweeps_at_the_same_moment_tell_the_principal_once(race_app):
    with race_app.app_context():
        school = make_school()
        make_user("counselor", schools=[school])
        principal = make_user("principal", schools=[school])
        referral = make_referral(make_student(school), make_user("staff", schools=[school]), urgency="urgent")
        referral.submitted_at = local(TUESDAY, 10, 0)
        db.session.commit()
        ids = (principal.id, referral.id)
    barrier = threading.Barrier(4)
    counts, errors = [], []

    def sweep():
        try:
            barrier.wait(timeout=30)
            counts.append(run_job(race_app, "referrals.escalate_urgent", local(TUESDAY, 12, 0)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sum(counts) == 2, counts
    with race_app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.user_id == ids[0],
                    Notification.subject_id == ids[1],
                    Notification.kind == "referral.urgent.unopened",
                )
            )
            == 2
        )
        db.session.remove()


def test_the_job_function_takes_the_moment_it_runs_as(app, world):
    referral = urgent(world, local(TUESDAY, 10, 0))
    assert escalate_urgent(local(TUESDAY, 10, 30)) == 0
    assert escalate_urgent(local(TUESDAY, 11, 0)) == 2
    db.session.commit()
    assert told(referral) == [world.principal_id]


def test_the_upgrade_keeps_referrals_and_their_concerns_and_marks_those_already_opened(
    backend, tmp_path_factory, postgres
):
    """Migration 0017 adds the referral's columns without rebuilding the table (on SQLite a rebuild would
    cascade into referral_category) and marks as opened what a counselor's page view shows was opened."""
    import flask_migrate
    from sqlalchemy import text

    from school_prevention import create_app
    from school_prevention.config import TestConfig
    from tests.support.databases import new_database_url

    app = create_app(TestConfig(new_database_url(backend, "upgrade17", tmp_path_factory, postgres)))
    directory = app.extensions["migrate"].directory
    with app.app_context():
        flask_migrate.upgrade(directory=directory, revision="0016")
        now = "2026-11-02 10:00:00"
        statements = [
            "INSERT INTO school (id, sourced_id, name, level, is_active, created_at, updated_at) "
            "VALUES (1, 's1', 'Cedar', 'middle', true, :now, :now)",
            "INSERT INTO user_account (id, email, name, role, must_change_password, is_active, can_export_student_level, "
            "reminder_leads, created_at, updated_at) VALUES (1, 'c@x.example', 'C', 'counselor', false, true, false, "
            "'1440,60', :now, :now), (2, 't@x.example', 'T', 'staff', false, true, false, '1440,60', :now, :now)",
            "INSERT INTO student (id, sourced_id, school_id, given_name, family_name, is_active, created_at, updated_at) "
            "VALUES (1, 'k1', 1, 'Lena', 'Ortiz', true, :now, :now)",
            "INSERT INTO referral (id, student_id, school_id, submitted_by_id, submitted_at, observation_ciphertext, "
            "urgency, status, updated_at) VALUES (1, 1, 1, 2, :now, 'x', 'urgent', 'new', :now), "
            "(2, 1, 1, 2, :now, 'x', 'urgent', 'new', :now), (3, 1, 1, 2, :now, 'x', 'soon', 'closed', :now)",
            "INSERT INTO referral_category (referral_id, category_id) SELECT r.id, c.id FROM referral r, "
            "(SELECT min(id) AS id FROM flag_category) c",
            "INSERT INTO audit_event (at, action, actor_id, object_type, object_id) "
            "VALUES ('2026-11-02 10:20:00', 'referral.view', 1, 'referral', '1')",
        ]
        for statement in statements:
            db.session.execute(text(statement), {"now": now})
        db.session.commit()
        flask_migrate.upgrade(directory=directory, revision="0017")
        assert db.session.scalar(text("SELECT count(*) FROM referral_category")) == 3
        opened = {
            i: (by, at is not None)
            for i, by, at in db.session.execute(
                text("SELECT id, first_opened_by_id, first_opened_at FROM referral ORDER BY id")
            )
        }
        assert opened == {1: (1, True), 2: (None, False), 3: (None, True)}  # viewed; never opened; decided
        db.session.remove()
        db.engine.dispose()
