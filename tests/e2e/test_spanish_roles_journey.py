"""Every role's main work in Spanish, in a real browser: a principal and the district office pick Español in
the footer, a staff member and the admin have it set on their account. Each page is checked by axe, has its
screenshot, is marked lang=es and has no English left once the records' own words are taken out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from school_prevention.auth.models import User
from school_prevention.demo import DEMO_PASSWORD
from school_prevention.exports.worker import work
from school_prevention.extensions import db
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests.e2e.journeys import sign_in
from tests.support.pages import english_left, records_words, visible_text

EMAILS = ["principal@demo.school", "staff@demo.school", "district@demo.school", "admin@demo.school"]
# A Cedar student no other journey uses (see test_tiers_journey.OFFSETS and test_checkins_journey.OFFSETS).
REFERRAL_OFFSET = 182


@pytest.fixture
def spanish_accounts(live_server):
    """The live server is shared by every journey: the demo accounts read English again afterwards."""
    yield
    with live_server.app.app_context():
        db.session.execute(update(User).where(User.email.in_(EMAILS)).values(locale=None))
        db.session.commit()


def choose_on_account(live_server, email: str) -> None:
    """The person chose Spanish earlier (the account keeps it for every browser)."""
    with live_server.app.app_context():
        db.session.execute(update(User).where(User.email == email).values(locale="es"))
        db.session.commit()


def words_of_records(live_server, *typed: str) -> list[str]:
    """Every text value in the live server's database, plus what the journey typed: data, not interface."""
    with live_server.app.app_context():
        words = records_words()
        db.session.commit()  # ends the read transaction at once (the server is shared)
    # Values without a letter (ids, counts, years) are no English but would cut figures out of the lines.
    return [word for word in (*words, *typed) if re.search(r"[^\W\d_]", word)]


def in_spanish(journey, data: list[str]) -> None:
    """The page is marked Spanish and reads as Spanish; then axe and its screenshot."""
    page = journey.page
    expect(page.locator("html")).to_have_attribute("lang", "es")
    html = page.content()
    shown = visible_text(html)
    present = [value for value in data if value in shown]  # the same answer, without 4,000 regexes a page
    left = english_left(html, present)
    assert not left, f"{page.url} still has English: {left}"
    journey.axe()


def pick_spanish_in_footer(journey) -> None:
    """The footer's language picker, as a person would use it after signing in."""
    page = journey.page
    page.get_by_label("Language").select_option("es")
    page.get_by_role("button", name="Change language").click()
    page.wait_for_load_state()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()


def main_nav(page, name: str):
    return page.get_by_role("navigation", name="Principal").get_by_role("link", name=name, exact=True)


def test_a_principal_reads_coverage_students_and_programs_in_spanish(journey, live_server, spanish_accounts):
    page = journey.page
    data = words_of_records(live_server)
    sign_in(journey, "principal@demo.school")
    pick_spanish_in_footer(journey)
    expect(page.get_by_role("heading", level=1)).to_have_text("Cedar Middle School")
    expect(page.get_by_role("heading", level=2, name="Cobertura")).to_be_visible()
    in_spanish(journey, data)

    # The school's coverage page: figures and the table of who is flagged and covered by neither.
    page.get_by_role("link", name="Abrir la página de cobertura").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cobertura")
    uncovered = page.get_by_role("table", name="Estudiantes con alerta sin programa ni plan de seguimiento")
    expect(uncovered.get_by_role("columnheader", name="Gravedad más alta")).to_be_visible()
    in_spanish(journey, data)

    # From home, the flagged-and-not-covered students on the student list, then one student's page.
    main_nav(page, "Inicio").click()
    journey.axe()
    page.get_by_role("link", name=re.compile(r"^Los \d+ en la lista de estudiantes$")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Estudiantes")
    first = page.locator("main tbody tr").first.get_by_role("link").first
    name = first.inner_text()
    in_spanish(journey, data)
    first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.get_by_role("heading", level=2, name="Alertas de riesgo")).to_be_visible()
    in_spanish(journey, data)

    main_nav(page, "Programas").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Programas de prevención")
    expect(page.get_by_role("table", name="Programas con cupos ocupados, libres y en espera")).to_be_visible()
    in_spanish(journey, data)


def test_a_staff_member_refers_a_concern_in_spanish(journey, live_server, spanish_accounts):
    page = journey.page
    with live_server.app.app_context():
        student = db.session.scalars(
            select(Student)
            .join(School)
            .where(School.sourced_id == "demo-cedar-ms")
            .order_by(Student.id)
            .offset(REFERRAL_OFFSET)
            .limit(1)
        ).one()
        number, name = student.identifier, student.display_name
    observation = "Llegó sin abrigo tres días seguidos y dijo que no quiere volver a casa."
    data = words_of_records(live_server, observation)
    choose_on_account(live_server, "staff@demo.school")

    # The browser asks for Spanish too, so even the sign-in page is in Spanish.
    page.set_extra_http_headers({"Accept-Language": "es-US,es;q=0.9"})
    page.goto("/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Iniciar sesión")
    in_spanish(journey, data)
    page.get_by_label("Correo electrónico").fill("staff@demo.school")
    page.get_by_label("Contraseña").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Le damos la bienvenida, Sam")
    in_spanish(journey, data)

    page.get_by_role("link", name="Informar una inquietud").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Informar una inquietud")
    in_spanish(journey, data)
    page.get_by_label("Nombre o número del estudiante").fill(number)
    page.get_by_role("button", name="Buscar").click()
    expect(page.get_by_text("1 estudiante encontrado")).to_be_visible()
    in_spanish(journey, data)
    page.get_by_role("link", name=f"Derivar a {name}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Derivar una inquietud sobre {name}")
    in_spanish(journey, data)

    # Sent empty: refused, with the messages in Spanish next to the fields.
    page.get_by_role("button", name="Enviar a los consejeros").click()
    expect(page.get_by_role("alert").first).to_contain_text("Corrija los campos marcados abajo.")
    expect(page.get_by_text("Escriba lo que vio u oyó.")).to_be_visible()
    in_spanish(journey, data)
    page.get_by_label("Social isolation").check()
    page.get_by_label("¿Qué vio u oyó?").fill(observation)
    page.get_by_label("Rutinaria (esta semana)").check()
    page.get_by_role("button", name="Enviar a los consejeros").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Gracias. Su derivación se envió a los consejeros de la escuela."
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Mis derivaciones")
    row = page.get_by_role("row", name=re.compile(re.escape(name)))
    expect(row).to_contain_text("Recibida")
    in_spanish(journey, data)


