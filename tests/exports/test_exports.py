"""The district export (CSV, XLSX, CLI): schema, suppression that cannot be undone, safe cells; the
student-level export: grant, purpose, audit, and nothing restricted."""

from __future__ import annotations

import csv
import io
import re
from datetime import time, timedelta
from fractions import Fraction
from pathlib import Path

import openpyxl
from sqlalchemy import select

from school_prevention.audit.models import AuditEvent
from school_prevention.checkins.models import CheckInPlan
from school_prevention.db import utcnow
from school_prevention.exports.district import table_rows
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.programs.models import Enrollment
from school_prevention.reports.district import BASE, COLUMNS, COVERAGE_PARTS, SUPPRESSED, district_report
from school_prevention.reports.periods import last_complete_months
from school_prevention.spreadsheets import csv_bytes
from school_prevention.timezones import district_zone
from tests.factories import category, make_flag, make_program, make_school, make_student, make_user
from tests.support.apps import module_world
from tests.support.linear import determined

DOCS = Path(__file__).resolve().parents[2] / "docs" / "exports.md"
# Per school: flagged students in a program and a plan, program only, plan only, neither.
SPLITS = {
    ("middle", "M1"): (3, 12, 0, 14),
    ("middle", "M2"): (11, 2, 15, 9),
    ("middle", "M3"): (10, 10, 10, 10),
    ("middle", "M4"): (0, 5, 12, 20),
    ("elementary", "E1"): (1, 0, 0, 3),
    ("elementary", "E2"): (12, 11, 10, 13),
    ("high", "H1"): (4, 4, 4, 4),
}


def _district():
    """Seven schools in three levels with small and large cells; returns (district user, schools)."""
    today = utcnow().date()
    counselor = make_user("counselor")
    schools = {}
    social = category()
    for (level, name), split in SPLITS.items():
        school = make_school(name=f"{name} School", level=level, sourced_id=f"sch-{name}")
        counselor.schools.append(school)
        program = make_program(
            school, counselor, capacity=100, name=f"{name} group", starts_on=today - timedelta(days=30)
        )
        n = 0
        for kind, count in zip(("both", "program", "plan", "none"), split):
            for _ in range(count):
                n += 1
                student = make_student(school, given_name=f"Pupil{n}", family_name=f"{name}Family")
                db.session.add(
                    RiskFlag(
                        student_id=student.id,
                        category_id=social.id,
                        severity="moderate",
                        source="counselor_observation",
                        status="open",
                        opened_by_id=counselor.id,
                    )
                )
                if kind in ("both", "program"):
                    db.session.add(
                        Enrollment(program_id=program.id, student_id=student.id, status="active", started_at=utcnow())
                    )
                if kind in ("both", "plan"):
                    db.session.add(
                        CheckInPlan(
                            student_id=student.id,
                            school_id=school.id,
                            counselor_id=counselor.id,
                            cadence="weekly",
                            local_time=time(10),
                            starts_on=today,
                            until=today + timedelta(days=90),
                        )
                    )
        for _ in range(5):
            make_student(school, given_name="Calm", family_name=f"{name}Unflagged")
        schools[name] = school
    db.session.flush()
    user = make_user("district", can_export_student_level=True)
    db.session.commit()
    return user, schools


district = module_world(_district, name="district")  # built once for the module


# --- the schema ------------------------------------------------------------------------------------


def test_every_column_is_documented_in_order():
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", DOCS.read_text(), flags=re.M)
    assert documented[: len(COLUMNS)] == [c.name for c in COLUMNS]


def test_csv_download_has_the_schema_a_row_per_school_and_marked_cells(district, client, login_as):
    user, schools = district
    login_as(user)
    response = client.get("/exports/district.csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=district-coverage-")
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert list(rows[0]) == [c.name for c in COLUMNS]
    assert [r["row_type"] for r in rows] == ["school"] * len(schools) + ["total"]
    by_id = {r["school_sourced_id"]: r for r in rows}
    assert by_id["sch-M3"]["flagged_students"] == "40"
    shown = [r for r in rows if r["share_flagged"] not in (SUPPRESSED, "")]
    assert shown and all(
        float(r["share_flagged"]) == round(int(r["flagged_students"]) / int(r["active_students"]), 4) for r in shown
    )
    assert by_id["sch-E1"]["flagged_students"] == SUPPRESSED and by_id["sch-E1"]["share_uncovered"] == SUPPRESSED
    assert rows[-1]["active_students"] == str(sum(sum(s) + 5 for s in SPLITS.values()))
    text = response.get_data(as_text=True)
    assert "Family" not in text and "Pupil" not in text  # no student anywhere
    assert db_session_audit("export.district")


