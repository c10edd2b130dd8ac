"""The reports, exports, admin and roster pages in Spanish: a principal, a district officer and an admin who
chose Spanish read them with no English left; the downloads keep their machine column names and put their
words for people (sheet titles, notes) in the downloader's language; English pages read as before."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import time, timedelta

import openpyxl
import pytest
from sqlalchemy import select

from school_prevention.checkins.models import CheckInPlan
from school_prevention.db import utcnow
from school_prevention.exports.students import PROGRAM_COLUMNS
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory, RiskFlag
from school_prevention.programs.models import Enrollment, ProgramType
from school_prevention.reports.district import COLUMNS
from school_prevention.roster import jobs as roster_jobs
from school_prevention.roster.models import RosterImport
from school_prevention.screenings.models import Instrument
from school_prevention.training.models import Course
from tests.factories import category, make_program, make_school, make_student, make_user
from tests.support import roster_files as rf
from tests.support.pages import english_left, visible_text

SPANISH = {"Accept-Language": "en-US,en;q=0.9"}  # the browser says English: the account's choice wins

# Words on these pages that other parts of the app still write in English (not this module's to
# translate; see the report of branch es-reports): the reporting groups' and periods' names and the
# caseload bands (reports/groups.py, periods.py, district.py), the training and tiers cards the
# coverage pages include, the grant descriptions (grants/services.py) and the importer's count labels.
ELSEWHERE = [
    "Up to 250",
    "251 to 350",
    "351 to 450",
    "Over 450",
    "No counselor",
    "Not shown (few students)",
    "District total",
]


def _data(*extra) -> list[str]:
    """The records' own words: names, and the lists an admin keeps (data, not interface text)."""
    lists = [
        *db.session.scalars(select(FlagCategory.name)),
        *db.session.scalars(select(ProgramType.name)),
        *db.session.scalars(select(Instrument.name)),
        *db.session.scalars(select(Course.name)),
    ]
    return [*extra, *lists, *ELSEWHERE]


# Cards these pages include from other features (tiers, training), translated with those features.
OTHER_CARDS = re.compile(r'<section class="card" aria-labelledby="(?:tiers|training)-h">.*?</section>', re.DOTALL)


def _spanish_page(client, url, data, status=200) -> str:
    response = client.get(url, headers=SPANISH)
    html = response.get_data(as_text=True)
    assert response.status_code == status, (url, visible_text(html)[:800])
    assert '<html lang="es">' in html, url
    left = english_left(OTHER_CARDS.sub("", html), data)
    assert not left, f"{url} still has English: {left}"
    return html


@pytest.fixture
def school_world(db_session):
    """One school with flagged students: one in a program, one with a plan, two covered by nothing."""
    today = utcnow().date()
    school = make_school(name="Escuela Roble", level="middle")
    counselor = make_user("counselor", [school], name="Lucía Gómez")
    program = make_program(
        school, counselor, capacity=4, name="Grupo de mentores", starts_on=today - timedelta(days=30)
    )
    social = category()
    students = [make_student(school, given_name=n, family_name="Pérez") for n in ("Ana", "Beto", "Carla", "Dani")]
    for s in students:
        db_session.add(
            RiskFlag(
                student_id=s.id,
                category_id=social.id,
                severity="high",
                source="counselor_observation",
                status="open",
                opened_by_id=counselor.id,
            )
        )
    db_session.add(Enrollment(program_id=program.id, student_id=students[0].id, status="active", started_at=utcnow()))
    db_session.add(
        CheckInPlan(
            student_id=students[1].id,
            school_id=school.id,
            counselor_id=counselor.id,
            cadence="weekly",
            local_time=time(10),
            starts_on=today,
            until=today + timedelta(days=90),
        )
    )
    db_session.flush()
    return {"school": school, "counselor": counselor, "program": program, "students": students}


def test_a_principal_reads_the_school_coverage_page_in_spanish(school_world, login_as):
    principal = make_user("principal", [school_world["school"]], name="Rosa Díaz", locale="es")
    client = login_as(principal)
    data = _data(
        school_world["school"].name,
        school_world["counselor"].name,
        school_world["program"].name,
        *(s.display_name for s in school_world["students"]),
    )
    html = _spanish_page(client, "/reports/coverage", data)
    assert "Con alertas y sin cobertura" in html and "Cómo están cubiertos los 4 estudiantes con alerta" in html
    assert ">Alta</span>" in html  # the severity badge of an uncovered student
    assert "Estudiantes con alerta según su cobertura" in html  # the chart's text alternative


