"""kill -9 at random points of a real sender process: nothing is lost, and a copy only ever comes
from a kill between the relay's 250 and the "sent" commit, with the same Message-ID.

Each round starts `flask jobs run notifications.deliver --now T` against the SMTP sink and kills it
(SIGKILL) at a random moment (see kill_at_random_points), so kills land while it starts or claims,
between emails, before DATA, during it, after the relay's 250 and after the "sent" commit. Every round runs LEASE later than the one before, as a
restarted scheduler would find the dead sender's claim. A last run, not killed, sends the rest.

The default run kills a few times per database (SP_KILLS, 6); the `slow` test kills 60 times:
`bin/test -m slow tests/notifications/test_delivery_kills.py -s` prints the figures.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from school_prevention import create_app
from school_prevention.config import TestConfig
from school_prevention.extensions import db
from school_prevention.notifications.claims import LEASE
from school_prevention.notifications.models import Notification
from tests.factories import make_user
from tests.support.apps import migrate_to_head
from tests.support.databases import new_database_url
from tests.support.smtp_sink import Sink

ROOT = Path(__file__).resolve().parents[2]
BASE = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Figures:
    kills: int = 0
    kills_in_window: int = 0  # an email was handed over (marked before DATA) and not yet marked sent
    kills_after_acceptance: int = 0  # ... and the relay had already accepted it
    received: int = 0
    lost: int = 0
    twice: int = 0
    twice_same_id: int = 0
    extra_copies: int = 0

    def line(self, backend: str) -> str:
        return (
            f"[kill -9, {backend}] {self.kills} kills: {self.kills_in_window} inside the hand-over window, "
            f"{self.kills_after_acceptance} of them after the relay's 250; received {self.received}, "
            f"lost {self.lost}, delivered twice {self.twice} (copies {self.extra_copies}), twice with the same "
            f"Message-ID {self.twice_same_id}"
        )


@pytest.fixture
def killing_world(backend, tmp_path_factory, postgres, tmp_path):
    url = new_database_url(backend, "kills", tmp_path_factory, postgres)
    app = create_app(TestConfig(url))
    migrate_to_head(app)
    sink = Sink().start()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SP_INSTANCE_PATH": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SP_DATA_KEY": TestConfig().SP_DATA_KEY,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(sink.port),
    }
    env.pop("SP_ENV", None)
    yield app, env, sink
    sink.stop()
    with app.app_context():
        db.engine.dispose()


def sender(env, now: datetime) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "app",
            "jobs",
            "run",
            "notifications.deliver",
            "--now",
            now.isoformat(),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def handed_over(app) -> list[str]:
    """Titles of the emails a dead sender left handed over (pending, marked before DATA)."""
    with app.app_context():
        titles = list(
            db.session.scalars(
                select(Notification.title).where(Notification.state == "pending", Notification.handed_at.is_not(None))
            )
        )
        db.session.remove()
    return titles


def kill_at_random_points(backend, app, env, sink, kills: int, total: int, seed: int) -> Figures:
    rng = random.Random(seed)
    with app.app_context():
        user = make_user("counselor", email="kills@north.example.org")
        db.session.commit()
        db.session.execute(
            insert(Notification),
            [
                {
                    "user_id": user.id,
                    "kind": "test.kill",
                    "channel": "email",
                    "subject_type": "test",
                    "subject_id": i,
                    "title": f"Kill test {i}",
                    "link": "/",
                    "created_at": BASE,
                    "send_at": BASE - timedelta(minutes=1),
                    "state": "pending",
                    "attempts": 0,
                    "message_id": f"<kill-{i}@school-prevention.local>",
                }
                for i in range(total)
            ],
        )
        db.session.commit()
        db.session.remove()

    figures = Figures()
    now = BASE
    for _ in range(kills):
        before = sink.count
        copies_before = Counter(subject for subject, _ in sink.subjects_and_ids())
        proc = sender(env, now)
        # A random moment, spread evenly over the sender's work: one kill in eight at 0-2.5 s from its
        # start (starting up, claiming); the others 0-100 ms after 1-11 messages of this round
        # reached the sink (many emails' cycles, so every phase of one: before DATA, during it,
        # after the 250, after the "sent" commit).
        if rng.random() < 1 / 8:
            extra = rng.uniform(0, 2.5)
        else:
            target, extra = before + rng.randint(1, 11), rng.uniform(0, 0.1)
            while proc.poll() is None and not sink.wait_for(target, 0.05):
                pass
        until = time.perf_counter() + extra
        while time.perf_counter() < until and proc.poll() is None:  # a spin, not a sleep: the kill's moment
            pass
        if proc.poll() is not None:
            break  # it finished everything before the kill
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        figures.kills += 1
        left = handed_over(app)
        if left:
            figures.kills_in_window += 1
            # Did the relay take the handed-over email in this round? (An earlier round may have
            # delivered it already: only a copy received now counts.)
            copies_now = Counter(subject for subject, _ in sink.subjects_and_ids())
            figures.kills_after_acceptance += sum(copies_now[title] > copies_before[title] for title in left)
        now += LEASE + timedelta(minutes=1)  # the dead sender's lease has run out by then

    output, _ = sender(env, now).communicate(timeout=600)
    assert "notifications.deliver:" in output, output

    received = sink.subjects_and_ids()
    copies = Counter(subject for subject, _ in received)
    ids_of: dict[str, set[str]] = {}
    for subject, message_id in received:
        ids_of.setdefault(subject, set()).add(message_id)
    figures.received = len(received)
    figures.lost = sum(1 for i in range(total) if f"Kill test {i}" not in copies)
    figures.twice = sum(1 for n in copies.values() if n > 1)
    figures.twice_same_id = sum(1 for subject, n in copies.items() if n > 1 and len(ids_of[subject]) == 1)
    figures.extra_copies = sum(n - 1 for n in copies.values())
    with app.app_context():
        states = dict(db.session.execute(select(Notification.state, func.count()).group_by(Notification.state)).all())
        db.session.remove()
    assert states == {"sent": total}, states
    return figures


def check(figures: Figures, kills: int) -> None:
    assert figures.kills >= kills - 1, figures  # each round but perhaps the last is killed mid-sweep
    assert figures.lost == 0
    assert figures.twice == figures.twice_same_id  # every copy carries the first one's Message-ID
    # A copy only ever comes from a kill after the relay's 250 and before the "sent" commit: one each.
    assert figures.extra_copies == figures.kills_after_acceptance <= figures.kills_in_window <= figures.kills


@pytest.mark.slow  # six kills and 900 emails a backend: minutes of process starts (measured 113-185 s)
def test_killed_senders_lose_nothing_and_a_copy_keeps_its_message_id(backend, killing_world, capsys):
    app, env, sink = killing_world
    kills = int(os.environ.get("SP_KILLS", "6"))
    figures = kill_at_random_points(backend, app, env, sink, kills=kills, total=150 * kills, seed=16)
    with capsys.disabled():
        print("\n" + figures.line(backend))
    check(figures, kills)


@pytest.mark.slow
def test_sixty_random_kills(backend, killing_world, capsys):
    app, env, sink = killing_world
    figures = kill_at_random_points(backend, app, env, sink, kills=60, total=9000, seed=1616)
    with capsys.disabled():
        print("\n" + figures.line(backend))
    check(figures, 60)
