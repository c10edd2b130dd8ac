"""The phone in a browser journey: an authenticator app per account (the secret read off the setup
page, as a person would type it), and the recovery codes the person wrote down."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pyotp


@dataclass
class Phone:
    """One account's authenticator app and paper recovery codes."""

    secret: str
    recovery_codes: list[str] = field(default_factory=list)
    last_step: int = -1

    def next_code(self) -> str:
        """A code the app shows now that was not typed before; a recovery code when a journey signs
        the same person in more often than every 30 seconds (the server accepts a code once)."""
        totp = pyotp.TOTP(self.secret)
        now = totp.timecode(time.time())
        # Now's code or the next one: the server takes one step either side of its own clock, so a
        # step boundary passed between here and the server still leaves the code good (the previous
        # step's code would not be).
        step = max(now, self.last_step + 1)
        if step <= now + 1:
            self.last_step = step
            return totp.generate_otp(step)
        return self.recovery_codes.pop()


# (server address, email) -> the phone; the live server lives for the whole session.
PHONES: dict[tuple[str, str], Phone] = {}


def _server(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def second_step(journey, email: str) -> None:
    """After the first factor: set up the app when asked (keeping its secret), or type a code."""
    page = journey.page
    path = urlsplit(page.url).path
    key = (_server(page.url), email.lower())
    if path == "/login/two-factor/setup":
        secret = page.locator("#setup-key").inner_text().replace(" ", "")
        PHONES[key] = phone = Phone(secret=secret)
        page.get_by_label("Six-digit code from the app").fill(phone.next_code())
        page.get_by_role("button", name="Turn on").click()
        page.wait_for_load_state()
        journey.axe()
        phone.recovery_codes = [c.strip() for c in page.locator(".code-list code").all_inner_texts()]
        page.get_by_role("link", name="I have saved them, continue").click()
        page.wait_for_load_state()
        journey.axe()
    elif path == "/login/two-factor":
        page.get_by_label("Code").fill(PHONES[key].next_code())
        page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state()
        journey.axe()
