"""The app in Spanish beyond the daily path: programs, mentoring, referrals, the record of access,
access requests and the school calendar read in Spanish for people who chose it (issue 19, item 3)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory
from school_prevention.grants.models import ROLE
from school_prevention.grants.services import propose
from school_prevention.programs.mentoring import open_match
from school_prevention.programs.models import ProgramType
from school_prevention.programs.services import enroll
from tests.factories import (
    make_flag,
    make_mentor,
    make_program,
    make_referral,
    make_school,
    make_student,
    make_user,
)
from tests.support.pages import english_left, visible_text


@pytest.fixture
def casework(db_session, login_as):
    """A school with a program (one seat taken, one waiting), a mentoring match, a referral, and people
    of every role who chose Spanish."""
    school = make_school(name="Escuela Maple")
    ana = make_student(school, given_name="Ana", family_name="Pérez")
    luis = make_student(school, given_name="Luis", family_name="Soto")
    counselor = make_user("counselor", [school], name="Lucía Gómez", locale="es")
    staff = make_user("staff", [school], name="Tomás Ruiz", locale="es")
    principal = make_user("principal", [school], name="Marta Díaz", locale="es")
    admin = make_user("admin", name="Ada Admin", locale="es")
    officer = make_user("district", name="Olga Oficial", locale="es", is_privacy_officer=True)
    other_district = make_user("district", name="Diego Distrito", locale="es")
    make_flag(ana, counselor, category_name="Social isolation", severity="high")
    program = make_program(
        school, counselor, capacity=1, name="Círculo de amigos", schedule="Martes 15:15", facilitator="Sra. Vega"
    )
    enroll(counselor, program, [ana, luis])  # Ana takes the seat, Luis waits
    mentor = make_mentor(school, counselor, name="Mario Mentor", checked_on=date.today() - timedelta(days=30))
    match = open_match(counselor, ana)
    referral = make_referral(luis, staff, observation="Llora a la salida.")
    pending_for = make_user("staff", [school], name="Nora Nueva")
    propose(admin, pending_for, ROLE, "counselor")
    db.session.flush()
    data = [
        ana.display_name,
        luis.display_name,
        school.name,
        counselor.name,
        staff.name,
        principal.name,
        admin.name,
        officer.name,
        other_district.name,
        pending_for.name,
        pending_for.email,
        program.name,
        program.schedule,
        program.facilitator,
        mentor.name,
        "Llora a la salida.",
        ana.sourced_id,
        "SIS",
        "CSV",
        "FERPA",
        "Outlook",
        "Google Calendar",
        "Google",
        "URL",
        *db.session.scalars(select(FlagCategory.name)),
        *db.session.scalars(select(ProgramType.name)),
    ]
    return {
        "school": school,
        "ana": ana,
        "luis": luis,
        "counselor": counselor,
        "staff": staff,
        "principal": principal,
        "admin": admin,
        "officer": officer,
        "district": other_district,
        "program": program,
        "mentor": mentor,
        "match": match,
        "referral": referral,
        "data": data,
        "login_as": login_as,
    }


def _assert_spanish(client, url, data, status=200):
    response = client.get(url)
    assert response.status_code == status, url
    html = response.get_data(as_text=True)
    assert '<html lang="es">' in html, url
    left = english_left(html, data)
    assert not left, f"{url} still has English: {left}"
    return html


def test_a_counselor_reads_programs_mentoring_referrals_and_the_record_of_access_in_spanish(casework):
    w = casework
    client = w["login_as"](w["counselor"])
    program, ana = w["program"], w["ana"]
    pages = [
        "/programs",
        f"/programs/{program.id}",
        f"/programs/{program.id}?q=Soto",
        "/programs/new",
        f"/programs/{program.id}/edit",
        f"/programs/{program.id}/sessions/new",
        f"/students/{ana.id}/programs",
        "/matches",
        "/matches?show=closed",
        "/mentors",
        "/mentors/new",
        f"/mentors/{w['mentor'].id}",
        f"/matches/{w['match'].id}",
        "/referrals",
        "/referrals?show=decided",
        f"/referrals/{w['referral'].id}",
        f"/students/{ana.id}/access",
        "/account/calendar",
        "/account/reminders",
    ]
    for url in pages:
        _assert_spanish(client, url, w["data"])
    html = client.get(f"/programs/{program.id}").get_data(as_text=True)
    assert "Lista de espera (1)" in html and "Inscribir estudiantes" in html


def test_ending_an_enrollment_and_the_waitlist_answer_in_spanish(casework):
    w = casework
    client = w["login_as"](w["counselor"])
    from school_prevention.programs.models import Enrollment

    seat, waiting = db.session.scalars(
        select(Enrollment).where(Enrollment.program_id == w["program"].id).order_by(Enrollment.id)
    ).all()
    for e in (seat, waiting):
        _assert_spanish(client, f"/enrollments/{e.id}/end", w["data"])
    refused = client.post(f"/enrollments/{seat.id}/end", data={"status": "", "reason": ""})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Elija completado o retirado." in html and "Indique el motivo." in html
    assert not english_left(html, w["data"])
    done = client.post(
        f"/enrollments/{seat.id}/end", data={"status": "completed", "reason": "Terminó el ciclo"}, follow_redirects=True
    )
    text = visible_text(done.get_data(as_text=True))
    assert "Inscripción terminada: completada." in text, text[:600]
    assert "1 estudiante pasó de la lista de espera al cupo." in text


def test_a_refused_session_and_mentor_form_answer_in_spanish(casework):
    w = casework
    client = w["login_as"](w["counselor"])
    response = client.post(f"/programs/{w['program'].id}/sessions/new", data={"held_on": "", "minutes": ""})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Indique la fecha de la sesión." in html and "sin marcar" in html
    assert not english_left(html, w["data"])
    response = client.post("/mentors/new", data={"school_id": str(w["school"].id), "name": ""})
    assert response.status_code == 400
    assert "Escriba el nombre del mentor." in response.get_data(as_text=True)


def test_staff_refer_a_concern_and_see_their_referrals_in_spanish(casework):
    w = casework
    client = w["login_as"](w["staff"])
    for url in ["/referrals/new", "/referrals/new?q=Soto", f"/referrals/new?student={w['ana'].id}", "/referrals/mine"]:
        _assert_spanish(client, url, w["data"])
    refused = client.post(f"/referrals/new?student={w['ana'].id}", data={"observation": "", "urgency": "routine"})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Escriba lo que vio u oyó." in html and not english_left(html, w["data"])
    cat = db.session.scalars(select(FlagCategory).order_by(FlagCategory.position)).first()
    sent = client.post(
        f"/referrals/new?student={w['ana'].id}",
        data={"categories": [str(cat.id)], "observation": "Se aísla en el recreo.", "urgency": "soon"},
        follow_redirects=True,
    )
    html = sent.get_data(as_text=True)
    assert "Gracias. Su derivación se envió a los consejeros de la escuela." in html
    assert "Recibida" in html and 'class="status status-received"' in html  # the badge keeps its colour


def test_the_privacy_officer_and_the_district_read_their_pages_in_spanish(casework):
    w = casework
    officer = w["login_as"](w["officer"])
    _assert_spanish(officer, "/privacy/access", w["data"])
    _assert_spanish(officer, "/privacy/access?student=nobody-here", w["data"], status=404)
    html = _assert_spanish(officer, f"/privacy/access?student={w['ana'].sourced_id}", w["data"])
    assert "Registro de accesos" in html
    csv = officer.get(f"/privacy/access.csv?student={w['ana'].sourced_id}").get_data(as_text=True)
    # The file keeps its stable English columns, words and ISO times whatever the reader's language.
    assert csv.lstrip("\ufeff").startswith("when,who,role,kind,what,purpose") and ",viewed,Looked at" in csv
    assert re.search(r"\n\d{4}-\d{2}-\d{2} \d{2}:\d{2},", csv)
    html = _assert_spanish(officer, "/access-requests", w["data"])
    assert "Solicitudes de acceso" in html or "Esperan una decisión" in html


def test_admin_reads_the_school_calendar_in_spanish_and_the_flash_too(casework):
    w = casework
    client = w["login_as"](w["admin"])
    _assert_spanish(client, "/admin/non-school-days", w["data"])
    refused = client.post("/admin/non-school-days", data={"day": "", "name": ""})
    assert refused.status_code == 400
    assert "Indique la fecha." in refused.get_data(as_text=True)
    day = date.today() + timedelta(days=40)
    added = client.post(
        "/admin/non-school-days", data={"day": day.isoformat(), "name": "Día del maestro"}, follow_redirects=True
    )
    html = added.get_data(as_text=True)
    assert "Se agregó" in html and "Los próximos seguimientos se están reubicando" in html
    assert not english_left(html, [*w["data"], "Día del maestro"])


def test_english_readers_keep_the_english_pages(casework):
    w = casework
    w["counselor"].locale = "en"
    db.session.flush()
    client = w["login_as"](w["counselor"])
    html = client.get(f"/programs/{w['program'].id}").get_data(as_text=True)
    assert '<html lang="en">' in html and "Waitlist (1)" in html and "Enroll students" in html
    assert "<strong>1</strong> of 1 seats taken" in html
    html = client.get(f"/referrals/{w['referral'].id}").get_data(as_text=True)
    assert "Referral about" in html and "Status: <strong>New</strong>" in html
