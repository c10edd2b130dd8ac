"""Single sign-on against a real OpenID Connect provider on loopback: who gets in, who does not and why."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User, UserSession
from school_prevention.extensions import db
from tests.factories import make_school, make_user
from tests.support.oidc_provider import configure, loopback_provider, restore
from tests.support.signin_helpers import code_now, enrol


@pytest.fixture(scope="module")
def provider():
    with loopback_provider() as running:
        yield running


@pytest.fixture
def sso(app, provider):
    before = configure(app, provider, SP_OIDC_ALLOWED_DOMAINS=["north.example.org"])
    yield provider
    restore(app, before)


@pytest.fixture
def people(db_session):
    school = make_school()
    people = {
        "counselor": make_user("counselor", schools=[school], email="casey@north.example.org", name="Casey Counselor"),
        "staff": make_user("staff", schools=[school], email="sam@north.example.org", name="Sam Staff"),
        "gone": make_user("staff", schools=[school], email="gone@north.example.org", is_active=False),
    }
    people["gone"].deactivated_at = people["gone"].created_at
    db_session.commit()
    return people


def through_provider(client, sub: str):
    """Click the sign-in button, choose sub at the provider, come back: the app's last answer."""
    start = client.get("/login/sso")
    assert start.status_code == 302
    authorize = start.headers["Location"]
    at_provider = requests.post(authorize, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    assert back.path == "/login/sso/callback"
    return client.get(f"{back.path}?{back.query}")


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def refusals():
    return [e.detail for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.signin_failed"))]


def test_the_login_page_offers_the_provider_only_when_configured(app, client, sso, db_session):
    assert b"Sign in with the test provider" in client.get("/login").data
    restore(app, {"SP_OIDC_ISSUER": ""})
    page = client.get("/login")
    assert b"Sign in with" not in page.data
    response = client.get("/login/sso")
    assert response.headers["Location"] == "/login"
    assert b"Single sign-on is not set up" in client.get("/login").data


def test_staff_signs_in_and_lands_home_with_the_role_the_app_gave(client, sso, people):
    sub = sso.person("sam-at-provider", "Sam@North.example.org", role="admin")  # a provider's role claim is ignored
    response = through_provider(client, sub)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in(client)
    row = db.session.scalars(select(UserSession).where(UserSession.user_id == people["staff"].id)).one()
    assert row.sign_in_method == "sso"
    signin = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.signin")).one()
    assert signin.actor_id == people["staff"].id and signin.detail == {"via": "sso", "provider_mfa": False}
    assert db.session.get(User, people["staff"].id).role == "staff"
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 3  # nobody was created


def test_provider_mfa_counts_as_the_second_factor(client, sso, people):
    sub = sso.person("casey-mfa", people["counselor"].email, amr=["pwd", "mfa"])
    response = through_provider(client, sub)
    assert response.headers["Location"] == "/"
    assert client.get("/students").status_code == 200
    row = db.session.scalars(select(UserSession).where(UserSession.user_id == people["counselor"].id)).one()
    assert row.sign_in_method == "sso+provider_mfa"


def test_without_provider_mfa_a_counselor_still_types_a_code(client, sso, people):
    enrol(people["counselor"])
    db.session.commit()
    sub = sso.person("casey-pwd", people["counselor"].email, amr=["pwd"])
    response = through_provider(client, sub)
    assert response.headers["Location"] == "/login/two-factor"
    with client.session_transaction() as session:
        assert "sid" not in session and "_user_id" not in session  # not signed in yet
    response = client.post("/login/two-factor", data={"code": code_now()})
    assert response.headers["Location"] == "/"
    assert signed_in(client)
    row = db.session.scalars(select(UserSession).where(UserSession.user_id == people["counselor"].id)).one()
    assert row.sign_in_method == "sso+totp"


@pytest.mark.parametrize(
    "make, message, reason",
    [
        ("with_wrong_audience", b"meant for another app (wrong audience)", "wrong_audience"),
        ("with_wrong_nonce", b"its nonce does not match", "wrong_nonce"),
        ("with_expired_token", b"had expired", "expired_token"),
    ],
)
def test_a_bad_id_token_is_refused_with_a_message_and_no_session(client, sso, people, make, message, reason):
    sub = getattr(sso, make)(f"sam-{reason}", people["staff"].email)
    response = through_provider(client, sub)
    assert response.status_code == 401
    assert message in response.data and b"Nothing was signed in" in response.data
    assert not signed_in(client)
    assert db.session.scalars(select(UserSession)).all() == []
    assert refusals() == [{"reason": reason, "via": "sso"}]


@pytest.mark.parametrize(
    "email, verified, message, reason",
    [
        ("nobody@north.example.org", True, b"There is no account for nobody@north.example.org", "unknown_account"),
        ("gone@north.example.org", True, b"This account has been deactivated", "inactive"),
        ("sam@north.example.org", False, b"did not confirm your email address", "unverified_email"),
        ("sam@elsewhere.example.com", True, b"is not an address of this district", "domain_not_allowed"),
    ],
)
def test_an_account_that_cannot_sign_in_is_told_why(client, sso, people, email, verified, message, reason):
    sub = sso.person(f"who-{reason}", email, verified=verified)
    response = through_provider(client, sub)
    assert response.status_code == 403
    assert message in response.data
    assert not signed_in(client)
    assert db.session.scalars(select(UserSession)).all() == []
    assert refusals() == [{"reason": reason, "via": "sso"}]


def test_a_roster_account_never_activated_is_activated_by_its_verified_email(client, sso, db_session):
    imported = make_user("staff", schools=[make_school()], email="new@north.example.org", is_active=False)
    imported.password_hash = None  # as the roster import makes them: no password, never active
    db_session.commit()
    response = through_provider(client, sso.person("new-person", imported.email))
    assert response.headers["Location"] == "/"
    assert db.session.get(User, imported.id).is_active


def test_the_answer_cannot_be_used_twice(client, sso, people):
    start = client.get("/login/sso")
    at_provider = requests.post(
        start.headers["Location"],
        data={"sub": sso.person("sam-twice", people["staff"].email)},
        allow_redirects=False,
        timeout=10,
    )
    back = urlsplit(at_provider.headers["Location"])
    assert client.get(f"{back.path}?{back.query}").headers["Location"] == "/"
    client.post("/logout")
    again = client.get(f"{back.path}?{back.query}")
    assert again.status_code == 401 and b"Start again from the sign-in page" in again.data
    assert not signed_in(client)


def test_sign_out_ends_the_session_on_the_server(app, client, sso, people):
    through_provider(client, sso.person("sam-out", people["staff"].email))
    cookie = client.get_cookie("sp_session").value
    client.post("/logout")
    assert not signed_in(client)
    replay = app.test_client()
    replay.set_cookie("sp_session", cookie)
    assert replay.get("/").headers["Location"].startswith("/login")
    row = db.session.scalars(select(UserSession).where(UserSession.user_id == people["staff"].id)).one()
    assert row.ended_reason == "signed_out"


def test_microsoft_entra_ids_xms_edov_counts_as_a_verified_email(client, sso, people):
    sub = sso.person("sam-entra", people["staff"].email, verified=False, xms_edov=True)
    assert through_provider(client, sub).headers["Location"] == "/"


def test_an_unreachable_provider_is_a_message_not_an_error_page(app, client, db_session):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from tests.support.oidc_provider import Provider

    before = configure(app, Provider(url=f"http://127.0.0.1:{port}"))
    try:
        response = client.get("/login/sso")
    finally:
        restore(app, before)
    assert response.status_code == 502
    assert b"We could not reach the test provider" in response.data
    assert refusals() == [{"reason": "provider_unreachable", "via": "sso"}]
