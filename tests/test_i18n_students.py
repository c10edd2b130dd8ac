"""The app in Spanish beyond the daily path: the student list (filters, saved views, bulk actions), the student
page with its flags, programs, plans and tier, tier and intervention plan pages, the screening form, the homes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory
from school_prevention.programs.services import enroll
from school_prevention.screenings.models import Instrument
from school_prevention.tiers import services as tiers
from school_prevention.timezones import district_today
from school_prevention.training.models import Course
from tests.factories import (
    make_checkin_plan,
    make_completion,
    make_flag,
    make_guardian,
    make_program,
    make_school,
    make_student,
    make_user,
)
from tests.support.pages import english_left, visible_text


@pytest.fixture
def world(db_session, login_as):
    """A school in Spanish: a counselor and a principal who chose it, a student with a flag, a program, a
    check-in plan, tier 2 and an intervention plan with a data point."""
    school = make_school(name="Escuela Maple")
    student = make_student(school, given_name="Ana", family_name="Pérez")
    counselor = make_user("counselor", [school], name="Lucía Gómez", locale="es")
    principal = make_user("principal", [school], name="Marta Ruiz", locale="es")
    staff = make_user("staff", [school], name="Pablo Díaz", locale="es")
    flag = make_flag(student, counselor, category_name="Social isolation", severity="high")
    program = make_program(school, counselor, name="Círculo de amigos")
    enroll(counselor, program, [student])
    make_checkin_plan(student, counselor, now=datetime.now(UTC) - timedelta(days=1))
    make_guardian(student, given_name="Rosa", family_name="Pérez")
    # Trained for every instrument: the screening form then only says "Yours is current" (training has its own words).
    for course in {i.required_course.name for i in db.session.scalars(select(Instrument)) if i.required_course}:
        make_completion(counselor, course, completed_on=district_today() - timedelta(days=30))
    today = district_today()
    tiers.set_tier(counselor, student, 2, "Asistencia baja", 0)
    plan = tiers.create_plan(
        counselor,
        student,
        goal="Asistir 4 días por semana",
        measure="Días por semana",
        baseline=2.0,
        target=4.0,
        started_on=today - timedelta(days=14),
        review_on=today + timedelta(days=28),
        program_ids=[program.id],
        today=today,
    )
    tiers.record_progress(counselor, plan, measured_on=today - timedelta(days=7), value=3.0, note=None, today=today)
    db.session.flush()
    # The records' own words: names and the lists an admin keeps (categories, instruments, courses, programs).
    data = [
        student.display_name,
        school.name,
        counselor.name,
        principal.name,
        staff.name,
        "Lucía",
        "Marta",
        "Pablo",
        program.name,
        "Rosa Pérez",
        "SIS",
        plan.goal,
        plan.measure,
        "Asistencia baja",
        *db.session.scalars(select(FlagCategory.name)),
        *db.session.scalars(select(Instrument.name)),
        *db.session.scalars(select(Course.name)),
    ]
    return {
        "school": school,
        "student": student,
        "counselor": counselor,
        "principal": principal,
        "staff": staff,
        "flag": flag,
        "program": program,
        "plan": plan,
        "data": data,
        "login_as": login_as,
    }


def _spanish(response, data, status=200):
    html = response.get_data(as_text=True)
    assert response.status_code == status, visible_text(html)[:800]
    assert '<html lang="es">' in html
    left = english_left(html, data)
    assert not left, f"{response.request.path} still has English: {left}"
    return html


def test_the_counselor_reads_the_student_pages_in_spanish(world):
    client = world["login_as"](world["counselor"])
    s, data = world["student"], world["data"]
    pages = [
        "/",
        "/students",
        "/students?severity=high&plan=kept&tier=2&intervention=active&sort=severity",
        "/students?q=zzzz",
        f"/students/{s.id}",
        f"/students/{s.id}/summary?include_restricted=y",
        f"/students/{s.id}/tier",
        f"/students/{s.id}/interventions/new",
        f"/interventions/{world['plan'].id}",
        f"/students/{s.id}/screenings/new",
        f"/students/bulk/plans?student={s.id}",
        f"/students/bulk/enroll?student={s.id}",
        f"/students/bulk/assign?student={s.id}",
    ]
    for url in pages:
        _spanish(client.get(url), data)
    html = client.get(f"/students/{s.id}").get_data(as_text=True)
    assert "Nivel 2: focalizado" in html and "Padres y tutores" in html and "Cronología" in html
    chart = client.get(f"/interventions/{world['plan'].id}").get_data(as_text=True)
    assert "Línea meta" in chart and "1 dato" in chart


def test_saved_views_and_bulk_results_answer_in_spanish(world):
    client = world["login_as"](world["counselor"])
    data = world["data"] + ["Mi lista"]
    saved = client.post("/students/views", data={"query": "severity=high", "name": "Mi lista"}, follow_redirects=True)
    html = _spanish(saved, data)
    assert "Vista guardada." in html and "Sus vistas" in html
    refused = client.post("/students/views", data={"query": "severity=high", "name": " "})
    assert "Ponga un nombre a la vista" in _spanish(refused, data, 400)
    done = client.post(
        "/students/bulk/assign", data={"student": str(world["student"].id), "counselor_id": str(world["counselor"].id)}
    )
    assert "Asignado a Lucía Gómez." in _spanish(done, data)


def test_refused_tier_plan_and_screening_forms_answer_in_spanish(world):
    client = world["login_as"](world["counselor"])
    s, data = world["student"], world["data"]
    html = _spanish(client.post(f"/students/{s.id}/tier", data={"tier": "2", "reason": "", "version": "1"}), data, 400)
    assert "Diga por qué" in html
    html = _spanish(client.post(f"/students/{s.id}/interventions/new", data={"goal": "", "baseline": "x"}), data, 400)
    assert "Escriba la meta" in html and "Escriba el objetivo como número." in html
    html = _spanish(client.post(f"/students/{s.id}/screenings/new", data={"screened_on": ""}), data, 400)
    assert "Elija el instrumento." in html
    moved = client.post(
        f"/students/{s.id}/tier", data={"tier": "3", "reason": "Sin respuesta", "version": "1"}, follow_redirects=True
    )
    assert "Pasó al nivel 3." in _spanish(moved, data + ["Sin respuesta"])


def test_principal_and_staff_homes_and_the_principal_student_page_are_in_spanish(world):
    data = world["data"]
    principal = world["login_as"](world["principal"])
    for url in ["/", "/students", f"/students/{world['student'].id}", f"/interventions/{world['plan'].id}"]:
        _spanish(principal.get(url), data)
    # The staff home's own words (its awareness card and referral list are the referrals' and awareness' pages).
    html = world["login_as"](world["staff"]).get("/").get_data(as_text=True)
    assert '<html lang="es">' in html and "Le damos la bienvenida, Pablo" in html
    assert "¿Observó algo sobre un estudiante?" in html and "Sus derivaciones recientes" in html
    assert "Noticed something" not in html and "Refer a concern" not in html and "Your recent referrals" not in html


def test_english_pages_keep_their_words(world):
    world["counselor"].locale = "en"
    db.session.flush()
    client = world["login_as"](world["counselor"])
    html = client.get(f"/students/{world['student'].id}").get_data(as_text=True)
    assert "Tier 2: targeted" in html and "Parents and guardians" in html and "No screenings recorded." in html
    listing = client.get("/students").get_data(as_text=True)
    assert "1 student" in listing and "Show students" in listing and "Most severe flag first" in listing
