"""Email delivery through a real SMTP server on loopback: privacy, retries, claims, and scale.

The in-process tests run on SQLite and PostgreSQL inside the per-test transaction. The tests at
the end start real `flask jobs run` processes against a fresh PostgreSQL database of their own
(separate processes cannot share the test's transaction), which is dropped afterwards.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, insert, select, update

from school_prevention import create_app
from school_prevention.checkins.models import CheckIn
from school_prevention.config import TestConfig
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory
from school_prevention.notifications import mail
from school_prevention.notifications.claims import LEASE, claim_batch
from school_prevention.notifications.mail import BATCH, MAX_ATTEMPTS
from school_prevention.notifications.models import Notification
from school_prevention.scheduler import run_job
from tests.factories import make_flag, make_notification, make_school, make_student, make_user
from tests.support.apps import migrate_to_head
from tests.support.reminder_helpers import make_active_match, make_checkin, make_plan
from tests.support.smtp_sink import Sink, free_port

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2030, 2, 15, 15, 0, tzinfo=UTC)  # later than any real clock in these tests


@pytest.fixture
def sink():
    server = Sink().start()
    yield server
    server.stop()


@pytest.fixture
def mail_to(app):
    """Point the app's MAIL_SERVER / MAIL_PORT at a loopback port for one test."""
    saved = {key: app.config.get(key) for key in ("MAIL_SERVER", "MAIL_PORT")}

    def point(port: int) -> None:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)

    yield point
    app.config.update(saved)


@pytest.fixture
def admin(db_session):
    user = make_user("admin")
    db_session.commit()
    return user


def email(user, **kw) -> Notification:
    kw.setdefault("title", "Check-in with PQ at Fri Feb 15, 10:00 AM")
    kw.setdefault("link", "/checkins/1")
    return make_notification(user, channel="email", state="pending", kind="checkin.before.60.s0", **kw)


def fresh(note: Notification) -> Notification:
    db.session.expire_all()
    return db.session.get(Notification, note.id)


def deliver(now: datetime, **kw) -> int:
    """One sweep whose clock stands still at now (so the times it records are exact), unless given one."""
    kw.setdefault("clock", lambda: now)
    return mail.deliver(now, **kw)


# -- what arrives ---------------------------------------------------------------------------------


def test_delivered_emails_carry_a_link_and_initials_only(app, db_session, sink, mail_to):
    mail_to(sink.port)
    school = make_school(name="North Middle")
    counselor = make_user("counselor", schools=[school], email="counselor@north.example.org")
    make_user("principal", schools=[school], email="principal@north.example.org")
    student = make_student(school, given_name="Penelope", family_name="Quackenbush", identifier="777123")
    make_flag(student, counselor, category_name="Social isolation", note="Sits alone at lunch near the gym.")
    upcoming = make_checkin(student, counselor, NOW + timedelta(minutes=40))
    make_checkin(student, counselor, NOW - timedelta(days=9))  # overdue, and escalated
    match = make_active_match(student, matched_on=date(2030, 1, 10), checked_on=date(2029, 9, 1))
    db_session.commit()
    student_id, upcoming_id, match_id = student.id, upcoming.id, match.id

    assert run_job(app, "checkins.remind", NOW) == 8  # four reminders, in-app and email each
    assert run_job(app, "notifications.deliver", NOW) == 4
    assert run_job(app, "notifications.deliver", NOW) == 0

    messages = sink.messages()
    assert len(messages) == 4
    by_subject = {m["Subject"]: m for m in messages}
    assert sorted(by_subject) == [
        "Check-in with PQ at Fri Feb 15, 9:40 AM",
        "Check-ins with PQ overdue for more than 7 days",
        "Mentoring support contact due for PQ",
        "Overdue check-in with PQ (was due Wed Feb 6, 9:00 AM)",
    ]
    assert by_subject["Check-ins with PQ overdue for more than 7 days"]["To"] == "principal@north.example.org"
    assert (
        f"Open:\r\nhttp://127.0.0.1:5000/checkins/{upcoming_id}"
        in by_subject["Check-in with PQ at Fri Feb 15, 9:40 AM"].get_content()
    )
    assert (
        f"Open:\r\nhttp://127.0.0.1:5000/students/{student_id}"
        in by_subject["Check-ins with PQ overdue for more than 7 days"].get_content()
    )
    assert (
        f"Open:\r\nhttp://127.0.0.1:5000/matches/{match_id}"
        in by_subject["Mentoring support contact due for PQ"].get_content()
    )

    categories = list(db.session.scalars(select(FlagCategory.name)))
    assert "Social isolation" in categories
    forbidden = ["Penelope", "Quackenbush", "777123", "Sits alone", "lunch", *categories]
    for message, raw in zip(messages, sink.raw):
        text = raw.decode("utf-8", "replace") + message.get_content()
        for word in forbidden:
            assert word.lower() not in text.lower(), (word, message["Subject"])

    # Each email carries the Message-ID stored on its row when it was made: distinct, and random
    # (it says nothing about the student or the reminder).
    rows = {n.title: n for n in db.session.scalars(select(Notification).where(Notification.channel == "email"))}
    assert {n.state for n in rows.values()} == {"sent"}
    for subject, message in by_subject.items():
        assert message["Message-ID"] == rows[subject].message_id
        assert re.fullmatch(r"<[0-9a-f]{32}@school-prevention\.local>", message["Message-ID"])
    assert len({m["Message-ID"] for m in messages}) == 4


