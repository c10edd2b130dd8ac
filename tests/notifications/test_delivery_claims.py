"""Two senders and a slow relay: a live sweep's claim holds however long it takes; a lost one sends nothing.

Each sender runs in its own thread, app context and database connections, on a committed database
(SQLite and PostgreSQL). Time is the senders' own clocks: the relay (tests/support/smtp_sink.py) moves the
first sender's clock on by four minutes for every message it takes, as a relay taking 0.45 s a
message does over a 2,000-email sweep, and blocks on an event in the middle, so the second sender
runs while the first is inside a hand-over. No sleeps.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from school_prevention import create_app
from school_prevention.config import TestConfig
from school_prevention.extensions import db
from school_prevention.notifications import mail
from school_prevention.notifications.claims import LEASE
from school_prevention.notifications.models import Notification
from tests.factories import make_notification, make_user
from tests.support.apps import migrate_to_head
from tests.support.databases import new_database_url
from tests.support.smtp_sink import Sink

NOW = datetime(2030, 2, 15, 15, 0, tzinfo=UTC)
PER_MESSAGE = timedelta(minutes=4)  # the slow relay, on the first sender's clock


class MovingClock:
    """A sender's clock that the test (through the relay) moves on."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.at

    def advance(self, by: timedelta) -> None:
        with self._lock:
            self.at += by


@pytest.fixture(scope="module")
def sender_app(backend, tmp_path_factory, postgres):
    """An app on its own committed database, so each sender has its own connections."""
    config = TestConfig(new_database_url(backend, "senders", tmp_path_factory, postgres))
    config.MAIL_SERVER = "127.0.0.1"
    app = create_app(config)
    migrate_to_head(app)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def world(sender_app):
    """Five emails due at NOW, a sink, and the first sender's clock; the outbox is emptied afterwards."""
    sink = Sink().start()
    sender_app.config["MAIL_PORT"] = sink.port
    with sender_app.app_context():
        user = make_user("counselor")
        ids = [
            make_notification(
                user,
                channel="email",
                state="pending",
                kind="test.slow",
                title=f"Email {i}",
                send_at=NOW - timedelta(minutes=1),
            ).id
            for i in range(5)
        ]
        db.session.commit()
        db.session.remove()
    yield sender_app, sink, ids
    sink.stop()
    with sender_app.app_context():
        db.session.execute(delete(Notification))
        db.session.commit()
        db.session.remove()


def slow_relay(sink: Sink, clock: MovingClock, hold_at: int) -> tuple[threading.Event, threading.Event]:
    """Every message moves the first sender's clock PER_MESSAGE on; message number hold_at (from 1) waits,
    the first time, until the test releases it. Returns (held, release)."""
    held, release = threading.Event(), threading.Event()

    def before_accept(content: bytes) -> None:
        clock.advance(PER_MESSAGE)
        if sink.count == hold_at - 1 and not held.is_set():
            held.set()
            assert release.wait(60), "the test never released the relay"

    sink.before_accept = before_accept
    return held, release


def in_thread(app, now: datetime, clock) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        try:
            with app.app_context():
                result["sent"] = mail.deliver(now, clock=clock)
                db.session.remove()
        except BaseException as exc:  # reported by the test
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def states(app, ids) -> list[tuple]:
    with app.app_context():
        rows = db.session.execute(
            select(Notification.id, Notification.state, Notification.claim_token, Notification.message_id)
            .where(Notification.id.in_(ids))
            .order_by(Notification.id)
        ).all()
        db.session.remove()
    return rows


def received(sink: Sink) -> dict[str, int]:
    counts: dict[str, int] = {}
    for subject, _ in sink.subjects_and_ids():
        counts[subject] = counts.get(subject, 0) + 1
    return counts


def test_a_second_sender_never_takes_over_a_live_sweep_however_slow_the_relay(world):
    app, sink, ids = world
    clock_a = MovingClock(NOW)
    held, release = slow_relay(sink, clock_a, hold_at=3)
    first, result = in_thread(app, NOW, clock_a)
    try:
        assert held.wait(30), "the first sender never reached its third email"
        # The first sender is inside its third hand-over, 12 minutes into its sweep (its claim was
        # taken at NOW: a claim timed from the sweep's start would have run out by now).
        assert clock_a() == NOW + 3 * PER_MESSAGE and clock_a() > NOW + LEASE
        second_at = NOW + 3 * PER_MESSAGE + timedelta(seconds=1)
        with app.app_context():
            assert mail.deliver(second_at, clock=lambda: second_at) == 0
            db.session.remove()
        assert [row.claim_token is not None for row in states(app, ids)] == [False, False, True, True, True]
    finally:
        release.set()
        first.join(60)
    assert "error" not in result, result.get("error")
    assert result["sent"] == 5
    assert received(sink) == {f"Email {i}": 1 for i in range(5)}
    rows = states(app, ids)
    assert [row.state for row in rows] == ["sent"] * 5
    assert sorted(sink.message_ids()) == sorted(f"<notification-{i}@school-prevention.local>" for i in ids)


def test_a_sender_whose_lease_ran_out_sends_nothing_it_lost(world):
    """The first sender stalls inside one hand-over past its lease (the relay held one message for
    over LEASE: impossible with smtplib's 30 s timeouts, but a stopped process does it): the second
    sender takes over its claim. The first then finishes that one message but sends none of the rest.
    The one message in both senders' hands goes twice, with the same Message-ID."""
    app, sink, ids = world
    clock_a = MovingClock(NOW)
    held, release = slow_relay(sink, clock_a, hold_at=3)
    first, result = in_thread(app, NOW, clock_a)
    try:
        assert held.wait(30)
        later = clock_a() + LEASE + timedelta(minutes=1)
        with app.app_context():
            assert mail.deliver(later, clock=lambda: later) == 3  # the third (handed over), fourth and fifth
            db.session.remove()
        assert received(sink) == {f"Email {i}": 1 for i in range(5)}
    finally:
        release.set()
        first.join(60)
    assert "error" not in result, result.get("error")
    assert received(sink) == {"Email 0": 1, "Email 1": 1, "Email 2": 2, "Email 3": 1, "Email 4": 1}
    copies = [message_id for subject, message_id in sink.subjects_and_ids() if subject == "Email 2"]
    assert len(set(copies)) == 1
    assert [row.state for row in states(app, ids)] == ["sent"] * 5
