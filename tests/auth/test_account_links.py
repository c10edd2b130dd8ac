"""Invitations and password resets: single-use, expiring links sent through the email outbox."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.auth import tokens
from school_prevention.auth.models import AccountToken, User
from school_prevention.auth.passwords import verify_password
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.notifications import links, mail
from school_prevention.notifications.models import Notification
from tests.factories import PASSWORD, make_school, make_user

NEW_PASSWORD = "orchard lantern pebble 58"


@pytest.fixture
def setup(db_session):
    school = make_school(name="North")
    admin = make_user("admin")
    db_session.commit()
    return {"school": school, "admin": admin}


def emails_to(user: User) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.channel == "email")
            .order_by(Notification.id)
        )
    )


def link_of(note: Notification) -> str:
    """The link the email carries. The outbox keeps it only encrypted (no raw token at rest)."""
    assert note.link and note.link.startswith("enc:") and "/welcome/" not in note.link, note.link
    link = links.open_link(note.link)
    assert re.fullmatch(r"/(welcome|password/reset)/[A-Za-z0-9_-]{40,}", link), link
    return link


def set_password(client, link: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    return client.post(link, data={"new_password": password, "confirm": confirm or password})


def shown_invitation(client, user: User) -> dict:
    """The invitation form's hidden field as the user's page shows it: the latest invitation's id."""
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    return {"last_invitation": re.search(r'name="last_invitation" value="(\d*)"', page).group(1)}


def can_sign_in(app, email: str, password: str) -> bool:
    response = app.test_client().post("/login", data={"email": email, "password": password})
    return response.status_code == 302


def test_admin_invites_a_new_user_who_sets_a_password_once(app, client, login_as, setup):
    login_as(setup["admin"])
    response = client.post(
        "/admin/users/new",
        data={
            "email": "nia@school.org",
            "name": "Nia Okafor",
            "role": "counselor",
            "schools": [setup["school"].id],
            "send_invite": "y",
        },
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "waits in the email outbox" in page  # TestConfig has no mail server
    user = db.session.scalars(select(User).where(User.email == "nia@school.org")).one()
    assert user.password_hash is None and not user.must_change_password
    (note,) = emails_to(user)
    assert note.state == "pending" and note.kind == "account.invite"
    link = link_of(note)
    # The outbox keeps only a hash of the secret in the token table.
    stored = db.session.scalars(select(AccountToken.token_hash).where(AccountToken.user_id == user.id)).one()
    assert link.rsplit("/", 1)[1] not in stored

    anonymous = app.test_client()
    welcome = anonymous.get(link)
    assert welcome.status_code == 200 and "Welcome, Nia Okafor" in welcome.get_data(as_text=True)
    assert welcome.headers["Referrer-Policy"] == "no-referrer"

    weak = set_password(anonymous, link, "password1234")
    assert weak.status_code == 400
    assert db.session.get(User, user.id).password_hash is None  # nothing changed, the link still works

    done = set_password(anonymous, link)
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert can_sign_in(app, "nia@school.org", NEW_PASSWORD)

    again = set_password(app.test_client(), link, "another orchard pebble 99")
    assert again.status_code == 410 and "already been used" in again.get_data(as_text=True)
    assert can_sign_in(app, "nia@school.org", NEW_PASSWORD)
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(user.id))))
    assert {"user.invite_sent", "user.invite_used"} <= actions


def test_invitation_activates_an_account_the_roster_import_created(app, client, login_as, setup):
    staff = make_user(
        "staff", schools=[setup["school"]], is_active=False, sourced_id="sis-teacher-1", email="teacher@school.org"
    )
    staff.password_hash = None
    db.session.commit()
    login_as(setup["admin"])
    assert "has not chosen a password yet" in client.get(f"/admin/users/{staff.id}").get_data(as_text=True)
    assert client.post(f"/admin/users/{staff.id}/invite").status_code == 302
    (note,) = emails_to(staff)
    assert set_password(app.test_client(), link_of(note)).status_code == 302
    assert db.session.get(User, staff.id).is_active
    assert can_sign_in(app, "teacher@school.org", NEW_PASSWORD)