def test_a_resent_email_keeps_its_message_id(app, db_session, sink, mail_to):
    """A sender that dies after the SMTP send but before recording it sends the email again
    (at-least-once); the copy has the same Message-ID, so the receiving side can tell."""
    mail_to(sink.port)
    note = email(make_user("counselor"), message_id="<stored-on-the-row@school-prevention.local>")
    db_session.commit()
    assert deliver(NOW) == 1
    # Undo the "sent" record, as if the process had been killed before that commit: still claimed,
    # handed over to the relay.
    db.session.execute(
        update(Notification)
        .where(Notification.id == note.id)
        .values(
            state="pending", sent_at=None, claim_token="dead", claimed_at=NOW, leased_until=NOW + LEASE, handed_at=NOW
        )
    )
    db.session.commit()
    assert deliver(NOW + LEASE) == 0  # its lease has not run out yet
    assert deliver(NOW + LEASE + timedelta(seconds=1)) == 1
    assert sink.message_ids() == ["<stored-on-the-row@school-prevention.local>"] * 2
    assert (fresh(note).state, fresh(note).handed_at) == ("sent", None)


# -- no mail server -------------------------------------------------------------------------------


def test_without_a_mail_server_emails_wait_in_the_outbox(app, client, login_as, admin):
    assert app.config["MAIL_SERVER"] is None
    user = make_user("counselor", email="waiting@north.example.org")
    first, second = email(user, title="Check-in with AB at Mon Feb 18, 9:00 AM"), email(user)
    db.session.commit()
    ids, admin_id = [first.id, second.id], admin.id

    result = app.test_cli_runner().invoke(
        args=["jobs", "run", "notifications.deliver", "--now", "2030-02-15T15:00:00Z"]
    )
    assert result.exit_code == 0 and "notifications.deliver: 0" in result.output
    for note_id in ids:
        note = db.session.get(Notification, note_id)
        assert (note.state, note.attempts, note.claim_token, note.last_error) == ("pending", 0, None, None)

    login_as(db.session.get(type(admin), admin_id))
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "No mail server is configured" in page
    assert "Waiting (2)" in page and "Failed (0)" in page and "Sent (0)" in page
    assert "Check-in with AB at Mon Feb 18, 9:00 AM" in page and "waiting@north.example.org" in page


