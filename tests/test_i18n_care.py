"""The care pages in Spanish: the disclosure record, consents and a parent's inspection, staff training,
awareness pages and the agency directory with a referral, read by each role that uses them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from school_prevention.agencies.services import refer_student
from school_prevention.awareness.models import AwarenessPage
from school_prevention.awareness.services import save_page
from school_prevention.disclosures.services import log_inspection_request, record_consent, record_disclosure
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory
from school_prevention.timezones import district_today
from school_prevention.training.models import Course
from tests.factories import (
    make_agency,
    make_completion,
    make_flag,
    make_guardian,
    make_school,
    make_student,
    make_user,
)
from tests.support.pages import english_left, visible_text

SCHOOL_ROLES = ["staff", "counselor", "principal"]


@pytest.fixture
def care(db_session):
    """A school whose people chose Spanish, with a student's sharing, consent, inspection request and agency referral."""
    school = make_school(name="Escuela Maple")
    w = type("Care", (), {})()
    w.school = school
    w.counselor = make_user("counselor", [school], name="Lucía Gómez", locale="es")
    w.principal = make_user("principal", [school], name="Pedro Ruiz", locale="es")
    w.staff = make_user("staff", [school], name="Marta Díaz", locale="es")
    w.admin = make_user("admin", name="Iván Soto", locale="es")
    w.student = make_student(school, given_name="Ana", family_name="Pérez")
    w.parent = make_guardian(w.student, given_name="Rosa", family_name="Pérez", phone="555-0142")
    w.clinic = make_agency("health", name="Clínica Lakeside", contact_name="Recepción", notes="Lunes a viernes.")
    w.flag = make_flag(w.student, w.counselor, category_name="Social isolation", severity="high")
    today = district_today()
    record_consent(
        w.counselor,
        w.student,
        guardian=w.parent,
        scope="agency_kind",
        agency_kind="health",
        agency=None,
        categories=["identity", "concerns"],
        given_on=today - timedelta(days=3),
        expires_on=None,
        purpose=None,
        document=None,
        today=today,
    )
    record_disclosure(
        w.counselor,
        w.student,
        recipient="Tribunal de menores",
        categories=["identity"],
        legal_basis="court_order",
        purpose="Orden 2026-114",
    )
    w.referral = refer_student(
        w.counselor,
        w.student,
        agency=w.clinic,
        categories=["identity", "concerns"],
        legal_basis="parental_consent",
        purpose=None,
        approved_by=w.counselor,
        reason="Ansiedad.",
        follow_up_on=today + timedelta(days=7),
        today=today,
    )
    w.inspection = log_inspection_request(
        w.counselor, w.student, guardian=w.parent, requested_on=today, how_received=None, today=today
    )
    make_completion(w.staff)
    w.page = save_page(
        w.admin, None, title="Señales de alerta", body="## Señales\n- Teléfono nuevo", audience=SCHOOL_ROLES
    )
    db_session.commit()
    # The records' own words: names, and the lists an admin keeps (courses, flag categories, awareness pages).
    w.data = [
        w.student.display_name,
        school.name,
        w.counselor.name,
        w.principal.name,
        w.staff.name,
        w.admin.name,
        w.parent.name,
        w.clinic.name,
        "SIS",
        "Markdown",
        "CSV",
        "UTF-8",
        *db.session.scalars(select(Course.name)),
        *db.session.scalars(select(FlagCategory.name)),
        *db.session.scalars(select(AwarenessPage.title)),
    ]
    return w


def _reads_spanish(client, url, data, code=200):
    response = client.get(url)
    assert response.status_code == code, url
    html = response.get_data(as_text=True)
    assert '<html lang="es">' in html, url
    left = english_left(html, data)
    assert not left, f"{url} still has English: {left}"
    return html


def test_a_counselor_reads_the_disclosure_record_and_its_forms_in_spanish(care, login_as):
    client = login_as(care.counselor)
    sid = care.student.id
    html = _reads_spanish(client, f"/students/{sid}/disclosures", care.data)
    assert "Registro de divulgaciones" in html and "Consentimientos para compartir" in html
    assert "Orden judicial o citación emitida legalmente" in html  # the legal basis, a label kept in English
    assert "Agencias de tipo Salud y salud mental" in html  # the consent's scope
    for url in (
        f"/students/{sid}/disclosures/new",
        f"/students/{sid}/consents/new",
        f"/students/{sid}/inspections/new",
    ):
        _reads_spanish(client, url, care.data)


def test_the_printed_record_for_a_parent_reads_in_spanish(care, login_as):
    client = login_as(care.counselor)
    html = _reads_spanish(client, f"/inspections/{care.inspection.id}", care.data)
    assert "Expediente educativo de Pérez, Ana" in html
    assert "Existe una nota restringida. No forma parte de esta copia" in html  # the withheld flag note
    response = client.post(f"/inspections/{care.inspection.id}/answer", follow_redirects=True)
    assert "La solicitud está respondida." in response.get_data(as_text=True)


