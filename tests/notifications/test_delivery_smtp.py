"""What the relay answers and what the outbox does with it: 4xx waits and tries again, 5xx fails at
once, greylisting delivers exactly once, a lost connection gives the rest of the batch back; and the
admin queues failed emails again, all or one period's, in one confirmed action.

Real SMTP on loopback (tests/support/smtp_sink.py), SQLite and PostgreSQL, each test in its own transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from school_prevention.audit.models import AuditEvent
from school_prevention.extensions import db
from school_prevention.notifications import mail
from school_prevention.notifications.models import Notification
from tests.factories import make_notification, make_user
from tests.support.smtp_sink import Sink

NOW = datetime(2030, 2, 15, 15, 0, tzinfo=UTC)


@pytest.fixture
def sink(app):
    server = Sink().start()
    saved = {key: app.config.get(key) for key in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    yield server
    app.config.update(saved)
    server.stop()


def email(user, **kw) -> Notification:
    kw.setdefault("title", "Check-in with PQ at Fri Feb 15, 10:00 AM")
    return make_notification(user, channel="email", state="pending", kind="checkin.before.60.s0", link="/", **kw)


def deliver(now: datetime) -> int:
    return mail.deliver(now, clock=lambda: now)


def fresh(note: Notification) -> Notification:
    db.session.expire_all()
    return db.session.get(Notification, note.id)


def test_greylisting_is_retried_later_and_delivers_exactly_one(db_session, client, login_as, sink):
    user = make_user("counselor", email="grey@north.example.org")
    note = email(user)
    admin = make_user("admin")
    db_session.commit()
    sink.greylist = True

    assert deliver(NOW) == 0
    row = fresh(note)
    assert (row.state, row.attempts, row.claim_token) == ("pending", 1, None)
    assert row.last_error == "recipient refused: 451 4.7.1 Greylisted, please try again later"
    assert row.next_attempt_at == NOW + timedelta(minutes=1)
    assert sink.greylisted == ["grey@north.example.org"] and sink.count == 0

    login_as(admin)
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "Waiting (1)" in page and "451 4.7.1 Greylisted" in page and "next try Feb 15, 2030 9:01 AM" in page

    assert deliver(NOW + timedelta(seconds=59)) == 0  # not before its next try
    assert fresh(note).attempts == 1
    assert deliver(NOW + timedelta(minutes=1)) == 1
    assert deliver(NOW + timedelta(hours=1)) == 0
    assert sink.message_ids() == [note.message_id or f"<notification-{note.id}@school-prevention.local>"]
    row = fresh(note)
    assert (row.state, row.attempts, row.last_error, row.next_attempt_at) == ("sent", 2, None, None)


@pytest.mark.parametrize(
    "where, reply, permanent",
    [
        ("rcpt", "452 4.2.2 Mailbox full", False),
        ("rcpt", "550 5.1.1 No such user here", True),
        ("rcpt", "554 5.7.1 Relay access denied", True),
        ("data", "451 4.3.0 Local error in processing", False),
        ("data", "554 5.7.1 Message rejected as spam", True),
    ],
)
def test_4xx_waits_and_tries_again_5xx_fails_at_once(db_session, client, login_as, sink, where, reply, permanent):
    user = make_user("counselor", email="box@north.example.org")
    note = email(user)
    admin = make_user("admin")
    db_session.commit()
    if where == "rcpt":
        sink.rcpt_replies["box@north.example.org"] = reply
    else:
        sink.data_reply = reply

    assert deliver(NOW) == 0
    row = fresh(note)
    assert row.attempts == 1 and reply in row.last_error
    login_as(admin)
    if permanent:
        assert (row.state, row.next_attempt_at) == ("failed", None)
        assert deliver(NOW + timedelta(days=1)) == 0 and fresh(note).attempts == 1  # never tried again
        page = client.get("/admin/outbox?state=failed").get_data(as_text=True)
        assert "Failed (1)" in page and reply in page
    else:
        assert (row.state, row.next_attempt_at) == ("pending", NOW + timedelta(minutes=1))
        assert deliver(NOW + timedelta(minutes=1)) == 0
        row = fresh(note)
        assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 2, NOW + timedelta(minutes=3))
        page = client.get("/admin/outbox").get_data(as_text=True)
        assert "Waiting (1)" in page and reply in page and "next try" in page
        sink.rcpt_replies.clear()
        sink.data_reply = None
        assert deliver(NOW + timedelta(minutes=3)) == 1
        assert fresh(note).state == "sent" and sink.count == 1


def test_a_lost_connection_backs_off_that_email_and_gives_the_rest_back_untried(db_session, sink):
    user = make_user("counselor")
    first = email(user)
    closing = email(make_user("counselor", email="closing@north.example.org"))
    rest = [email(user) for _ in range(3)]
    db_session.commit()
    sink.rcpt_replies["closing@north.example.org"] = "421 4.3.2 Service shutting down"

    assert deliver(NOW) == 1
    assert fresh(first).state == "sent"
    row = fresh(closing)
    assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 1, NOW + timedelta(minutes=1))
    assert "421" in row.last_error
    for note in rest:  # not tried: no try counted, no backoff, free for the next sweep
        row = fresh(note)
        assert (row.state, row.attempts, row.claim_token, row.next_attempt_at) == ("pending", 0, None, None)
    assert deliver(NOW) == 3
    assert sink.count == 4


def test_a_recipient_refused_with_a_4xx_inside_smtprecipientsrefused_is_not_permanent():
    import smtplib

    from school_prevention.notifications.smtp import classify, is_connection_lost

    grey = smtplib.SMTPRecipientsRefused({"a@b.example": (451, b"4.7.1 Greylisted")})
    assert classify(grey) == (False, "recipient refused: 451 4.7.1 Greylisted")
    assert classify(smtplib.SMTPRecipientsRefused({"a@b.example": (550, b"5.1.1 Unknown")}))[0] is True
    assert classify(smtplib.SMTPServerDisconnected("Connection unexpectedly closed"))[0] is False
    assert classify(TimeoutError("timed out"))[0] is False
    assert classify(smtplib.SMTPSenderRefused(553, b"5.7.1 Sender rejected", "x@y"))[0] is True
    assert not is_connection_lost(grey) and is_connection_lost(TimeoutError())
    assert is_connection_lost(smtplib.SMTPRecipientsRefused({"a@b.example": (421, b"closing")}))


# -- queue failed emails again in one action ------------------------------------------------------


def _failed(user, at: datetime | None, title: str) -> Notification:
    return make_notification(
        user,
        channel="email",
        state="failed",
        kind="test.failed",
        title=title,
        attempts=8,
        last_error="cannot connect: [Errno 111] Connection refused",
        last_attempt_at=at,
    )


@pytest.fixture
def outage(db_session):
    """Failed emails: three on Nov 10 (district time), one just before midnight Nov 9, two on Nov 12,
    one failed before last_attempt_at existed, and one still waiting."""
    admin = make_user("admin")
    user = make_user("counselor", email="outage@north.example.org")
    nov10 = [_failed(user, datetime(2026, 11, 10, h, 30, tzinfo=UTC), f"Nov 10 #{h}") for h in (6, 15, 23)]
    nov9 = _failed(user, datetime(2026, 11, 10, 5, 59, tzinfo=UTC), "Nov 9 late")
    nov12 = [_failed(user, datetime(2026, 11, 12, 18, 0, tzinfo=UTC), f"Nov 12 #{i}") for i in (1, 2)]
    older = _failed(user, None, "Before the column")
    waiting = email(user)
    db_session.commit()
    return admin, {"nov10": nov10, "nov9": nov9, "nov12": nov12, "older": older, "waiting": waiting}


def _states(notes) -> list[tuple[str, int]]:
    db.session.expire_all()
    return [(db.session.get(Notification, n.id).state, db.session.get(Notification, n.id).attempts) for n in notes]


def test_the_admin_requeues_one_periods_failed_emails_after_confirming_the_count(client, login_as, outage):
    admin, notes = outage
    login_as(admin)
    page = client.get("/admin/outbox?state=failed").get_data(as_text=True)
    assert "Failed (7)" in page and "Queue failed emails again" in page and 'action="/admin/outbox/requeue"' in page

    page = client.get("/admin/outbox/requeue?failed_from=2026-11-10&failed_to=2026-11-10").get_data(as_text=True)
    assert "3 failed emails</strong> (failed from Nov 10, 2026 to Nov 10, 2026) will be queued again" in page
    assert "Queue 3 emails again" in page
    assert _states(notes["nov10"]) == [("failed", 8)] * 3  # asking changes nothing

    form = {"failed_from": "2026-11-10", "failed_to": "2026-11-10", "as_of": datetime.now(UTC).isoformat()}
    response = client.post("/admin/outbox/requeue", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/outbox?state=pending")
    page = client.get("/admin/outbox?state=pending").get_data(as_text=True)
    assert "3 failed emails are queued again (failed from Nov 10, 2026 to Nov 10, 2026)" in page
    assert "Waiting (4)" in page and "Failed (4)" in page
    assert _states(notes["nov10"]) == [("pending", 0)] * 3
    assert _states([notes["nov9"], *notes["nov12"], notes["older"]]) == [("failed", 8)] * 4

    audits = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.requeue")))
    assert len(audits) == 1 and audits[0].actor_id == admin.id
    assert audits[0].detail["count"] == 3 and audits[0].detail["period"] == "failed from Nov 10, 2026 to Nov 10, 2026"
    assert audits[0].student_id is None

    # The same confirmation again (a double click, a second tab): nothing left, told so, nothing changed.
    response = client.post("/admin/outbox/requeue", data=form)
    assert response.status_code == 409 and b"No failed emails are left to queue again" in response.data
    assert (
        db.session.scalar(select(db.func.count()).select_from(AuditEvent).where(AuditEvent.action == "outbox.requeue"))
        == 1
    )


def test_requeue_all_takes_only_what_had_failed_when_the_count_was_shown(client, login_as, outage):
    admin, notes = outage
    login_as(admin)
    page = client.get("/admin/outbox/requeue").get_data(as_text=True)
    assert "7 failed emails</strong> (every failed email)" in page
    shown_at = datetime(2026, 11, 12, 12, 0, tzinfo=UTC)  # before the two of Nov 12 failed
    response = client.post("/admin/outbox/requeue", data={"as_of": shown_at.isoformat()})
    assert response.status_code == 302
    assert _states([*notes["nov10"], notes["nov9"], notes["older"]]) == [("pending", 0)] * 5
    assert _states(notes["nov12"]) == [("failed", 8)] * 2
    assert "5 failed emails are queued again (every failed email)" in client.get("/admin/outbox").get_data(as_text=True)


@pytest.mark.parametrize(
    "query, says",
    [
        ("failed_from=2026-11-12&failed_to=2026-11-10", "This date is before the first one."),
        ("failed_from=2026-13-01", "Not a valid date value."),
    ],
)
def test_a_bad_period_is_refused_with_a_message(client, login_as, outage, query, says):
    admin, notes = outage
    login_as(admin)
    response = client.get(f"/admin/outbox/requeue?{query}")
    assert response.status_code == 400 and says in response.get_data(as_text=True)
    data = dict(pair.split("=") for pair in query.split("&"))
    response = client.post("/admin/outbox/requeue", data={**data, "as_of": datetime.now(UTC).isoformat()})
    assert response.status_code == 400 and says in response.get_data(as_text=True)
    assert "Nothing was changed." in response.get_data(as_text=True)
    response = client.post("/admin/outbox/requeue", data={"as_of": "yesterday"})
    assert response.status_code == 400 and "The confirmation is incomplete." in response.get_data(as_text=True)
    assert _states([*notes["nov10"], *notes["nov12"]]) == [("failed", 8)] * 5


def test_a_period_with_nothing_failed_offers_nothing(client, login_as, outage):
    admin, _ = outage
    login_as(admin)
    page = client.get("/admin/outbox/requeue?failed_from=2026-11-11&failed_to=2026-11-11").get_data(as_text=True)
    assert "No failed emails to queue again (failed from Nov 11, 2026 to Nov 11, 2026)." in page
    assert 'name="as_of"' not in page and "Queue 0" not in page  # no confirming form


def test_two_confirmations_at_once_queue_each_email_once(race_app):
    """A double click on "Queue N emails again": one request queues them, the other is told so."""
    from tests.support.concurrency import assert_one_effect, fire_together

    with race_app.app_context():
        admin = make_user("admin", name="Ada Admin")
        user = make_user("counselor")
        ids = [_failed(user, datetime(2026, 11, 10, 15, 0, tzinfo=UTC), f"Outage {i}").id for i in range(5)]
        db.session.commit()
        admin_id = admin.id
        db.session.remove()
    form = {"failed_from": "2026-11-10", "failed_to": "2026-11-10", "as_of": datetime.now(UTC).isoformat()}
    answers = fire_together(race_app, admin_id, "POST", "/admin/outbox/requeue", form)
    assert_one_effect(answers, says="No failed emails are left to queue again")
    with race_app.app_context():
        rows = db.session.execute(
            select(Notification.state, Notification.attempts).where(Notification.id.in_(ids))
        ).all()
        audits = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "outbox.requeue")).all()
        db.session.remove()
    assert rows == [("pending", 0)] * 5
    assert [a["count"] for a in audits] == [5]