def test_resending_an_invitation_cancels_the_earlier_link(app, client, login_as, setup):
    # A staff account: an admin's invitation to one with case data waits for the district (test_grants).
    user = make_user("staff", schools=[setup["school"]])
    db.session.commit()
    login_as(setup["admin"])
    assert client.post(f"/admin/users/{user.id}/invite", data=shown_invitation(client, user)).status_code == 302
    (first,) = emails_to(user)
    first_link = link_of(first)
    # Re-sent from the page, which now names the first invitation as the latest.
    assert client.post(f"/admin/users/{user.id}/invite", data=shown_invitation(client, user)).status_code == 302
    # The unsent first email is taken out of the outbox: it would only carry a dead link.
    (second,) = emails_to(user)
    assert link_of(second) != first_link
    assert app.test_client().get(first_link).status_code == 410
    assert app.test_client().get(link_of(second)).status_code == 200


def test_a_second_click_on_the_invitation_button_sends_nothing(app, client, login_as, setup):
    # A staff account: an admin's invitation to one with case data waits for the district (test_grants).
    user = make_user("staff", schools=[setup["school"]])
    db.session.commit()
    login_as(setup["admin"])
    page = shown_invitation(client, user)
    assert page == {"last_invitation": ""}
    assert client.post(f"/admin/users/{user.id}/invite", data=page).status_code == 302
    again = client.post(f"/admin/users/{user.id}/invite", data=page)  # the same page, clicked again
    assert again.status_code == 409
    assert f"An invitation was already sent to {user.email} by {setup['admin'].name}" in again.get_data(as_text=True)
    (note,) = emails_to(user)
    assert app.test_client().get(link_of(note)).status_code == 200  # the first link still works
    assert "The last invitation was sent" in client.get(f"/admin/users/{user.id}").get_data(as_text=True)


def test_a_deactivated_account_cannot_be_invited_and_its_links_stop_working(app, client, login_as, setup):
    # A staff account: an admin's invitation to one with case data waits for the district (test_grants).
    user = make_user("staff", schools=[setup["school"]])
    db.session.commit()
    login_as(setup["admin"])
    client.post(f"/admin/users/{user.id}/invite")
    (note,) = emails_to(user)
    assert client.post(f"/admin/users/{user.id}/active", data={"active": "0"}).status_code == 302
    refused = client.post(f"/admin/users/{user.id}/invite")
    assert refused.status_code == 409 and "Reactivate it" in refused.get_data(as_text=True)
    assert len(emails_to(user)) == 1
    gone = set_password(app.test_client(), link_of(note))
    assert gone.status_code == 410 and "deactivated" in gone.get_data(as_text=True)
    assert verify_password(db.session.get(User, user.id).password_hash, PASSWORD)


def test_forgot_password_says_the_same_for_unknown_accounts_and_sends_only_to_real_ones(app, client, setup):
    user = make_user("counselor", schools=[setup["school"]], email="maria@school.org")
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(Notification))
    unknown = client.post("/password/forgot", data={"email": "nobody@school.org"})
    known = client.post("/password/forgot", data={"email": "Maria@School.org "})
    assert unknown.status_code == known.status_code == 200
    text = lambda r, who: r.get_data(as_text=True).replace(who, "EMAIL")  # noqa: E731
    assert text(unknown, "nobody@school.org") == text(known, "Maria@School.org")
    assert db.session.scalar(select(func.count()).select_from(Notification)) == before + 1
    (note,) = emails_to(user)
    assert note.kind == "account.reset"


def test_reset_link_works_once_ends_other_sessions_and_expires(app, client, login_as, setup):
    user = make_user("counselor", schools=[setup["school"]], email="maria@school.org")
    db.session.commit()
    signed_in = login_as(user, app.test_client())
    assert signed_in.get("/").status_code == 200
    app.test_client().post("/password/forgot", data={"email": "maria@school.org"})
    (note,) = emails_to(user)
    link = link_of(note)
    mismatch = set_password(app.test_client(), link, NEW_PASSWORD, "something else entirely 12")
    assert mismatch.status_code == 400 and "not the same" in mismatch.get_data(as_text=True)
    assert set_password(app.test_client(), link).status_code == 302
    assert signed_in.get("/").status_code == 302  # the session from before the reset is over
    assert can_sign_in(app, "maria@school.org", NEW_PASSWORD)
    assert not can_sign_in(app, "maria@school.org", PASSWORD)
    assert set_password(app.test_client(), link, "a different orchard 77").status_code == 410

    # A second link, an hour and a second later, has expired.
    raw = tokens.issue(user, tokens.RESET, actor=None, now=utcnow() - timedelta(hours=1, seconds=1))
    db.session.commit()
    expired = app.test_client().get(f"/password/reset/{raw}")
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert app.test_client().get("/password/reset/not-a-real-token").status_code == 404