def test_a_refused_sharing_and_a_recorded_consent_answer_in_spanish(care, login_as):
    client = login_as(care.counselor)
    sid = care.student.id
    response = client.post(f"/students/{sid}/disclosures/new", data={"agency": "", "recipient": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Elija la base legal para compartir." in html and "Indique la fecha y la hora en que se compartió." in html
    assert not english_left(html, care.data), english_left(html, care.data)
    response = client.post(
        f"/students/{sid}/consents/new",
        data={
            "guardian": str(care.parent.id),
            "scope": "any_agency",
            "categories": ["identity"],
            "given_on": district_today().isoformat(),
        },
        follow_redirects=True,
    )
    assert "Consentimiento registrado." in response.get_data(as_text=True)


def test_the_agency_pages_and_a_referral_read_in_spanish(care, login_as):
    client = login_as(care.counselor)
    html = _reads_spanish(client, "/agencies", care.data)
    assert "Salud y salud mental" in html and "Cómo derivar" in html
    _reads_spanish(client, f"/students/{care.student.id}/agency-referrals/new", care.data)
    html = _reads_spanish(client, f"/agency-referrals/{care.referral.id}", care.data)
    assert "Derivación a Clínica Lakeside" in html and ">Enviada<" in html
    # A refused referral (nothing chosen) and a status change, both answered in Spanish.
    response = client.post(f"/students/{care.student.id}/agency-referrals/new", data={"agency": ""})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Elija la agencia del directorio." in html
    assert not english_left(html, care.data), english_left(html, care.data)
    response = client.post(
        f"/agency-referrals/{care.referral.id}/status", data={"status": "accepted"}, follow_redirects=True
    )
    assert "La derivación ahora está aceptada." in response.get_data(as_text=True)


def test_the_admin_keeps_the_directory_in_spanish(care, login_as):
    client = login_as(care.admin)
    for url in ("/agencies", "/agencies/new", f"/agencies/{care.clinic.id}/edit"):
        _reads_spanish(client, url, care.data)
    response = client.post("/agencies/new", data={"name": "", "kind": ""})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Indique el nombre de la agencia." in html and "Elija el tipo de agencia." in html


def test_training_pages_read_in_spanish_for_staff_principal_and_admin(care, login_as):
    html = _reads_spanish(login_as(care.staff), "/account/training", care.data)
    assert "Mi capacitación" in html and "Cursos completados registrados" in html
    client = login_as(care.principal)
    html = _reads_spanish(client, "/training", care.data)
    assert "Capacitación del personal" in html and "Sin capacitación" in html
    _reads_spanish(client, f"/training/people/{care.staff.id}", care.data)
    _reads_spanish(client, "/training/import", care.data)
    client = login_as(care.admin)
    for url in ("/training", f"/training/people/{care.staff.id}", "/training/import"):
        _reads_spanish(client, url, care.data)


def test_training_messages_answer_in_spanish(care, login_as):
    client = login_as(care.principal)
    course = db.session.scalars(select(Course).where(Course.is_active).order_by(Course.name)).first()
    response = client.post(f"/training/people/{care.staff.id}", data={"course": str(course.id), "completed_on": ""})
    assert response.status_code == 400
    assert "Indique la fecha en que se completó (AAAA-MM-DD)." in response.get_data(as_text=True)
    response = client.post(
        f"/training/people/{care.staff.id}",
        data={"course": str(course.id), "completed_on": district_today().isoformat()},
        follow_redirects=True,
    )
    assert f"Registrado: {care.staff.name} completó “{course.name}”" in response.get_data(as_text=True)
    csv = b"email,course,completed_on\nnobody@example.org,No such course,yesterday\n"
    response = client.post(
        "/training/import", data={"file": (__import__("io").BytesIO(csv), "c.csv")}, content_type="multipart/form-data"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "No se guardó nada" in html
    assert "Ninguna cuenta tiene el correo electrónico nobody@example.org." in html


def test_awareness_pages_and_a_confirmation_read_in_spanish(care, login_as):
    client = login_as(care.staff)
    html = _reads_spanish(client, "/awareness", care.data)
    assert "A quién llamar" in html and "Por leer" in html
    html = _reads_spanish(client, f"/awareness/{care.page.id}", care.data)
    assert "La he leído" in html
    response = client.post(
        f"/awareness/{care.page.id}/confirm", data={"version": str(care.page.version)}, follow_redirects=True
    )
    html = response.get_data(as_text=True)
    assert "Gracias: usted confirmó que leyó “Señales de alerta”." in html, visible_text(html)[:400]
    _reads_spanish(login_as(care.principal), "/awareness/readers", care.data)
    client = login_as(care.admin)
    for url in ("/awareness", "/awareness/new", f"/awareness/{care.page.id}/edit", "/awareness/readers"):
        _reads_spanish(client, url, care.data)
    response = client.post("/awareness/new", data={"title": "", "body": ""})
    assert response.status_code == 400
    assert "Póngale un título a la página." in response.get_data(as_text=True)


def test_english_readers_keep_the_english_pages(care, login_as):
    care.counselor.locale = "en"
    db.session.commit()
    client = login_as(care.counselor)
    html = client.get(f"/students/{care.student.id}/disclosures").get_data(as_text=True)
    assert '<html lang="en">' in html and "<h1>Disclosure record" in html
    assert "Child welfare" not in html and "Health and mental health agencies" in html
    html = client.get(f"/agency-referrals/{care.referral.id}").get_data(as_text=True)
    assert "Referral to Clínica Lakeside" in html and "Update the status" in html