def db_session_audit(action: str):
    from school_prevention.extensions import db

    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_xlsx_download_opens_with_withheld_cells_marked_and_notes(district, client, login_as):
    user, _ = district
    login_as(user)
    # One high school: on its own, the high level would be that school. It is reported with the middle schools.
    response = client.get("/exports/district.xlsx?level=high")
    assert response.status_code == 400 and "choose Middle and high" in response.get_data(as_text=True)
    response = client.get("/exports/district.xlsx?level=middle-high")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["Schools", "By severity", "By grade", "By category", "Weekly", "Training", "About"]
    sheet = book["Schools"]
    header = [c.value for c in sheet[1]]
    assert header == [c.name for c in COLUMNS]
    cells = {row[1].value: dict(zip(header, (c.value for c in row))) for row in sheet.iter_rows(min_row=2)}
    assert set(cells) == {"sch-M1", "sch-M2", "sch-M3", "sch-M4", "sch-H1", ""}  # and the total row
    assert cells[""]["school_level"] == "middle-high"
    assert cells["sch-M1"]["flagged_program_and_plan"] == SUPPRESSED
    withheld = next(c for c in sheet[2] + sheet[3] + sheet[4] + sheet[5] if c.value == SUPPRESSED)
    assert withheld.font.i and withheld.fill.fgColor.rgb.endswith("EEEEEE")  # greyed, so it stands out
    assert isinstance(cells["sch-M3"]["share_flagged"], float)
    notes = [c.value or "" for c in book["About"]["A"]]
    assert any("withheld" in n for n in notes) and any(
        "Middle and high schools are reported together" in n for n in notes
    )


def test_bad_filters_on_the_export_are_a_400(district, client, login_as):
    login_as(district[0])
    response = client.get("/exports/district.csv?from=2026-13-01")
    assert response.status_code == 400 and "Not a valid date" in response.get_data(as_text=True)
    for path in ("/exports/district.csv", "/exports/district.xlsx", "/reports/coverage"):
        for query in ("to=0001-01-01", "from=0001-01-01&to=0001-01-07", "from=0001-01-01&to=0001-01-31"):
            response = client.get(f"{path}?{query}")
            assert response.status_code == 400, (path, query)
            text = response.get_data(as_text=True)
            assert "Give both the first and the last day" in text or "from January 2000 on" in text, (path, query)


def _last_month():
    return last_complete_months(utcnow(), district_zone(), 1)[0]