def test_the_outbox_is_for_admins_and_refuses_a_bad_state(client, login_as, admin):
    login_as(make_user("counselor"))
    assert client.get("/admin/outbox").status_code == 403
    login_as(admin)
    response = client.get("/admin/outbox?state=lost")
    assert response.status_code == 400 and b"state must be pending, failed or sent" in response.data
    assert client.get("/admin/outbox?page=0").status_code == 400
    response = client.get("/admin/outbox?page=99999999999999999999")
    assert response.status_code == 400 and b"page must be a whole number from 1 to 100000" in response.data


# -- SMTP down ------------------------------------------------------------------------------------


def test_smtp_down_backs_off_then_one_message_when_it_comes_back(app, client, login_as, admin, mail_to):
    port = free_port()  # nothing listens here yet
    mail_to(port)
    note = email(make_user("counselor"))
    db.session.commit()

    assert deliver(NOW) == 0
    row = fresh(note)
    assert (row.state, row.attempts, row.claim_token) == ("pending", 1, None)
    assert row.next_attempt_at == NOW + timedelta(minutes=1)
    assert row.last_error.startswith("cannot connect:")
    # Not tried again before its time.
    assert deliver(NOW + timedelta(seconds=59)) == 0
    assert fresh(note).attempts == 1
    assert deliver(NOW + timedelta(minutes=1)) == 0
    row = fresh(note)
    assert row.attempts == 2 and row.next_attempt_at == NOW + timedelta(minutes=1) + timedelta(minutes=2)

    login_as(admin)
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "Waiting (1)" in page and "cannot connect:" in page and "next try" in page

    server = Sink(port).start()
    retry_at = row.next_attempt_at
    try:
        assert deliver(retry_at) == 1
        assert deliver(retry_at + timedelta(hours=3)) == 0
    finally:
        server.stop()
    assert server.message_ids() == [f"<notification-{note.id}@school-prevention.local>"]
    row = fresh(note)
    assert (row.state, row.attempts, row.last_error) == ("sent", 3, None)


def test_after_max_attempts_it_is_failed_and_the_admin_can_retry_it(app, client, login_as, admin, mail_to):
    port = free_port()
    mail_to(port)
    note = email(make_user("counselor", email="retry@north.example.org"), title="Overdue check-in with RT")
    db.session.commit()

    moment, waits = NOW, []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver(moment) == 0
        row = fresh(note)
        assert row.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert row.state == "pending"
            waits.append(row.next_attempt_at - moment)
            moment = row.next_attempt_at
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 64)]  # backing off, growing
    row = fresh(note)
    assert (row.state, row.next_attempt_at) == ("failed", None) and row.last_error.startswith("cannot connect:")
    # A failed email is not picked up again by the sender on its own.
    assert deliver(moment + timedelta(days=1)) == 0 and fresh(note).attempts == MAX_ATTEMPTS

    login_as(admin)
    page = client.get("/admin/outbox?state=failed").get_data(as_text=True)
    assert "Failed (1)" in page and "Overdue check-in with RT" in page and "cannot connect:" in page
    assert f'action="/admin/outbox/{note.id}/retry"' in page
    assert client.post(f"/admin/outbox/{note.id}/retry").status_code == 302
    assert (fresh(note).state, fresh(note).attempts) == ("pending", 0)  # a fresh set of tries, not one
    assert deliver(moment + timedelta(days=1)) == 0  # the server is still down: back off, not failed
    assert (fresh(note).state, fresh(note).attempts) == ("pending", 1)
    db.session.execute(update(Notification).where(Notification.id == note.id).values(next_attempt_at=None))
    db.session.commit()
    assert "The email is queued again." in client.get("/admin/outbox?state=failed").get_data(as_text=True)
    assert client.post(f"/admin/outbox/{note.id}/retry").status_code == 409  # not failed any more
    assert client.post("/admin/outbox/999999/retry").status_code == 404

    server = Sink(port).start()
    try:
        assert deliver(moment + timedelta(days=1)) == 1
    finally:
        server.stop()
    assert len(server.raw) == 1 and fresh(note).state == "sent"