def test_a_principal_without_a_school_is_told_so_in_spanish(db_session, login_as):
    client = login_as(make_user("principal", [], locale="es"))
    html = _spanish_page(client, "/reports/coverage", _data())
    assert "Todavía no tiene una escuela asignada" in html


@pytest.fixture
def district_world(school_world, db_session):
    """A second school so the district page has a table; a district officer with the export grant, in Spanish."""
    other = make_school(name="Escuela Pino", level="middle")
    for n in range(12):
        make_student(other, given_name=f"Alumno{n}", family_name="Ruiz")
    officer = make_user("district", name="Marta Ríos", locale="es", can_export_student_level=True)
    db_session.commit()
    return {**school_world, "other": other, "officer": officer}


def test_a_district_officer_reads_the_district_page_and_its_refusal_in_spanish(district_world, login_as):
    client = login_as(district_world["officer"])
    data = _data(district_world["school"].name, district_world["other"].name)
    html = _spanish_page(client, "/reports/coverage", data)
    assert "Cobertura del distrito" in html and "Descargar Excel" in html
    assert "Semana a semana" in html and "Seguimientos previstos y cumplidos a tiempo, por semana" in html
    # A period that is not offered: refused with a 400 and the page still in Spanish around the message.
    refused = _spanish_page(
        client, "/reports/coverage?period=1999-01", data + ["Choose a reporting period from the list."], status=400
    )  # the message is reports/periods.py's (helper report-model)
    assert "Filtrar las cifras del distrito" in refused


def test_the_district_workbook_keeps_its_columns_and_writes_its_notes_in_spanish(district_world, login_as):
    client = login_as(district_world["officer"])
    response = client.get("/exports/district.xlsx", headers=SPANISH)
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    assert [c.value for c in book["Schools"][1]] == [c.name for c in COLUMNS]  # the stable schema, in every language
    notes = "\n".join(str(row[0].value) for row in book["About"].iter_rows())
    assert "Exportación de la cobertura del distrito" in notes and "Ningún estudiante" in notes
    assert "Snapshot as of" not in notes and "No student is named" not in notes
    csv_header = client.get("/exports/district.csv", headers=SPANISH).get_data().decode("utf-8-sig").splitlines()[0]
    assert csv_header.split(",") == [c.name for c in COLUMNS]


def test_the_student_level_export_pages_and_file_are_in_spanish(district_world, login_as):
    from school_prevention.exports.worker import work

    client = login_as(district_world["officer"])
    data = _data(district_world["officer"].name)
    page = _spanish_page(client, "/exports/students", data)
    assert "Exportación por estudiante" in page and "Qué exportar" in page
    refused = client.post(
        "/exports/students", data={"dataset": "programs", "fmt": "xlsx", "purpose": "short"}, headers=SPANISH
    )
    assert refused.status_code == 400
    assert "Indique en 20 a 500 caracteres quién la pidió y por qué." in refused.get_data(as_text=True)
    assert not english_left(refused.get_data(as_text=True), data)
    asked = client.post(
        "/exports/students",
        data={"dataset": "programs", "fmt": "xlsx", "purpose": "Evaluación de programas, acuerdo 2026-14"},
    )
    assert asked.status_code == 303
    status_url = asked.headers["Location"]
    assert "En cola" in _spanish_page(client, status_url, data)
    assert work() == 1
    ready = _spanish_page(client, status_url, data + ["students-programs"])
    assert "Lista" in ready and "1 fila, generada el" in ready
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"{status_url}/download").get_data()))
    sheet = book.worksheets[0]
    assert sheet.title == "Participación en programas (Ed-"  # a sheet title is at most 31 characters
    assert [c.value for c in sheet[1]] == PROGRAM_COLUMNS  # Ed-Fi's names, whatever the language
    assert "Exportado el" in book["About"]["A2"].value


