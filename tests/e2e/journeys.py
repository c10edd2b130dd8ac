"""What the browser journeys share: the journey (a page checked by axe), the live server, signing in
and out, and which demo students each journey takes so that no two journeys change the same one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from school_prevention.demo import DEMO_PASSWORD
from school_prevention.extensions import db
from school_prevention.schools.models import School
from school_prevention.students.models import Student

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
BLOCKING_IMPACTS = {"serious", "critical"}

# Cedar students at these offsets (by id) belong to one journey each: the demo seeds cases at 0-8 and
# programs at 100-115, the case-work journey takes 40.
PROGRAM_OFFSETS = range(150, 161)
CHECKIN_OFFSETS = range(170, 180)


@dataclass
class LiveServer:
    """The app served on 127.0.0.1 with the demo district, as a counselor's browser sees it."""

    app: object
    url: str


@dataclass
class Journey:
    """A page plus the accessibility guard: every page visited must pass axe()."""

    page: object
    folder: Path
    visited: list[str] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)
    shots: int = 0

    def axe(self) -> None:
        """Run axe-core on the current page; fail on serious or critical violations."""
        from axe_playwright_python.sync_playwright import Axe
        from playwright.sync_api import Error

        # A click that posts a form and is redirected (Sign out) may still be swapping documents
        # when axe starts: wait for the page to finish loading, and run once more if the document
        # went away under axe (seen in CI as "Cannot read properties of null (reading
        # 'documentElement')").
        self.page.wait_for_load_state()
        try:
            results = Axe().run(self.page)
        except Error as error:
            if "documentElement" not in str(error) and "context was destroyed" not in str(error):
                raise
            self.page.wait_for_load_state()
            results = Axe().run(self.page)
        blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
        self.checked.add(self.page.url)
        self.shots += 1
        slug = (
            re.sub(r"[^a-z0-9]+", "-", self.page.url.split("//", 1)[-1].split("/", 1)[-1].lower()).strip("-") or "home"
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.folder / f"{self.shots:02d}-{slug[:60]}.png"), full_page=True)
        if blocking:
            lines = [
                f"{v['id']} ({v['impact']}): {v['help']} at " + ", ".join(str(n["target"]) for n in v["nodes"][:3])
                for v in blocking
            ]
            pytest.fail(f"accessibility violations on {self.page.url}:\n" + "\n".join(lines), pytrace=False)

    def unchecked(self) -> list[str]:
        """Pages the journey visited but never checked."""
        return [url for url in dict.fromkeys(self.visited) if url not in self.checked]


def sign_in(journey: Journey, email: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the real form and check the pages on the way (with the second step for the
    accounts that need one: tests/e2e/authenticator.py)."""
    from tests.e2e.authenticator import second_step

    page = journey.page
    page.goto("/login")
    journey.axe()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    journey.axe()
    second_step(journey, email)


def sign_out(journey: Journey) -> None:
    """Sign out with the header's button, and check the page it lands on."""
    journey.page.get_by_role("button", name="Sign out").click()
    journey.page.wait_for_url(re.compile(r"/login"))
    journey.axe()


def cedar_student(live_server, offset: int) -> Student:
    """The demo Cedar Middle student at this offset (by id)."""
    with live_server.app.app_context():
        return db.session.scalars(
            select(Student)
            .join(School)
            .where(School.sourced_id == "demo-cedar-ms")
            .order_by(Student.id)
            .offset(offset)
            .limit(1)
        ).one()