def test_a_refused_recipient_or_a_deactivated_user_fails_at_once_and_the_rest_go(db_session, sink, mail_to):
    mail_to(sink.port)
    refused = email(make_user("counselor", email="gone@north.example.org"))
    inactive = email(make_user("counselor", is_active=False))
    fine = email(make_user("counselor", email="here@north.example.org"))
    db_session.commit()
    sink.refuse.add("gone@north.example.org")

    assert deliver(NOW) == 1
    assert [m["To"] for m in sink.messages()] == ["here@north.example.org"]
    assert fresh(fine).state == "sent"
    row = fresh(refused)
    assert row.state == "failed" and row.attempts == 1 and row.last_error.startswith("recipient refused")
    row = fresh(inactive)
    assert row.state == "failed" and row.last_error == "recipient account is deactivated"


# -- claims ---------------------------------------------------------------------------------------


def test_only_a_claim_whose_lease_ran_out_is_taken_over_and_then_sent_once(db_session, sink, mail_to):
    mail_to(sink.port)
    user = make_user("counselor")
    abandoned = email(
        user, claim_token="dead-sender", claimed_at=NOW - timedelta(minutes=20), leased_until=NOW - timedelta(seconds=1)
    )
    # Claimed long ago, but its sender renewed the lease a minute ago: it is alive.
    live = email(
        user,
        claim_token="live-sender",
        claimed_at=NOW - timedelta(minutes=40),
        leased_until=NOW - timedelta(minutes=1) + LEASE,
    )
    # Claimed before leases existed (migration 0019): it holds for LEASE from its claim.
    old_style = email(user, claim_token="old-sender", claimed_at=NOW - timedelta(minutes=1))
    db_session.commit()

    token, ids = claim_batch(NOW, BATCH)
    assert ids == [abandoned.id]
    row = fresh(abandoned)
    assert (row.claim_token, row.claimed_at, row.leased_until) == (token, NOW, NOW + LEASE)
    db.session.execute(
        update(Notification)
        .where(Notification.claim_token == token)
        .values(claim_token="dead-sender", leased_until=NOW - timedelta(seconds=1))
    )
    db.session.commit()

    assert deliver(NOW) == 1
    assert deliver(NOW) == 0
    assert sink.message_ids() == [f"<notification-{abandoned.id}@school-prevention.local>"]
    assert fresh(abandoned).state == "sent"
    assert [(fresh(n).state, fresh(n).claim_token) for n in (live, old_style)] == [
        ("pending", "live-sender"),
        ("pending", "old-sender"),
    ]
    # Neither sender ever finished: once their leases run out, each email is sent, once.
    later = NOW - timedelta(minutes=1) + LEASE + timedelta(seconds=1)
    assert deliver(later) == 2
    assert deliver(later + timedelta(hours=1)) == 0
    assert len(sink.raw) == 3 and {fresh(live).state, fresh(old_style).state} == {"sent"}


def test_a_claim_takes_at_most_its_limit_and_a_second_claim_the_next_ones(db_session):
    user = make_user("counselor")
    notes = [email(user) for _ in range(10)]
    db_session.commit()
    first_token, first = claim_batch(NOW, 3)
    second_token, second = claim_batch(NOW, 3)
    assert first == [n.id for n in notes[:3]] and second == [n.id for n in notes[3:6]]
    claimed = dict(
        db.session.execute(select(Notification.claim_token, func.count()).group_by(Notification.claim_token)).all()
    )
    assert claimed == {first_token: 3, second_token: 3, None: 4}


def test_a_batch_larger_than_one_claim_is_sent_whole(db_session, sink, mail_to):
    mail_to(sink.port)
    user = make_user("counselor")
    for _ in range(BATCH + 5):
        email(user)
    db_session.commit()
    assert deliver(NOW) == BATCH + 5
    assert len(set(sink.message_ids())) == BATCH + 5


