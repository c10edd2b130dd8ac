"""Sign-in, sessions that really end, throttling, passwords and CSRF, as a user meets them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User, UserSession
from school_prevention.extensions import db
from tests.factories import PASSWORD, make_school, make_student, make_user
from tests.support.signin_helpers import complete_second_factor, enrol


@pytest.fixture
def counselor(db_session):
    school = make_school()
    user = make_user("counselor", schools=[school], email="casey@school.org", name="Casey Jones")
    enrol(user)  # a counselor needs a second factor (test_twofactor); these tests are about the password
    make_student(school)
    db_session.commit()
    return user


def sign_in(client, email, password=PASSWORD, **kw):
    """The password step, then the authenticator code when asked for one."""
    response = client.post("/login", data={"email": email, "password": password}, **kw)
    user = db.session.scalars(select(User).where(User.email == email.strip().lower())).first()
    return complete_second_factor(client, response, user) if user is not None else response


def actions(user=None):
    query = select(AuditEvent.action).order_by(AuditEvent.id)
    if user is not None:
        query = query.where(AuditEvent.actor_id == user.id)
    return list(db.session.scalars(query))


def test_sign_in_lands_on_home_and_is_audited(client, counselor):
    response = sign_in(client, "  Casey@School.org ")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and b"Your schools" in home.data
    assert actions(counselor) == ["auth.signin", "auth.second_factor_used"]


def test_wrong_password_says_so_changes_nothing_and_is_audited(client, counselor):
    response = sign_in(client, counselor.email, "not-the-password-at-all")
    assert response.status_code == 401
    assert b"do not match an active account" in response.data
    assert client.get("/").status_code == 302
    assert actions(counselor) == ["auth.signin_failed"]


def test_empty_form_gets_field_messages(client, db_session):
    response = client.post("/login", data={})
    assert response.status_code == 400
    assert b"Enter your email address." in response.data and b"Enter your password." in response.data


def test_a_new_session_on_every_sign_in(client, counselor):
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        sess["sid"] = "attacker-chosen"
    sign_in(client, counselor.email)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["sid"] != "attacker-chosen"
    first = sess["sid"]
    client.post("/logout")
    sign_in(client, counselor.email)
    with client.session_transaction() as sess:
        assert sess["sid"] != first


def test_cookie_replayed_after_sign_out_is_refused(app, client, counselor):
    sign_in(client, counselor.email)
    stolen = client.get_cookie("sp_session").value
    assert client.get("/students").status_code == 200
    response = client.post("/logout")
    assert response.headers["Location"] == "/login"
    replay = app.test_client()
    replay.set_cookie("sp_session", stolen)
    response = replay.get("/students")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert actions(counselor)[-1] == "auth.signout"


def _session_row(user):
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).one()


def test_idle_timeout_ends_the_session_with_a_message(client, counselor):
    sign_in(client, counselor.email)
    row = _session_row(counselor)
    row.last_seen_at -= timedelta(minutes=31)
    db.session.commit()
    response = client.get("/students")
    assert response.headers["Location"].startswith("/login")
    assert b"30 minutes without activity" in client.get("/login").data
    db.session.refresh(row)
    assert row.ended_reason == "idle_timeout"
    # Activity within the limit keeps a session alive.
    sign_in(client, counselor.email)
    assert client.get("/students").status_code == 200


def test_absolute_timeout_after_twelve_hours_even_when_active(client, counselor):
    sign_in(client, counselor.email)
    row = _session_row(counselor)
    row.created_at -= timedelta(hours=12, minutes=1)
    db.session.commit()
    assert client.get("/").headers["Location"].startswith("/login")
    db.session.refresh(row)
    assert row.ended_reason == "absolute_timeout"


def test_eleventh_rapid_wrong_password_is_throttled_even_if_right(client, counselor):
    for _ in range(10):
        assert sign_in(client, counselor.email, "wrong-password-xyz").status_code == 401
    response = sign_in(client, counselor.email)  # the right password, but too late
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.data
    assert int(response.headers["Retry-After"]) <= 60
    assert client.get("/").status_code == 302  # not signed in


def test_throttling_is_per_address_across_accounts(client, db_session):
    school = make_school()
    users = [make_user("staff", schools=[school]) for _ in range(11)]
    db_session.commit()
    for user in users[:10]:
        assert sign_in(client, user.email, "wrong-password-xyz").status_code == 401
    assert sign_in(client, users[10].email).status_code == 429
    # Another address is not affected.
    other = sign_in(client, users[10].email, environ_overrides={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 302


def test_successful_sign_ins_are_not_throttled(client, counselor):
    for _ in range(12):
        assert sign_in(client, counselor.email).status_code == 302
        client.post("/logout")


def test_deactivated_account_cannot_sign_in(client, counselor):
    counselor.is_active = False
    db.session.commit()
    response = sign_in(client, counselor.email)
    assert response.status_code == 401


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_no_open_redirect_after_sign_in(client, counselor, next_url):
    response = sign_in(client, counselor.email, query_string={"next": next_url})
    assert response.headers["Location"] == "/"


def test_returns_to_the_page_asked_for(client, counselor):
    response = client.get("/students?q=abc")
    assert response.headers["Location"] == "/login?next=/students?q%3Dabc"
    response = sign_in(client, counselor.email, query_string={"next": "/students?q=abc"})
    assert response.headers["Location"] == "/students?q=abc"


def test_csrf_token_required_on_sign_in(app, counselor):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        client = app.test_client()
        response = sign_in(client, counselor.email)
        assert response.status_code == 400
        page = client.get("/login").data.decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post("/login", data={"email": counselor.email, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def change_password(client, current, new, confirm=None):
    return client.post(
        "/account/password", data={"current_password": current, "new_password": new, "confirm": confirm or new}
    )


@pytest.mark.parametrize(
    "new, message",
    [
        ("short-pw", b"at least 12 characters"),
        ("passwordpassword", b"too easy to guess"),
        ("123456789012", b"too easy to guess"),
        ("caseyjones1234", b"from your name or email"),
        ("x" * 129, b"at most 128 characters"),
        ("a" * 101, b"too easy to guess"),  # past zxcvbn's 72 characters (it raised: a 500, found by the fuzz test)
    ],
)
def test_weak_passwords_are_refused_with_a_reason(client, counselor, new, message):
    sign_in(client, counselor.email)
    response = change_password(client, PASSWORD, new)
    assert response.status_code == 400
    assert message in response.data
    client.post("/logout")
    assert sign_in(client, counselor.email).status_code == 302  # old password still works


def test_long_passphrase_without_symbols_is_accepted_and_ends_other_sessions(app, client, counselor):
    other = app.test_client()
    sign_in(other, counselor.email)
    sign_in(client, counselor.email)
    passphrase = "kettle orbit cactus walrus " * 2 + "x"  # 57 characters, no rules
    response = change_password(client, PASSWORD, passphrase)
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this browser stays signed in
    assert other.get("/").headers["Location"].startswith("/login")
    client.post("/logout")
    assert sign_in(client, counselor.email, passphrase).status_code == 302


def test_wrong_current_password_changes_nothing(client, counselor):
    sign_in(client, counselor.email)
    response = change_password(client, "not-my-password", "kettle orbit cactus walrus")
    assert response.status_code == 400
    assert b"not your current password" in response.data


def test_temporary_password_must_be_changed_first(client, db_session):
    user = make_user("counselor", schools=[make_school()], must_change_password=True)
    db_session.commit()
    sign_in(client, user.email)
    response = client.get("/students")
    assert response.headers["Location"] == "/account/password"
    change_password(client, PASSWORD, "kettle orbit cactus walrus")
    assert client.get("/students").status_code == 200


def test_session_cookie_flags(client, counselor):
    response = sign_in(client, counselor.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
