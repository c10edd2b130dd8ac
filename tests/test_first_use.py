"""What a new user tripped over (issue 17, item 6): each fix as the user meets it."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import pytest
from sqlalchemy import func, select

from school_prevention.checkins.models import NonSchoolDay
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.programs.models import Attendance, ProgramSession
from school_prevention.programs.services import enroll, record_session
from school_prevention.timezones import district_today
from tests.factories import make_program, make_school, make_student, make_user, program_type


@pytest.fixture
def world(db_session):
    school = make_school(name="North")
    counselor = make_user("counselor", schools=[school])
    kids = [make_student(school, given_name=f"Kid{i}", family_name=f"Family{i}", grade="07") for i in range(2)]
    program = make_program(school, counselor, capacity=5, name="Coping Skills Group")
    enroll(counselor, program, kids)
    db_session.commit()
    return {"school": school, "counselor": counselor, "kids": kids, "program": program}


def _last_weekday(before: date, weekday: int) -> date:
    return before - timedelta(days=(before.weekday() - weekday - 1) % 7 + 1)


def _sessions() -> int:
    return db.session.scalar(select(func.count()).select_from(ProgramSession))


def test_a_session_in_the_future_or_on_a_non_school_day_is_refused_with_every_problem_at_once(client, login_as, world):
    w, kids = world, world["kids"]
    login_as(w["counselor"])
    url = f"/programs/{w['program'].id}/sessions/new"
    marks = {f"att-{kids[0].id}": "present", f"att-{kids[1].id}": "absent"}
    tomorrow = district_today() + timedelta(days=1)
    saturday = _last_weekday(district_today(), 5)
    holiday = _last_weekday(district_today(), 2)
    db.session.add(NonSchoolDay(day=holiday, name="Staff development day"))
    db.session.commit()
    for day, message in [
        (tomorrow, "is still to come"),
        (saturday, "is not a school day"),
        (holiday, "is a non-school day (Staff development day)"),
    ]:
        response = client.post(url, data={"held_on": day.isoformat(), "minutes": "40", **marks})
        assert response.status_code == 400, day
        assert message in response.data.decode()
    assert _sessions() == 0 and db.session.scalar(select(func.count()).select_from(Attendance)) == 0
    # One round shows the date, the length and the unmarked student together.
    page = client.post(
        url, data={"held_on": tomorrow.isoformat(), "minutes": "0", f"att-{kids[0].id}": "present"}
    ).data.decode()
    assert "is still to come" in page and "from 1 to 1440" in page and "1 not marked" in page
    school_day = _last_weekday(district_today(), 1)
    assert client.post(url, data={"held_on": school_day.isoformat(), "minutes": "40", **marks}).status_code == 302
    assert _sessions() == 1


def test_the_service_refuses_a_future_session_too(world):
    w = world
    with pytest.raises(ServiceError) as refused:
        record_session(
            w["counselor"],
            w["program"],
            held_on=district_today() + timedelta(days=7),
            minutes=0,
            topic=None,
            attendance={},
            roster_ids=set(),
        )
    assert [field for field, _ in refused.value.problems] == ["held_on", "minutes"]


def test_the_program_form_shows_every_problem_at_once(client, login_as, world):
    login_as(world["counselor"])
    response = client.post(
        "/programs/new",
        data={
            "school_id": world["school"].id,
            "type_id": program_type("Mentoring").id,
            "name": "",
            "capacity": "6",
            "session_minutes": "30",
            "starts_on": "2026-09-01",
            "ends_on": "2026-08-01",
            "is_active": "y",
        },
    )
    page = response.data.decode()
    assert response.status_code == 400
    assert "Give the program a name" in page and "end date is before the start" in page


def test_the_demo_district_keeps_school_hours_and_gives_every_school_work(app, db_session, monkeypatch):
    """Seeded at 1 am: no check-in falls in the night; attendance starts after enrollment, on school days;
    Riverside High has flags (one urgent), a program with attendance and a screening."""
    from datetime import datetime, time

    import school_prevention.db as sp_db
    from school_prevention.checkins.models import CheckIn
    from school_prevention.demo import seed_demo
    from school_prevention.flags.models import RiskFlag
    from school_prevention.programs.models import Enrollment, Program
    from school_prevention.schools.models import School
    from school_prevention.screenings.models import Screening
    from school_prevention.students.models import Student
    from school_prevention.timezones import district_zone

    zone = district_zone()
    one_am = datetime.combine(district_today() - timedelta(days=1), time(1), zone).astimezone(UTC)
    monkeypatch.setattr(sp_db, "utcnow", lambda: one_am)
    seed_demo()
    db.session.flush()
    hours = {
        c.due_at.replace(tzinfo=UTC).astimezone(zone).time()
        if c.due_at.tzinfo is None
        else c.due_at.astimezone(zone).time()
        for c in db.session.scalars(select(CheckIn))
    }
    assert hours and all(time(7) <= h <= time(17) for h in hours), sorted(hours)
    attended = db.session.execute(
        select(ProgramSession.held_on, Enrollment.started_at)
        .join(Attendance, Attendance.session_id == ProgramSession.id)
        .join(
            Enrollment,
            (Enrollment.program_id == ProgramSession.program_id) & (Enrollment.student_id == Attendance.student_id),
        )
    ).all()
    assert attended
    for held_on, started_at in attended:
        assert started_at is not None and held_on >= started_at.date(), (held_on, started_at)
    closed = set(db.session.scalars(select(NonSchoolDay.day)))
    assert all(held.weekday() < 5 and held not in closed for held, _ in attended)
    river = db.session.scalars(select(School).where(School.sourced_id == "demo-river-hs")).one()
    in_river = select(Student.id).where(Student.school_id == river.id)
    severities = list(db.session.scalars(select(RiskFlag.severity).where(RiskFlag.student_id.in_(in_river))))
    assert len(severities) >= 3 and "urgent" in severities
    assert db.session.scalar(select(func.count()).select_from(Attendance).where(Attendance.student_id.in_(in_river)))
    assert db.session.scalar(select(func.count()).select_from(Screening).where(Screening.student_id.in_(in_river)))
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Enrollment)
            .join(Program)
            .where(Program.school_id == river.id, Enrollment.status == "active")
        )
        >= 5
    )


def test_coverage_opens_the_existing_plan_instead_of_a_blank_form(client, login_as, world):
    from school_prevention.db import utcnow
    from tests.factories import make_checkin_plan, make_flag

    w = world
    planned, unplanned = (make_student(w["school"], given_name=f"Solo{i}", family_name="Nobody") for i in range(2))
    for kid in (planned, unplanned):
        make_flag(kid, w["counselor"])
    # A plan that has not started yet does not cover the student: the coverage list still shows them.
    plan = make_checkin_plan(planned, w["counselor"], now=utcnow(), starts_on=district_today() + timedelta(days=14))
    db.session.commit()
    login_as(w["counselor"])
    page = client.get("/reports/coverage").data.decode()
    assert (
        f'href="/checkin-plans/{plan.id}"' in page
        and f'Open check-in plan<span class="visually-hidden"> with {planned.display_name}' in page
    )
    assert f'href="/students/{unplanned.id}/checkin-plans/new"' in page
    assert f'href="/students/{planned.id}/checkin-plans/new"' not in page


def _selected(page: str, select_name: str) -> list[str]:
    """The options of a <select> as (text, is selected) pairs."""
    import re

    block = re.search(rf'<select[^>]*name="{select_name}"[^>]*>(.*?)</select>', page, re.DOTALL).group(1)
    return [
        (re.sub(r"\s+", " ", text).strip(), "selected" in attrs)
        for attrs, text in re.findall(r"<option([^>]*)>(.*?)</option>", block, re.DOTALL)
    ]


def test_choices_start_blank_or_with_the_only_one_and_full_programs_say_so(client, login_as, world):
    from school_prevention.flags.models import RiskFlag
    from tests.factories import make_flag

    w = world
    student = make_student(w["school"], given_name="New", family_name="Comer")
    make_program(w["school"], w["counselor"], capacity=2, name="Full Group")
    enroll(
        w["counselor"],
        db.session.scalars(select(type(w["program"])).where(type(w["program"]).name == "Full Group")).one(),
        w["kids"],
    )
    db.session.commit()
    login_as(w["counselor"])
    # A new flag's category starts at "Choose…", and saving it so is refused with a message; nothing is saved.
    options = _selected(client.get(f"/students/{student.id}/flags/new").data.decode(), "category")
    assert options[0] == ("Choose…", False) and not any(selected for _, selected in options[1:])
    refused = client.post(
        f"/students/{student.id}/flags/new",
        data={"category": "0", "severity": "moderate", "source": "counselor_observation"},
    )
    assert refused.status_code == 400 and "Choose a category." in refused.data.decode()
    assert not db.session.scalar(select(func.count()).select_from(RiskFlag).where(RiskFlag.student_id == student.id))
    # Enroll starts blank too, and a full program reads "full — waitlist".
    options = _selected(client.get(f"/students/{student.id}/programs").data.decode(), "program_id")
    assert options[0] == ("Choose…", False)
    assert ("Full Group — full — waitlist (0 waiting)", False) in options
    assert client.post(f"/students/{student.id}/programs", data={"program_id": "0"}).status_code == 400
    # A plan for a student with exactly one flag links that flag; with two, it starts at none.
    flag = make_flag(student, w["counselor"])
    db.session.commit()
    options = _selected(client.get(f"/students/{student.id}/checkin-plans/new").data.decode(), "flag_id")
    assert [text for text, selected in options if selected] == [f"{flag.category.name} (moderate, open)"]
    make_flag(student, w["counselor"], category_name="Bullying")
    db.session.commit()
    options = _selected(client.get(f"/students/{student.id}/checkin-plans/new").data.decode(), "flag_id")
    assert [text for text, selected in options if selected] == ["— none —"]


def test_a_first_visit_opens_the_sign_in_page_without_a_message(app, db_session):
    client = app.test_client()
    first = client.get("/")
    assert first.status_code == 302 and first.headers["Location"] == "/login"
    page = client.get("/login").data.decode()
    assert "Please sign in to continue." not in page
    # A deeper page still says why, and comes back after signing in.
    deep = client.get("/students")
    assert deep.headers["Location"] == "/login?next=/students"
    assert "Please sign in to continue." in client.get("/login").data.decode()


def test_every_page_links_a_favicon_that_is_served(app, db_session):
    import re

    client = app.test_client()
    page = client.get("/login").data.decode()
    href = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)
    icon = client.get(href)
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and b"<svg" in icon.data


@pytest.mark.parametrize("outcome", ["doing_well", "some_concerns", "needs_follow_up", "escalated"])
def test_completing_a_check_in_says_so_in_one_sentence(client, login_as, world, outcome):
    import re

    from school_prevention.checkins.models import CheckIn
    from school_prevention.db import utcnow
    from tests.factories import make_checkin_plan

    w = world
    plan = make_checkin_plan(
        w["kids"][0], w["counselor"], now=utcnow() - timedelta(days=21), starts_on=district_today() - timedelta(days=21)
    )
    checkin = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan.id).order_by(CheckIn.due_at)).first()
    db.session.commit()
    login_as(w["counselor"])
    done = client.post(f"/checkins/{checkin.id}", data={"outcome": outcome, "note": ""}, follow_redirects=True)
    message = re.search(r'class="flash flash-success"[^>]*>([^<]+)<', done.data.decode()).group(1)
    assert message.startswith("Check-in completed") and message.endswith(".")
    assert message.count(":") <= 1 and "met:" not in message.lower()


def test_the_check_in_plan_form_shows_every_problem_at_once(client, login_as, world):
    from school_prevention.checkins.models import CheckInPlan

    w = world
    login_as(w["counselor"])
    starts = district_today() + timedelta(days=3)
    response = client.post(
        f"/students/{w['kids'][0].id}/checkin-plans/new",
        data={
            "counselor_id": w["counselor"].id,
            "cadence": "weekly",
            "starts_on": starts.isoformat(),
            "local_time": "10:00",
            "duration_minutes": "2",
            "until": (starts - timedelta(days=1)).isoformat(),
            "non_school_day": "move",
            "flag_id": "0",
        },
    )
    page = response.data.decode()
    assert response.status_code == 400
    assert "Use a length from 5 to 240 minutes." in page and "The plan must end after it starts." in page
    assert page.count("Use a length from 5 to 240 minutes.") == 1  # the form's message, not twice
    assert not db.session.scalar(select(func.count()).select_from(CheckInPlan))


def test_the_screening_form_shows_every_problem_at_once(client, login_as, world):
    from school_prevention.screenings.models import Screening
    from tests.factories import instrument

    w = world
    tool = instrument()
    db.session.commit()
    login_as(w["counselor"])
    response = client.post(
        f"/students/{w['kids'][0].id}/screenings/new",
        data={
            "instrument": tool.id,
            "screened_on": (district_today() + timedelta(days=2)).isoformat(),
            "next_step": "rescreen",
        },
    )
    page = response.data.decode()
    assert response.status_code == 400
    for message in (
        "Choose the result level.",
        "The screening date cannot be in the future.",
        "Give a rescreen date after the screening date.",
    ):
        assert page.count(message) == 1, message
    assert not db.session.scalar(select(func.count()).select_from(Screening))


@pytest.mark.parametrize("path", ["/reports/coverage", "/training", "/awareness/readers"])
def test_a_school_picked_in_the_query_string_must_be_one_of_yours(client, login_as, world, path):
    """A principal's pages that pick a school from ?school=: not a number (even a Unicode digit) is a 400 with
    a message, a school that is not theirs a 404, a blank one their first school."""
    login_as(make_user("principal", schools=[world["school"]]))
    for odd in ("%C2%B2", "%D9%A1", "abc", "9" * 40):
        response = client.get(f"{path}?school={odd}")
        assert response.status_code == 400, (path, odd)
        assert "Choose one of your schools" in response.get_data(as_text=True)
    assert client.get(f"{path}?school=987654").status_code == 404
    assert client.get(f"{path}?school=%20").status_code == 200