def test_the_sender_on_its_own_connections_outside_a_test_transaction(backend, tmp_path_factory, postgres, sink):
    """As in production: the app's pooled session, not the tests' one connection (see mail._sweep)."""
    from tests.support.databases import new_database_url

    config = TestConfig(new_database_url(backend, "sender", tmp_path_factory, postgres))
    config.MAIL_SERVER, config.MAIL_PORT = "127.0.0.1", sink.port
    app = create_app(config)
    migrate_to_head(app)
    with app.app_context():
        user = make_user("counselor", email="own@north.example.org")
        gone = make_user("counselor", is_active=False)
        notes = [email(user) for _ in range(BATCH + 3)] + [email(gone)]
        db.session.commit()
        ids = [n.id for n in notes]
        db.session.commit()  # end the read above, or SQLite would keep showing this snapshot
        assert deliver(NOW) == BATCH + 3
        assert deliver(NOW) == 0
        states = dict(db.session.execute(select(Notification.id, Notification.state)).all())
        db.session.remove()
        # The sweep's commits skip the flush to disk; the pooled connections it hands back must not.
        pooled = [db.engine.connect() for _ in range(db.engine.pool.checkedin())]
        if backend == "postgresql":
            assert len(pooled) >= 2
            assert {c.exec_driver_sql("SHOW synchronous_commit").scalar() for c in pooled} == {"on"}
        else:
            assert len(pooled) >= 1
            assert {c.exec_driver_sql("PRAGMA synchronous").scalar() for c in pooled} == {2}  # FULL
        for connection in pooled:
            connection.close()
        db.engine.dispose()
    assert [states[i] for i in ids] == ["sent"] * (BATCH + 3) + ["failed"]
    assert sorted(sink.message_ids()) == sorted(f"<notification-{i}@school-prevention.local>" for i in ids[:-1])


# -- many processes (PostgreSQL) ------------------------------------------------------------------


@pytest.fixture
def pg_world(postgres, tmp_path):
    """A fresh, migrated PostgreSQL database for processes that cannot share a test transaction."""
    url = postgres.create("mail")
    app = create_app(TestConfig(url))
    migrate_to_head(app)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SP_INSTANCE_PATH": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SP_DATA_KEY": TestConfig().SP_DATA_KEY,
        "MAIL_SERVER": "127.0.0.1",
    }
    env.pop("SP_ENV", None)
    try:
        yield app, env
    finally:
        with app.app_context():
            db.engine.dispose()
        with postgres.admin().connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)'))
        postgres.created.remove(sa.engine.make_url(url).database)


def jobs_run(env, name, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "jobs", "run", name, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc, timeout=600) -> str:
    output, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, output
    return output


def outbox_states(app) -> dict[str, int]:
    with app.app_context():
        counts = dict(
            db.session.execute(
                select(Notification.state, func.count())
                .where(Notification.channel == "email")
                .group_by(Notification.state)
            ).all()
        )
        db.session.remove()
    return counts


@pytest.mark.slow  # load: 10,000 emails by two processes (measured 326 s); claim races stay in test_delivery_claims
def test_two_senders_deliver_ten_thousand_reminders_exactly_once(pg_world, sink, capsys):
    app, env = pg_world
    env["MAIL_PORT"] = str(sink.port)
    total = 10_000
    with app.app_context():
        school = make_school()
        counselor = make_user("counselor", schools=[school], email="busy@north.example.org")
        students = [make_student(school) for _ in range(50)]
        plan = make_plan(students[0], counselor)
        db.session.commit()
        due = datetime.now(UTC) + timedelta(minutes=30)  # inside the 1 h lead
        db.session.execute(
            insert(CheckIn),
            [
                {
                    "plan_id": plan.id,
                    "student_id": students[i % 50].id,
                    "school_id": school.id,
                    "counselor_id": counselor.id,
                    "occurrence": date(2000, 1, 1) + timedelta(days=i),
                    "due_at": due,
                    "duration_minutes": 20,
                    "status": "scheduled",
                    "is_rescheduled": False,
                    "sequence": 0,
                    "updated_at": due,
                }
                for i in range(total)
            ],
        )
        db.session.commit()
        db.session.remove()

    started = time.monotonic()
    assert f"checkins.remind: {2 * total}" in finish(jobs_run(env, "checkins.remind"))
    remind_seconds = time.monotonic() - started
    assert outbox_states(app) == {"pending": total}

    started, children_cpu, own_cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
    rounds, outputs = 0, []
    while outbox_states(app).get("pending") and rounds < 5:
        rounds += 1
        senders = [jobs_run(env, "notifications.deliver") for _ in range(2)]
        outputs += [finish(proc) for proc in senders]
    deliver_seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    senders_cpu = after.ru_utime + after.ru_stime - children_cpu.ru_utime - children_cpu.ru_stime
    sink_cpu = time.process_time() - own_cpu

    ids = sink.message_ids()
    per_sender = [int(out.strip().rsplit(": ", 1)[1]) for out in outputs]
    with capsys.disabled():
        print(
            f"\n[10k] remind: {remind_seconds:.1f} s; deliver with 2 processes: {deliver_seconds:.1f} s in "
            f"{rounds} round(s), sent per process {per_sender} (CPU: senders {senders_cpu:.1f} s, "
            f"SMTP sink and test {sink_cpu:.1f} s); received {len(ids)}, "
            f"distinct Message-IDs {len(set(ids))}; outbox {outbox_states(app)}"
        )
    assert rounds == 1 and sum(per_sender) == total
    assert all(count > 0 for count in per_sender)  # both really took part
    assert len(ids) == total and len(set(ids)) == total
    assert outbox_states(app) == {"sent": total}


