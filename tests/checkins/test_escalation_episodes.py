"""Principals hear of a student's overdue check-ins once per overdue episode (issue 16, item 4).

The clock is moved by running the jobs `as if at` a time; emails go through a real SMTP server on
loopback, and the test counts what the principal's mailbox receives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from school_prevention.auth.models import User
from school_prevention.checkins.jobs import escalate
from school_prevention.checkins.models import CheckIn, OverdueEpisode
from school_prevention.checkins.services import complete
from school_prevention.extensions import db
from school_prevention.scheduler import run_job
from tests.factories import make_school, make_student, make_user
from tests.support.reminder_helpers import make_checkin, make_plan
from tests.support.smtp_sink import Sink

CHICAGO = ZoneInfo("America/Chicago")
SUBJECT = "Check-ins with PQ overdue for more than 7 days"


def local(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHICAGO).astimezone(UTC)


@pytest.fixture
def sink(app):
    server = Sink().start()
    saved = {key: app.config.get(key) for key in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    yield server
    app.config.update(saved)
    server.stop()


@pytest.fixture
def world(app, db_session):
    north = make_school(name="North Middle")
    w = {
        "north": north,
        "counselor": make_user("counselor", schools=[north]),
        "principal": make_user("principal", schools=[north], email="principal@north.example.org"),
        "student": make_student(north, given_name="Penelope", family_name="Quackenbush"),
    }
    db_session.commit()
    w["ids"] = {name: w[name].id for name in ("counselor", "principal", "student")}
    return w


def weekly(world, first: datetime, weeks: int):
    """A plan's check-ins, one a week from first."""
    plan = make_plan(world["student"], world["counselor"])
    return [
        make_checkin(world["student"], world["counselor"], first + timedelta(weeks=i), plan=plan) for i in range(weeks)
    ]


def principal_mail(sink: Sink) -> list[str]:
    return [m["Subject"] for m in sink.messages() if m["To"] == "principal@north.example.org"]


def sweep(app, now: datetime) -> None:
    """What the scheduler does every few minutes: the reminder sweep, then the email delivery."""
    run_job(app, "checkins.remind", now)
    run_job(app, "notifications.deliver", now)


def done(world, checkin_id: int, at: datetime) -> None:
    counselor = db.session.get(User, world["ids"]["counselor"])
    complete(counselor, db.session.get(CheckIn, checkin_id), outcome="doing_well", note=None, now=at)
    db.session.commit()


def test_one_email_per_overdue_episode_however_many_check_ins_are_cleared(app, world, sink):
    c1, c2, c3, c4 = (c.id for c in weekly(world, local(2030, 2, 4, 10, 0), 4))  # Mondays Feb 4, 11, 18, 25
    db.session.commit()

    sweep(app, local(2030, 2, 11, 9, 59))  # Feb 4's check-in is not yet 7 days overdue
    assert principal_mail(sink) == []
    sweep(app, local(2030, 2, 11, 10, 5))
    assert principal_mail(sink) == [SUBJECT]

    # The counselor clears the oldest; Feb 11's is still open, and a week later it is 7 days overdue
    # itself. Keyed to the oldest overdue check-in, this told the principal again: not any more.
    done(world, c1, local(2030, 2, 12, 9, 0))
    sweep(app, local(2030, 2, 12, 9, 5))
    sweep(app, local(2030, 2, 18, 10, 5))
    sweep(app, local(2030, 2, 18, 10, 10))
    assert principal_mail(sink) == [SUBJECT]

    # Caught up: everything due by now is done. The episode ends, and no one is told of that.
    done(world, c2, local(2030, 2, 18, 11, 0))
    done(world, c3, local(2030, 2, 18, 11, 0))
    sweep(app, local(2030, 2, 18, 11, 5))
    assert principal_mail(sink) == [SUBJECT]
    episodes = db.session.scalars(select(OverdueEpisode)).all()
    assert [(e.started_at, e.ended_at) for e in episodes] == [(local(2030, 2, 11, 10, 5), local(2030, 2, 18, 11, 5))]

    # Feb 25's check-in is left open: a new episode, so a second email a week later (and only one).
    sweep(app, local(2030, 3, 4, 9, 55))
    assert principal_mail(sink) == [SUBJECT]
    sweep(app, local(2030, 3, 4, 10, 5))
    sweep(app, local(2030, 3, 4, 10, 10))
    sweep(app, local(2030, 3, 11, 10, 10))
    assert principal_mail(sink) == [SUBJECT, SUBJECT]
    assert db.session.get(CheckIn, c4).status == "scheduled"


def test_each_student_has_episodes_of_their_own(app, world, db_session):
    other = make_student(world["north"], given_name="Otto", family_name="Ray")
    due = local(2030, 2, 4, 10, 0)
    make_checkin(world["student"], world["counselor"], due)
    make_checkin(other, world["counselor"], due + timedelta(days=1))
    db_session.commit()

    assert escalate(due + timedelta(days=7, minutes=5)) == 2  # the first student: in-app and email
    assert escalate(due + timedelta(days=8, minutes=5)) == 2  # the second, a day later
    assert escalate(due + timedelta(days=9)) == 0
    assert db.session.scalar(select(OverdueEpisode.id).where(OverdueEpisode.ended_at.is_not(None))) is None


def test_no_principal_is_told_about_a_student_who_left(app, world, db_session):
    due = local(2030, 2, 4, 10, 0)
    make_checkin(world["student"], world["counselor"], due)
    world["student"].is_active = False
    db_session.commit()
    assert escalate(due + timedelta(days=8)) == 0  # (the roster import also cancels their check-ins)
