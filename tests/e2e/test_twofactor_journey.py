"""A principal without single sign-on sets up an authenticator app at first sign-in, signs in with
it, then with a recovery code, sees where they are signed in and signs out everywhere (Chromium, axe)."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import expect
from sqlalchemy import select

from school_prevention.extensions import db
from school_prevention.schools.models import School
from tests.e2e.journeys import sign_in
from tests.factories import PASSWORD, make_user


def new_principal(live_server, email: str) -> None:
    with live_server.app.app_context():
        school = db.session.scalars(select(School).where(School.sourced_id == "demo-cedar-ms")).one()
        make_user("principal", schools=[school], email=email, name="Robin Principal")
        db.session.commit()


def password_step(journey, email: str) -> None:
    page = journey.page
    page.goto("/login")
    journey.axe()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    journey.axe()


def test_principal_sets_up_an_app_and_signs_in_with_it(journey, live_server):
    email = "robin.principal@demo.school"
    new_principal(live_server, email)
    page = journey.page
    password_step(journey, email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator app")
    expect(page.get_by_role("img", name=re.compile("QR code for your authenticator app"))).to_be_visible()
    secret = page.locator("#setup-key").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)

    page.get_by_label("Six-digit code from the app").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_text("That code does not match")).to_be_visible()
    journey.axe()

    page.get_by_label("Six-digit code from the app").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    journey.axe()
    codes = page.locator(".code-list code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cedar Middle School")
    journey.axe()
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(re.compile(r"/login"))
    journey.axe()

    # The next day (here: the next code), the password and then the app.
    password_step(journey, email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your sign-in code")
    step = totp.timecode(time.time()) + 1  # the first code was spent; the app's next one
    page.get_by_label("Code").fill(totp.generate_otp(step))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cedar Middle School")
    journey.axe()

    # Another browser, signed in with a recovery code (the phone stayed at home).
    other = page.context.browser.new_context(base_url=live_server.url)
    try:
        second = other.new_page()
        second.goto("/login")
        second.get_by_label("Email").fill(email)
        second.get_by_label("Password").fill(PASSWORD)
        second.get_by_role("button", name="Sign in").click()
        second.get_by_label("Code").fill(codes[0])
        second.get_by_role("button", name="Continue").click()
        expect(second.get_by_role("status")).to_contain_text("You used a recovery code; 9 left")

        page.get_by_role("link", name="Sign-in security").click()
        expect(page.get_by_text("You have 9 unused recovery codes")).to_be_visible()
        rows = page.get_by_role("row")
        expect(rows).to_have_count(3)  # the header and two browsers
        expect(page.get_by_role("cell", name="Password and a recovery code")).to_be_visible()
        journey.axe()
        page.get_by_role("button", name="Sign out everywhere").click()
        expect(page.get_by_role("status")).to_contain_text("signed out everywhere (2 browsers)")
        journey.axe()
        second.goto("/")
        expect(second).to_have_url(re.compile(r"/login"))
        expect(second.get_by_role("status")).to_contain_text("You signed out everywhere")
    finally:
        other.close()


def test_demo_counselor_is_asked_for_the_app_at_first_sign_in_then_for_codes(journey, live_server):
    """The demo accounts (bin/run) work as a new user meets them: set up once, then codes."""
    page = journey.page
    sign_in(journey, "counselor.high@demo.school")  # sets up the app if this is the first time
    assert urlsplit(page.url).path == "/"
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(re.compile(r"/login"))
    journey.axe()
    sign_in(journey, "counselor.high@demo.school")  # now the code page
    assert urlsplit(page.url).path == "/"
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")