def test_reset_requests_are_throttled_per_address(app, client, setup):
    make_user("counselor", schools=[setup["school"]], email="maria@school.org")
    db.session.commit()
    codes = [client.post("/password/forgot", data={"email": "maria@school.org"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.post("/password/forgot", data={"email": ""}).status_code == 400


def test_forgot_password_with_a_nul_byte_is_a_400_and_sends_nothing(app, client, setup):
    user = make_user("counselor", schools=[setup["school"]], email="maria@school.org")
    db.session.commit()
    response = client.post("/password/forgot", data={"email": "maria@school.org\x00"})
    assert response.status_code == 400
    assert "not allowed (a NUL byte" in response.get_data(as_text=True)
    assert emails_to(user) == []


def test_account_emails_carry_the_full_link_and_nothing_else(app, setup):
    user = make_user("counselor", schools=[setup["school"]])
    raw = tokens.issue(user, tokens.INVITE, actor=setup["admin"])
    (note,) = emails_to(user)
    body = mail.build_message(note, user).get_content()
    assert f"{app.config['SP_BASE_URL'].rstrip('/')}/welcome/{raw}" in body


def test_cli_invites_by_email(app, setup):
    user = make_user("counselor", schools=[setup["school"]], email="cli@school.org")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["users", "invite", "cli@school.org"])
    assert result.exit_code == 0 and "waits in the email outbox" in result.output
    assert len(emails_to(user)) == 1
    missing = app.test_cli_runner().invoke(args=["users", "invite", "nobody@school.org"])
    assert missing.exit_code != 0 and "No account" in missing.output


def test_two_requests_that_both_passed_the_check_spend_the_link_once(setup, monkeypatch):
    """The race behind a double click: both requests saw an unused token; only one may set a password."""
    user = make_user("counselor", schools=[setup["school"]])
    raw = tokens.issue(user, tokens.RESET, actor=None)
    seen = tokens.check(raw, tokens.RESET)
    tokens.redeem(raw, tokens.RESET, NEW_PASSWORD)
    monkeypatch.setattr(tokens, "check", lambda *args, **kwargs: seen)  # the second request checked earlier
    with pytest.raises(tokens.TokenProblem, match="already been used"):
        tokens.redeem(raw, tokens.RESET, "a different orchard 77")
    assert verify_password(db.session.get(User, user.id).password_hash, NEW_PASSWORD)


def test_no_raw_token_is_stored_before_or_after_the_email_goes(app, db_session, setup):
    """The outbox keeps the link encrypted until the relay has it, then only its shape."""
    from tests.support.smtp_sink import Sink

    user = make_user("counselor", schools=[setup["school"]])
    raw = tokens.issue(user, tokens.INVITE, actor=setup["admin"])
    db_session.commit()
    stored = " ".join(str(v) for v in db_session.execute(select(Notification.__table__)).all())
    assert raw not in stored
    sink = Sink().start()
    saved = {key: app.config.get(key) for key in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=sink.port)
    try:
        assert mail.deliver(utcnow()) == 1
        (message,) = sink.messages()
    finally:
        app.config.update(saved)
        sink.stop()
    assert f"/welcome/{raw}" in message.get_content()  # the person still gets a working link
    db_session.expire_all()
    (note,) = emails_to(user)
    assert note.state == "sent" and note.link == "/welcome/…"
    everything = " ".join(
        str(v)
        for table in ("notification", "account_token", "audit_event")
        for v in db_session.execute(select(db.metadata.tables[table])).all()
    )
    assert raw not in everything
