"""Single sign-on in Chromium against a real OpenID Connect provider on loopback: a counselor signs in
and lands on their home; a token for another app, a replayed or expired one, an unknown email and a
deactivated account are each refused with a clear message and no session; sign-out ends the session."""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from school_prevention import create_app
from school_prevention.config import TestConfig
from school_prevention.demo import seed_demo
from school_prevention.extensions import db
from tests.e2e.journeys import LiveServer
from tests.factories import make_user
from tests.support.apps import migrate_to_head
from tests.support.databases import new_database_url
from tests.support.oidc_provider import loopback_provider


@pytest.fixture(scope="module")
def provider():
    with loopback_provider() as running:
        yield running


@pytest.fixture(scope="module")
def live_server(backend, tmp_path_factory, postgres, provider):
    """The demo district served on loopback with single sign-on through the provider."""
    config = TestConfig(new_database_url(backend, "e2e_sso", tmp_path_factory, postgres))
    config.WTF_CSRF_ENABLED = True
    config.SP_OIDC_ISSUER = provider.url
    config.SP_OIDC_CLIENT_ID = "school-prevention"
    config.SP_OIDC_CLIENT_SECRET = "loopback-secret"
    config.SP_OIDC_PROVIDER_NAME = "Demo District Google"
    config.SP_OIDC_ALLOWED_DOMAINS = ["demo.school"]
    app = create_app(config)
    migrate_to_head(app)
    with app.app_context():
        seed_demo()
        gone = make_user("staff", email="left.in.june@demo.school", name="Former Staff", is_active=False)
        gone.deactivated_at = gone.created_at
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    thread.join(10)
    with app.app_context():
        db.engine.dispose()


def through_provider(journey, provider, sub: str) -> None:
    """Click the single sign-on button, choose the person at the provider, come back."""
    page = journey.page
    page.goto("/login")
    journey.axe()
    page.get_by_role("link", name="Sign in with Demo District Google").click()
    expect(page).to_have_url(re.compile(re.escape(provider.url) + "/oauth2/authorize"))
    # The provider's own page (the mock's; Google's or Microsoft's in real life) is not ours to fix:
    # its text box has no label, which axe reports. Every page of the app is checked.
    journey.checked.add(page.url)
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_load_state()
    journey.axe()


def not_signed_in(journey) -> None:
    page = journey.page
    assert not [c for c in page.context.cookies() if c["name"] == "sp_session" and "sid" in c["value"]]
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    journey.axe()


def test_counselor_signs_in_through_the_provider_and_lands_home(journey, provider):
    sub = provider.person("casey.google", "counselor@demo.school", amr=["pwd", "mfa"])
    through_provider(journey, provider, sub)
    page = journey.page
    assert urlsplit(page.url).path == "/"
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you, Casey")
    page.get_by_role("link", name="Sign-in security").click()
    expect(page.get_by_role("cell", name="Single sign-on with the provider's second factor")).to_be_visible()
    journey.axe()
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")
    journey.axe()
    page.go_back()
    page.reload()
    expect(page).to_have_url(re.compile(r"/login\?next="))
    journey.axe()


def test_without_the_providers_second_factor_the_counselor_sets_up_an_app(journey, provider):
    from tests.e2e.authenticator import second_step

    sub = provider.person("pat.principal.google", "principal@demo.school", amr=["pwd"])
    through_provider(journey, provider, sub)
    expect(journey.page).to_have_url(re.compile(r"/login/two-factor"))
    second_step(journey, "principal@demo.school")
    assert urlsplit(journey.page.url).path == "/"
    expect(journey.page.get_by_role("heading", level=1)).to_have_text("Cedar Middle School")  # the principal's home


@pytest.mark.parametrize(
    "make, email, message",
    [
        ("with_wrong_audience", "counselor@demo.school", "was meant for another app (wrong audience)"),
        ("with_wrong_nonce", "counselor@demo.school", "its nonce does not match"),
        ("with_expired_token", "counselor@demo.school", "had expired"),
        ("person", "stranger@demo.school", "There is no account for stranger@demo.school"),
        ("person", "left.in.june@demo.school", "This account has been deactivated"),
    ],
)
def test_a_refused_sign_in_says_why_and_leaves_no_session(journey, provider, make, email, message):
    sub = getattr(provider, make)(f"{make}-{email}", email)
    through_provider(journey, provider, sub)
    page = journey.page
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("alert")).to_contain_text(message)
    not_signed_in(journey)