def test_cli_writes_the_same_export(district, app, tmp_path):
    out = tmp_path / "district.csv"
    result = app.test_cli_runner().invoke(args=["export", "district", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0] == [c.name for c in COLUMNS] and len(rows) == 1 + len(SPLITS) + 1
    last = _last_month()
    assert rows[1][6:8] == [last.start.isoformat(), last.end.isoformat()] and last.label in result.output
    xlsx = tmp_path / "district.xlsx"
    first, final = last.calendar  # a whole month by its calendar dates
    result = app.test_cli_runner().invoke(
        args=[
            "export",
            "district",
            "--format",
            "xlsx",
            "--out",
            str(xlsx),
            "--from",
            first.isoformat(),
            "--to",
            final.isoformat(),
        ]
    )
    assert result.exit_code == 0 and openpyxl.load_workbook(xlsx)["Schools"].max_row == len(SPLITS) + 2
    for args, message in (
        (["--from", "2026-02-01", "--to", "2026-01-01"], "whole reporting periods only"),
        (["--from", "2026-10-05", "--to", "2026-10-20"], "whole reporting periods only"),
        (["--period", "2999-01"], "is not over yet"),
        (["--period", "last week"], "Choose a reporting period"),
        (["--level", "high"], "choose Middle and high"),
    ):
        result = app.test_cli_runner().invoke(args=["export", "district", "--format", "csv", "--out", str(out), *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)


def test_formula_like_school_names_are_neutralised(db_session, app):
    make_school(name='=HYPERLINK("http://evil","x")', level="middle")
    db_session.flush()
    report = district_report(_last_month(), None, 10)
    name = next(row[3] for row in table_rows(report) if row[0] == "school")
    from school_prevention.spreadsheets import csv_bytes

    assert csv_bytes(["school_name"], [[name]]).decode("utf-8-sig").splitlines()[1].startswith("\"'=HYPERLINK")


# --- suppression cannot be undone ----------------------------------------------------------------


def _determined(equations, unknowns) -> set:
    """Unknowns whose value follows from the equations (each a dict unknown -> coefficient), exactly."""
    index = {u: i for i, u in enumerate(unknowns)}
    return {unknowns[i] for i in determined([{index[u]: c for u, c in eq.items()} for eq in equations], len(unknowns))}


def _what_a_reader_knows(views):
    """Unknowns and equations from every published view of the same table (all levels, each level).

    A reader knows each view's total row, every school's coverage identity, and every derived
    column that was shown (a sum or a share of cells): each gives an equation over the cells.
    """
    hidden = {(r["school_id"], c) for view in views for r in view.rows for c in BASE if r[c] is SUPPRESSED}
    unknowns = sorted(hidden, key=str)
    shown = {(r["school_id"], c): r[c] for view in views for r in view.rows for c in BASE if r[c] is not SUPPRESSED}
    equations: list[dict] = []

    def equation(terms: dict):
        """sum(coef * cell) = constant: shown cells are known, so only the hidden ones are kept."""
        eq = {cell: coef for cell, coef in terms.items() if cell in hidden}
        if eq:
            equations.append(eq)

    for view in views:
        for column in BASE:
            if view.totals[column] is not SUPPRESSED:  # a published total: sum of the column's cells
                equation({(r["school_id"], column): 1 for r in view.rows})
        for r in view.rows:
            sid = r["school_id"]
            equation({(sid, "flagged_students"): -1, **{(sid, p): 1 for p in COVERAGE_PARTS}})
            for derived, parts in (
                ("flagged_in_program", ("flagged_program_and_plan", "flagged_program_only")),
                ("flagged_with_plan", ("flagged_program_and_plan", "flagged_plan_only")),
            ):
                if r[derived] is not SUPPRESSED:
                    equation({(sid, p): 1 for p in parts})
            for share_name, parts, whole in (
                ("share_in_program", ("flagged_program_and_plan", "flagged_program_only"), "flagged_students"),
                ("share_uncovered", ("flagged_uncovered",), "flagged_students"),
                ("share_flagged", ("flagged_students",), "active_students"),
            ):
                if r[share_name] is not SUPPRESSED and isinstance(r[share_name], float):
                    equation(
                        {**{(sid, p): 1 for p in parts}, (sid, whole): -Fraction(r[share_name]).limit_denominator()}
                    )
    return unknowns, equations, shown


def test_the_csv_reads_the_table_alone_and_it_is_the_same_table(district, client, login_as):
    """The CSV export skips the breakdowns and the weekly trend; its schools and totals are the page's,
    cell for cell, withheld cells included, on every level's view."""
    period = _last_month()
    header = [c.name for c in COLUMNS]
    for level in (None, "elementary", "middle-high"):
        full, table = district_report(period, level, 10), district_report(period, level, 10, table_only=True)
        assert list(table_rows(table)) == list(table_rows(full))
        assert table.breakdowns == {} and table.weeks == [] and full.weeks
    login_as(district[0])
    page = client.get("/exports/district.csv?level=middle-high")
    assert page.status_code == 200
    assert page.data == csv_bytes(header, table_rows(district_report(period, "middle-high", 10)))


def test_no_withheld_figure_can_be_worked_out_from_totals_or_rows(district):
    period = _last_month()
    everything = district_report(period, None, 10)
    assert [g.key for g in everything.groups] == ["elementary", "middle-high"]
    views = [everything] + [district_report(period, g.key, 10) for g in everything.groups]
    # The same cell is withheld on every view it appears on (else one view gives away another's).
    for view in views[1:]:
        for row in view.rows:
            full = next(r for r in views[0].rows if r["school_id"] == row["school_id"])
            assert all((row[c] is SUPPRESSED) == (full[c] is SUPPRESSED) for c in BASE)
    unknowns, equations, shown = _what_a_reader_knows(views)
    assert unknowns, "the district has small cells: some must be withheld"
    assert all(not (0 < v < 10) for v in shown.values())  # nothing small is shown
    assert not _determined(equations, unknowns)


def test_the_proof_would_catch_primary_suppression_alone(district):
    """Without complementary cells, withheld figures come straight back: the check above has teeth."""
    period = _last_month()
    views = [district_report(period, level, 1) for level in (None, "elementary", "middle-high")]
    for view in views:  # withhold only the small cells, as a naive export would
        for r in view.rows:
            for c in BASE:
                if 0 < r[c] < 10:
                    r[c] = SUPPRESSED
            for c in (
                "flagged_in_program",
                "flagged_with_plan",
                "share_in_program",
                "share_uncovered",
                "share_flagged",
            ):
                r[c] = SUPPRESSED
    unknowns, equations, _ = _what_a_reader_knows(views)
    assert _determined(equations, unknowns)


# --- the student-level export ----------------------------------------------------------------------


def test_student_level_export_needs_the_grant(district, client, login_as):
    login_as(make_user("district"))
    assert client.get("/exports/students").status_code == 403
    assert (
        client.post(
            "/exports/students",
            data={"dataset": "programs", "fmt": "csv", "purpose": "An evaluation with a long enough purpose"},
        ).status_code
        == 403
    )


def test_student_level_export_needs_a_purpose(district, client, login_as):
    login_as(district[0])
    response = client.post("/exports/students", data={"dataset": "programs", "fmt": "csv", "purpose": "because"})
    assert response.status_code == 400 and "20 to 500 characters" in response.get_data(as_text=True)
    assert not db_session_audit("export.student_level")


def export_via_worker(client, data: dict, batch: int = 1000):
    """Ask for a student-level export as the form does, let the worker make it, and download it:
    (the status page's URL, the download's response)."""
    from school_prevention.exports.worker import work

    asked = client.post("/exports/students", data=data)
    assert asked.status_code == 303, asked.get_data(as_text=True)[:500]
    status_url = asked.headers["Location"]
    assert "Queued" in client.get(status_url).get_data(as_text=True)
    assert work(batch=batch) == 1
    page = client.get(status_url).get_data(as_text=True)
    assert "Ready" in page and f"{status_url}/download" in page
    return status_url, client.get(f"{status_url}/download")


def test_student_level_export_is_ed_fi_aligned_audited_and_has_no_notes(district, client, login_as, db_session):
    user, schools = district
    counselor = make_user("counselor", schools=[schools["M1"]])
    student = db_session.scalars(select(Enrollment)).first().student
    make_flag(student, counselor, note="RESTRICTED-NOTE-TEXT")
    db_session.commit()
    login_as(user)
    purpose = "State agency program evaluation under data-sharing agreement 2026-14"
    # Batches of 7 rows: the file is read in several batches, and comes out whole and in order.
    _, response = export_via_worker(client, {"dataset": "programs", "fmt": "csv", "purpose": purpose}, batch=7)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=students-programs-")
    text = response.get_data().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[:8] == [
        "studentUniqueId",
        "studentSourcedId",
        "educationOrganizationId",
        "programEducationOrganizationId",
        "programName",
        "programTypeDescriptor",
        "beginDate",
        "endDate",
    ]
    in_program = sum(s[0] + s[1] for s in SPLITS.values())
    assert len(rows) == in_program
    assert len({r["studentSourcedId"] for r in rows}) == in_program  # no row twice across batches
    assert {r["educationOrganizationId"] for r in rows} == {s.sourced_id for s in schools.values()}
    assert {r["reasonExitedDescriptor"] for r in rows} == {""}  # all still seated
    order = [
        (
            next(s.sourced_id for s in schools.values() if s.sourced_id == r["educationOrganizationId"]),
            r["studentSourcedId"],
        )
        for r in rows
    ]
    assert order == sorted(order)  # by school, then student, as before
    assert "RESTRICTED-NOTE-TEXT" not in text and "Family" not in text and "Pupil" not in text
    events = db_session_audit("export.student_level")
    assert [(e.purpose, e.detail["rows"], e.actor_id) for e in events] == [(purpose, in_program, user.id)]
    assert [e.actor_id for e in db_session_audit("export.student_level.download")] == [user.id]


def test_check_in_attendance_export(district, client, login_as):
    login_as(district[0])
    _, response = export_via_worker(
        client,
        {"dataset": "checkins", "fmt": "xlsx", "purpose": "Counselor staffing review for the school board"},
        batch=5,
    )
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).worksheets[0]
    assert [c.value for c in sheet[1]][:4] == [
        "studentUniqueId",
        "studentSourcedId",
        "educationOrganizationId",
        "planBeginDate",
    ]
    assert sheet.max_row - 1 == sum(s[0] + s[2] for s in SPLITS.values())