def test_the_district_office_reads_coverage_for_a_period_and_exports_in_spanish(
    journey, live_server, spanish_accounts, tmp_path
):
    page = journey.page
    purpose = "Evaluación de programas de la agencia estatal, acuerdo 2026-31"
    data = words_of_records(live_server, purpose)
    sign_in(journey, "district@demo.school")
    pick_spanish_in_footer(journey)
    expect(page.get_by_role("heading", level=1)).to_have_text("Resumen del distrito")
    in_spanish(journey, data)

    main_nav(page, "Cobertura").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cobertura del distrito")
    in_spanish(journey, data)
    period = page.get_by_label("Período del informe")
    chosen = period.locator("option").nth(1)
    value, label = chosen.get_attribute("value"), chosen.inner_text()
    period.select_option(value)
    page.get_by_role("button", name="Mostrar").click()
    expect(page).to_have_url(re.compile(rf"period={re.escape(value)}"))
    expect(page.get_by_label("Período del informe")).to_have_value(value)
    expect(page.get_by_role("heading", name=re.compile("^Semana a semana"))).to_contain_text(label.split(":")[0])
    in_spanish(journey, data)

    # The student-level export: refused without a purpose, then made by the job and downloaded.
    page.get_by_role("link", name="Exportación por estudiante").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Exportación por estudiante")
    in_spanish(journey, data)
    page.get_by_label("Participación en programas (Ed-Fi StudentProgramAssociation)").check()
    page.get_by_role("button", name="Exportar").click()
    expect(page.get_by_role("alert").first).to_contain_text("Corrija los campos marcados abajo.")
    expect(page.get_by_text("Indique por qué necesita esta exportación.")).to_be_visible()
    in_spanish(journey, data)
    page.get_by_label("Propósito").fill(purpose)
    page.get_by_role("button", name="Exportar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Exportación por estudiante n\.º \d+$"))
    in_spanish(journey, data)
    with live_server.app.app_context():
        assert work() == 1  # the scheduler's exports.work job
    download_link = page.get_by_role("link", name=re.compile("^Descargar students-programs-"))
    expect(page.get_by_role("heading", level=2, name="Lista")).to_be_visible()  # the page reloaded itself
    expect(download_link).to_be_visible()
    in_spanish(journey, data)
    with page.expect_download() as download:
        download_link.click()
    assert download.value.suggested_filename.startswith("students-programs-")


def test_the_admin_adds_a_user_and_opens_the_roster_import_in_spanish(journey, live_server, spanish_accounts):
    page = journey.page
    email, name = "noemi.vargas@demo.school", "Noemí Vargas"
    data = words_of_records(live_server, email, name)
    choose_on_account(live_server, "admin@demo.school")
    sign_in(journey, "admin@demo.school")
    expect(page.get_by_role("heading", level=1)).to_have_text("Administración")
    in_spanish(journey, data)

    main_nav(page, "Usuarios").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usuarios")
    expect(page.get_by_role("table", name="Cuentas de usuario")).to_be_visible()
    in_spanish(journey, data)

    # A refused first try: the messages are in Spanish, next to their fields.
    page.get_by_role("link", name="Agregar un usuario").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Agregar un usuario")
    in_spanish(journey, data)
    page.get_by_label("Correo electrónico").fill("no es un correo")
    page.get_by_role("button", name="Crear cuenta").click()
    expect(page.get_by_role("alert").first).to_contain_text("Corrija los campos marcados abajo.")
    expect(page.get_by_text("Escriba un correo electrónico válido, como nombre@escuela.org.")).to_be_visible()
    expect(page.get_by_text("Escriba el nombre de la persona.")).to_be_visible()
    in_spanish(journey, [*data, "no es un correo"])
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Nombre completo").fill(name)
    page.get_by_label("Rol", exact=True).select_option(label="Personal (docente, enfermero u otro adulto)")
    page.get_by_label("Cedar Middle School").check()
    page.get_by_label("Contraseña temporal").fill("river-stone-window-88")
    page.get_by_role("button", name="Crear cuenta").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Cuenta creada para {name}.")
    in_spanish(journey, data)

    main_nav(page, "Importar inscripciones").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Importar inscripciones")
    expect(page.get_by_role("button", name="Revisar esta exportación")).to_be_visible()
    in_spanish(journey, data)