@pytest.fixture
def admin(db_session, login_as):
    user = make_user("admin", name="Iván Torres", locale="es")
    db_session.commit()
    return user, login_as(user)


def test_an_admin_reads_the_user_pages_in_spanish(admin, db_session):
    user, client = admin
    school = make_school(name="Escuela Cedro")
    teacher = make_user("staff", [school], name="Pablo Luna", email="pablo@example.org")
    db_session.commit()
    data = _data(user.name, teacher.name, teacher.email, school.name, "pablo@example.org", "user")
    users = _spanish_page(client, "/admin/users", data)
    assert "Agregar un usuario" in users and "Personal" in users  # the role, in Spanish
    form = _spanish_page(client, f"/admin/users/{teacher.id}", data)
    assert "Desactivar cuenta" in form and "Personal (docente, enfermero u otro adulto)" in form
    new = _spanish_page(client, "/admin/users/new", data)
    assert "Contraseña temporal" in new
    # A refused form: the messages beside the fields are Spanish too.
    refused = client.post("/admin/users/new", data={"email": "no-es-correo", "name": "", "role": ""}, headers=SPANISH)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "Escriba un correo electrónico válido" in html and "Escriba el nombre de la persona." in html
    assert not english_left(html, data)
    # A flash after a change.
    done = client.post(f"/admin/users/{teacher.id}/active", data={"active": "0"}, follow_redirects=True)
    assert "La cuenta de Pablo Luna está desactivada y se cerraron 0 sesiones." in done.get_data(as_text=True)


def test_an_admin_reads_the_lists_in_spanish(admin):
    _, client = admin
    data = _data()
    assert "Listas que puede editar" in _spanish_page(client, "/admin/lists", data)
    page = _spanish_page(client, "/admin/lists/program-types", data)
    assert "Tipos de programa" in page and "Agregar: tipo de programa" in page
    saved = client.post(
        "/admin/lists/program-types/new",
        data={"name": "Scouts", "position": "9", "is_active": "y"},
        follow_redirects=True,
    )
    assert "Guardado: tipo de programa «Scouts»." in saved.get_data(as_text=True)


def _zip(folder, target):
    with zipfile.ZipFile(target, "w") as zf:
        for file in folder.iterdir():
            zf.write(file, file.name)
    return target


def test_an_admin_reads_the_roster_upload_and_an_import_report_in_spanish(admin, tmp_path):
    _, client = admin
    data = _data(admin[0].name, "export.zip", "OneRoster", "CSV", "SIS", "flask --app app roster import PATH")
    page = _spanish_page(client, "/admin/roster", data)
    assert "Subir una exportación" in page and "Todavía no hay importaciones." in page
    refused = client.post("/admin/roster", data={}, headers=SPANISH)
    assert refused.status_code == 400 and "Elija el archivo zip que exportó su SIS." in refused.get_data(as_text=True)
    archive = _zip(rf.write(tmp_path / "roster", rf.district(12)), tmp_path / "export.zip")
    with open(archive, "rb") as fh:
        queued = client.post("/admin/roster", data={"archive": (fh, "export.zip")}, content_type="multipart/form-data")
    assert queued.status_code == 302
    run = db.session.scalars(select(RosterImport).order_by(RosterImport.id.desc())).first()
    assert "En cola" in _spanish_page(client, f"/admin/roster/{run.id}", data)
    assert roster_jobs.work_queue(utcnow()) == 1
    db.session.expire_all()
    # The importer's own count labels and file modes are the roster pipeline's to translate (left as data here).
    from school_prevention.roster.importer import count_rows

    report = client.get(f"/admin/roster/{run.id}", headers=SPANISH).get_data(as_text=True)
    labels = [label for label, _ in count_rows(db.session.get(RosterImport, run.id).counts)]
    html = _spanish_page(client, f"/admin/roster/{run.id}", data + labels + ["bulk", "delta"])
    assert "Prueba de export.zip" in html and "Aplicar esta importación" in html and report == html


def test_english_readers_still_read_english(school_world, login_as):
    principal = make_user("principal", [school_world["school"]])
    html = login_as(principal).get("/reports/coverage").get_data(as_text=True)
    assert (
        '<html lang="en">' in html
        and "Flagged and not covered" in html
        and "How the 4 flagged students are covered" in html
    )
