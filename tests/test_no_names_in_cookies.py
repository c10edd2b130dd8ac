"""The session cookie names no child.

Flask keeps the session, flashed messages included, in a cookie that is signed but readable by
anyone who holds it (a proxy's log, a shared computer's browser profile, a browser extension).
So a flashed message says what was done, never to whom: the page the user lands on shows who.

Each test signs in, performs actions that flash a message, and after every answer decodes the
session cookie with the app's own serializer: no student's given, family or preferred name may be
in it, and it holds only the keys sign-in and flashing put there.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from school_prevention.checkins.models import CheckIn
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.programs.models import Enrollment, Match
from school_prevention.referrals.models import Referral
from school_prevention.timezones import district_today
from tests.factories import (
    PASSWORD,
    category,
    instrument,
    make_checkin_plan,
    make_guardian,
    make_mentor,
    make_program,
    make_school,
    make_student,
    make_user,
)
from tests.support.signin_helpers import complete_second_factor, enrol

# What sign-in (our sid, Flask-Login's user id, freshness and session-protection hash, the 12-hour
# lifetime), the CSRF token and flashing put in the session. Anything else is new: look at what it
# holds, then add it here.
# Between the password and the second factor: an account id, how, when and where to go next
# (auth.signin_flow); while setting up an authenticator app, its secret encrypted; single sign-on's
# return path (its state and nonce are Authlib's _state_* keys, not used here).
SESSION_KEYS = {
    "sid",
    "_user_id",
    "_fresh",
    "_id",
    "_permanent",
    "csrf_token",
    "_flashes",
    "sp_pending_signin",
    "sp_enrol_secret",
    "sp_sso_next",
}


class CookieWatch:
    """A test client that, after every answer, reads the session cookie as the app wrote it; a
    redirect after a change is followed, as a browser does (the landing page shows the message)."""

    def __init__(self, app, client, names: list[str]):
        self.app, self.client, self.names = app, client, [n.lower() for n in names]
        self.flashes: list[str] = []  # every message flashed, once
        self._waiting: list[str] = []  # the messages the cookie holds until a page shows them

    def open(self, method: str, url: str, **kw):
        response = self.client.open(url, method=method, **kw)
        self.check(f"{method} {url}")
        if method == "POST" and response.status_code in (302, 303):
            landing = self.client.get(response.headers["Location"])
            assert landing.status_code == 200, (url, response.headers["Location"], landing.status_code)
            self.check(f"GET {response.headers['Location']}")
        return response

    def post(self, url: str, **kw):
        return self.open("POST", url, **kw)

    def get(self, url: str, **kw):
        return self.open("GET", url, **kw)

    def session(self) -> dict:
        cookie = self.client.get_cookie(self.app.config["SESSION_COOKIE_NAME"])
        if cookie is None or not cookie.value:
            return {}
        return self.app.session_interface.get_signing_serializer(self.app).loads(cookie.value)

    def check(self, what: str) -> None:
        session = self.session()
        assert set(session) <= SESSION_KEYS, f"after {what} the session holds {sorted(set(session) - SESSION_KEYS)}"
        text = json.dumps(session, default=str).lower()
        leaked = [n for n in self.names if n in text]
        assert not leaked, f"after {what} the session cookie names {leaked}: {session}"
        waiting = [message for _, message in session.get("_flashes", [])]
        self.flashes += waiting[len(self._waiting) :] if waiting[: len(self._waiting)] == self._waiting else waiting
        self._waiting = waiting


@pytest.fixture
def world(db_session):
    north = make_school(name="North")
    kids = [
        make_student(north, given_name=given, family_name=family, preferred_name=preferred)
        for given, family, preferred in [
            ("Zyxwamara", "Quorvortiz", "Pimbrit"),
            ("Zyxwbella", "Quorvbanks", None),
            ("Zyxwcarlo", "Quorvcruz", None),
            ("Zyxwdara", "Quorvdiaz", None),
        ]
    ]
    w = {
        "north": north,
        "kids": kids,
        "counselor": make_user("counselor", schools=[north], name="Dana Counselor"),
        "staff": make_user("staff", schools=[north], name="Sam Staff"),
    }
    w["program"] = make_program(north, w["counselor"], capacity=1, name="Safe Online")
    w["names"] = [n for k in kids for n in (k.given_name, k.family_name, k.preferred_name) if n]
    db_session.commit()
    return w


@pytest.fixture
def watch(app, client, login_as, world):
    """The counselor, signed in, watched."""
    login_as(world["counselor"])
    return CookieWatch(app, client, world["names"])


def _made(model, **where):
    query = select(model).order_by(model.id.desc())
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return db.session.scalars(query).first()


def test_flags_screenings_and_referrals_flash_no_name(app, login_as, world, watch):
    kid = world["kids"][0]
    assert (
        watch.post(
            f"/students/{kid.id}/flags/new",
            data={
                "category": category("Social isolation").id,
                "severity": "moderate",
                "source": "counselor_observation",
                "note": "Eats alone.",
            },
        ).status_code
        == 302
    )
    flag = _made(RiskFlag, student_id=kid.id)
    assert (
        watch.post(
            f"/flags/{flag.id}/edit",
            data={"category": flag.category_id, "severity": "high", "source": "counselor_observation", "note": ""},
        ).status_code
        == 302
    )
    assert watch.post(f"/flags/{flag.id}/status", data={"status": "monitoring"}).status_code == 302
    # A concern that calls for a mandated report, and the report.
    assert (
        watch.post(
            f"/students/{kid.id}/flags/new",
            data={
                "category": category("Signs of commercial").id,
                "severity": "urgent",
                "source": "counselor_observation",
                "note": "",
            },
        ).status_code
        == 302
    )
    report = _made(RiskFlag, student_id=kid.id)
    assert (
        watch.post(
            f"/flags/{report.id}/report",
            data={
                "agency": "State hotline",
                "made_at": (district_today() - timedelta(days=1)).isoformat() + "T09:30",
                "reference": "R-1",
            },
        ).status_code
        == 302
    )
    # Screenings: a concern (offers a flag) and none.
    for kid_, result in [(world["kids"][1], "possible_concern"), (world["kids"][2], "no_concern")]:
        assert (
            watch.post(
                f"/students/{kid_.id}/screenings/new",
                data={
                    "instrument": instrument().id,
                    "screened_on": district_today().isoformat(),
                    "result": result,
                    "next_step": "none",
                },
            ).status_code
            == 302
        )
    # A staff member refers; the counselor reviews, accepts one and closes another.
    staff = CookieWatch(app, login_as(world["staff"], app.test_client()), world["names"])
    for kid_ in world["kids"][:2]:
        assert (
            staff.post(
                f"/referrals/new?student={kid_.id}",
                data={"categories": [category().id], "observation": "Crying at dismissal.", "urgency": "routine"},
            ).status_code
            == 302
        )
    first, second = (_made(Referral, student_id=k.id) for k in world["kids"][:2])
    assert watch.post(f"/referrals/{first.id}/review").status_code == 302
    assert (
        watch.post(
            f"/referrals/{first.id}/accept",
            data={"category": str(category("Sudden change").id), "severity": "moderate", "note": ""},
        ).status_code
        == 302
    )
    assert watch.post(f"/referrals/{second.id}/close", data={"reason": "Known and handled."}).status_code == 302
    assert len(watch.flashes) == 10 and len(staff.flashes) == 2  # every action above flashed, and was read


def test_checkins_flash_no_name(world, watch, monkeypatch):
    kid, counselor = world["kids"][0], world["counselor"]
    assert (
        watch.post(
            f"/students/{kid.id}/checkin-plans/new",
            data={
                "counselor_id": counselor.id,
                "cadence": "weekly",
                "rrule": "",
                "starts_on": (district_today() + timedelta(days=1)).isoformat(),
                "local_time": "10:00",
                "duration_minutes": "20",
                "until": "",
                "non_school_day": "move",
                "reason": "",
                "flag_id": "0",
            },
        ).status_code
        == 302
    )
    plan = make_checkin_plan(world["kids"][1], counselor, now=utcnow())
    db.session.commit()
    assert (
        watch.post(
            f"/checkin-plans/{plan.id}/edit",
            data={
                "counselor_id": counselor.id,
                "cadence": "weekly",
                "rrule": "",
                "starts_on": plan.starts_on.isoformat(),
                "local_time": "11:00",
                "duration_minutes": "30",
                "until": "",
                "non_school_day": "move",
                "reason": "",
                "flag_id": "0",
            },
        ).status_code
        == 302
    )
    checkins = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan.id).order_by(CheckIn.due_at)).all()
    first = checkins[0]
    monkeypatch.setattr("school_prevention.checkins.views.utcnow", lambda: first.due_at + timedelta(minutes=30))
    assert watch.post(f"/checkins/{first.id}", data={"outcome": "doing_well", "note": "Fine."}).status_code == 302
    assert (
        watch.post(
            f"/checkins/{checkins[1].id}/reschedule",
            data={"when": (checkins[1].due_at + timedelta(days=1)).strftime("%Y-%m-%dT10:00")},
        ).status_code
        == 302
    )
    assert watch.post(f"/checkins/{checkins[1].id}/cancel").status_code == 302
    monkeypatch.setattr("school_prevention.checkins.views.utcnow", lambda: checkins[2].due_at + timedelta(minutes=30))
    assert watch.post(f"/checkins/{checkins[2].id}/missed").status_code == 302
    assert watch.post(f"/checkin-plans/{plan.id}/end").status_code == 302
    assert len(watch.flashes) == 7


def test_programs_and_mentoring_flash_no_name(world, watch):
    kids, program = world["kids"], world["program"]
    # From the student page: a seat, then the waitlist (capacity 1).
    assert watch.post(f"/students/{kids[0].id}/programs", data={"program_id": program.id}).status_code == 302
    assert watch.post(f"/students/{kids[1].id}/programs", data={"program_id": program.id}).status_code == 302
    # From the program page: one already waiting is skipped, the others wait.
    assert (
        watch.post(f"/programs/{program.id}/enroll", data={"student_ids": [kids[1].id, kids[2].id]}).status_code == 302
    )
    assert "not enrolled: already in this program or on its waitlist" in watch.flashes[-1]
    # Ending the seated student's place moves the first on the waitlist into the seat.
    seated = _made(Enrollment, student_id=kids[0].id)
    assert (
        watch.post(
            f"/enrollments/{seated.id}/end", data={"status": "completed", "reason": "Finished the course."}
        ).status_code
        == 302
    )
    assert "1 student moved from the waitlist" in watch.flashes[-1]
    assert (
        watch.post(
            f"/programs/{program.id}/sessions/new",
            data={"held_on": district_today().isoformat(), "minutes": "40", f"att-{kids[1].id}": "present"},
        ).status_code
        == 302
    )
    # Mentoring: an inquiry, a cleared mentor, a match and a support contact.
    mentor = make_mentor(world["north"], world["counselor"], checked_on=district_today() - timedelta(days=30))
    db.session.commit()
    assert watch.post(f"/students/{kids[3].id}/matches").status_code == 302
    match = _made(Match, student_id=kids[3].id)
    assert (
        watch.post(f"/matches/{match.id}/status", data={"status": "matched", "mentor_id": mentor.id}).status_code == 302
    )
    assert (
        watch.post(
            f"/matches/{match.id}/contacts",
            data={"contacted_on": district_today().isoformat(), "method": "phone", "with_whom": "mentor"},
        ).status_code
        == 302
    )
    assert len(watch.flashes) == 8


def test_the_sign_in_flow_keeps_no_name_in_the_cookie(app, client, world):
    watch = CookieWatch(app, client, world["names"])
    # The counselor opens a student's page signed out, is sent to sign in, signs in and lands there.
    kid = world["kids"][0]
    assert watch.get(f"/students/{kid.id}").status_code == 302
    assert (
        watch.post(
            f"/login?next=/students/{kid.id}", data={"email": world["counselor"].email, "password": "wrong password!"}
        ).status_code
        == 401
    )
    enrol(world["counselor"])
    db.session.commit()
    password_step = watch.post(
        f"/login?next=/students/{kid.id}", data={"email": world["counselor"].email, "password": PASSWORD}
    )
    assert password_step.headers["Location"] == "/login/two-factor"
    signed_in = complete_second_factor(client, password_step, world["counselor"], post=watch.post)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == f"/students/{kid.id}"
    assert watch.session()["_user_id"] == str(world["counselor"].id)
    page = watch.get(f"/students/{kid.id}")
    assert page.status_code == 200 and "Quorvortiz" in page.get_data(as_text=True)  # the page names the child
    watch.post("/logout")
    assert watch.flashes == ["Please sign in to continue.", "You are signed out."]
    assert "_user_id" not in watch.session()


def test_withdrawing_a_consent_flashes_no_family_name(world, watch):
    from school_prevention.disclosures.services import record_consent

    kid = world["kids"][0]
    guardian = make_guardian(kid, given_name="Rosa", family_name=kid.family_name)
    consent = record_consent(
        world["counselor"],
        kid,
        guardian=guardian,
        scope="any_agency",
        agency_kind=None,
        agency=None,
        categories=["identity"],
        given_on=district_today() - timedelta(days=10),
        expires_on=None,
        purpose=None,
        document=None,
        today=district_today(),
    )
    db.session.commit()
    assert (
        watch.post(
            f"/consents/{consent.id}/revoke", data={f"consent-{consent.id}-revoked_on": district_today().isoformat()}
        ).status_code
        == 302
    )