@pytest.mark.slow  # 1,500 emails and a kill (measured 204 s on a busy 2-core machine)
def test_a_sender_killed_mid_sweep_loses_nothing(pg_world, sink, capsys):
    app, env = pg_world
    env["MAIL_PORT"] = str(sink.port)
    total = 1_500
    with app.app_context():
        user = make_user("counselor", email="kill@north.example.org")
        db.session.commit()
        created = datetime.now(UTC) - timedelta(minutes=1)
        db.session.execute(
            insert(Notification),
            [
                {
                    "user_id": user.id,
                    "kind": "test.kill",
                    "channel": "email",
                    "subject_type": "test",
                    "subject_id": i,
                    "title": f"Test email {i}",
                    "link": "/",
                    "created_at": created,
                    "send_at": created,
                    "state": "pending",
                    "attempts": 0,
                }
                for i in range(total)
            ],
        )
        db.session.commit()
        db.session.remove()

    victim = jobs_run(env, "notifications.deliver")
    deadline = time.monotonic() + 60
    while sink.count < 500 and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    assert victim.returncode == -signal.SIGKILL
    time.sleep(0.2)  # let the sink finish a message whose data had already arrived
    received_at_kill = sink.count
    with app.app_context():
        marked_sent = db.session.scalar(
            select(func.count()).select_from(Notification).where(Notification.state == "sent")
        )
        stranded = db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.state == "pending", Notification.claim_token.is_not(None))
        )
        db.session.remove()

    # Restarted at once: everything but the dead sender's claimed batch goes; that batch waits.
    finish(jobs_run(env, "notifications.deliver"))
    assert outbox_states(app) == {"sent": total - stranded, "pending": stranded}
    # After the claim timeout the stranded batch is sent too.
    later = (datetime.now(UTC) + LEASE + timedelta(minutes=1)).isoformat()
    assert f"notifications.deliver: {stranded}" in finish(jobs_run(env, "notifications.deliver", "--now", later))

    ids = sink.message_ids()
    duplicates = len(ids) - len(set(ids))
    with capsys.disabled():
        print(
            f"\n[kill] killed after {received_at_kill} received, {marked_sent} marked sent, {stranded} left claimed; "
            f"in the end received {len(ids)}, distinct Message-IDs {len(set(ids))}, duplicates {duplicates}; "
            f"outbox {outbox_states(app)}"
        )
    assert stranded <= BATCH  # one batch at most: the one it was sending (none if killed between batches)
    assert received_at_kill - marked_sent in (0, 1)  # the one email between SMTP send and the "sent" commit
    assert len(set(ids)) == total
    assert duplicates == received_at_kill - marked_sent
    assert outbox_states(app) == {"sent": total}
