"""Staff training: courses, completions by hand and from CSV, who is current, due or lapsed, coverage
(suppressed for the district), screening by trained staff only, and rescreen reminders."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.reports.district import SUPPRESSED
from school_prevention.reports.training import COLUMNS as TRAINING_COLUMNS
from school_prevention.reports.training import COUNTS, district_training
from school_prevention.screenings.models import Instrument, Screening
from school_prevention.screenings.services import record_screening
from school_prevention.timezones import district_today
from school_prevention.training import rules
from school_prevention.training.importer import ImportFileError, import_completions
from school_prevention.training.models import Course, TrainingCompletion
from school_prevention.training.queries import school_training, training_coverage
from school_prevention.training.services import record_completion
from tests.factories import instrument, make_completion, make_school, make_student, make_user
from tests.support.linear import determined

SIGNS, TRAUMA, SCREENER = (
    "Recognising signs of commercial sexual exploitation",
    "Trauma-informed practice",
    "CSE-IT screener",
)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "exports.md"


def course(name: str) -> Course:
    return db.session.scalars(select(Course).where(Course.name == name)).one()


def completions(user) -> list[TrainingCompletion]:
    return db.session.scalars(select(TrainingCompletion).where(TrainingCompletion.user_id == user.id)).all()


def days_ago(n: int) -> date:
    return district_today() - timedelta(days=n)


@pytest.fixture
def staffed(db_session):
    """Two schools; North's staff current, due, lapsed and never trained; a principal of each."""
    north, south = make_school(name="North"), make_school(name="South")
    people = {
        "principal": make_user("principal", schools=[north], name="Pia Principal"),
        "other_principal": make_user("principal", schools=[south]),
        "admin": make_user("admin"),
        "current": make_user("staff", schools=[north], name="Cora Current", email="cora@example.org"),
        "due": make_user("staff", schools=[north], name="Dev Due"),
        "lapsed": make_user("staff", schools=[north], name="Lee Lapsed"),
        "never": make_user("staff", schools=[north], name="Nat Never", email="nat@example.org"),
        "both": make_user("staff", schools=[north, south], name="Bo Both"),
        "south_staff": make_user("staff", schools=[south], name="Sol South", email="sol@example.org"),
        "gone": make_user("staff", schools=[north], name="Gil Gone", is_active=False),
        "counselor": make_user("counselor", schools=[north], name="Cam Counselor"),
    }
    make_completion(people["current"], SIGNS, completed_on=days_ago(100))
    make_completion(people["due"], SIGNS, completed_on=days_ago(350))  # 12-month course: expires within 30 days
    make_completion(people["lapsed"], SIGNS, completed_on=days_ago(400))
    make_completion(people["both"], SIGNS, completed_on=days_ago(10))
    make_completion(people["counselor"], SIGNS, completed_on=days_ago(10))
    db_session.commit()
    return {"north": north, "south": south, **people}


# --- rules ------------------------------------------------------------------------------------


def test_expiry_and_status_rules():
    assert rules.expiry(date(2025, 1, 31), 12) == date(2026, 1, 31)
    assert rules.expiry(date(2025, 1, 31), None) is None
    today = date(2026, 6, 1)
    assert rules.course_status(None, today) == rules.MISSING
    assert rules.course_status(date(2026, 5, 31), today) == rules.LAPSED
    assert rules.course_status(today, today) == rules.DUE  # valid through today
    assert rules.course_status(today + timedelta(days=30), today) == rules.DUE
    assert rules.course_status(today + timedelta(days=31), today) == rules.CURRENT
    assert rules.overall_status([rules.CURRENT, rules.DUE, rules.LAPSED]) == rules.LAPSED
    assert rules.overall_status([rules.LAPSED, rules.MISSING]) == rules.MISSING
    assert rules.overall_status([]) == rules.CURRENT


def test_the_three_courses_are_seeded_and_the_cse_it_instruments_need_the_screener(db_session):
    names = set(db.session.scalars(select(Course.name)))
    assert {SIGNS, TRAUMA, SCREENER} <= names
    assert course(SIGNS).required_roles == ["staff", "counselor", "principal"]
    assert course(SCREENER).required_roles == ["counselor"]
    needing = {i.name: i.required_course for i in db.session.scalars(select(Instrument))}
    assert needing["CSE-IT 2.0 (result only)"].name == SCREENER
    assert needing["CSE-IT Brief (result only)"].name == SCREENER
    assert needing["SRSS-IE"] is None


# --- status per school --------------------------------------------------------------------------


def test_school_status_current_due_lapsed_and_not_trained(staffed):
    data = school_training([staffed["north"].id], district_today())
    status = {p.user.name: p.status for p in data.people}
    assert status == {
        "Cora Current": "current",
        "Dev Due": "due",
        "Lee Lapsed": "lapsed",
        "Nat Never": "missing",
        "Bo Both": "current",
        "Pia Principal": "missing",
        "Cam Counselor": "missing",
    }  # no deactivated
    coverage = training_coverage([staffed["north"].id, staffed["south"].id])
    north, south = coverage[staffed["north"].id], coverage[staffed["south"].id]
    assert (north.current, north.due, north.lapsed, north.missing, north.staff) == (2, 1, 1, 3, 7)
    assert north.trained == 3 and north.share_trained == pytest.approx(3 / 7)
    assert (south.current, south.missing, south.staff) == (1, 2, 3)  # Bo Both counts at each school


def test_a_counselor_needs_every_course_required_of_counselors(staffed):
    counselor = staffed["counselor"]
    make_completion(counselor, TRAUMA, completed_on=days_ago(30))
    lines = {p.user.name: p for p in school_training([staffed["north"].id], district_today()).people}
    assert lines["Cam Counselor"].status == "missing"  # no CSE-IT screener
    make_completion(counselor, SCREENER, completed_on=days_ago(30))
    lines = {p.user.name: p for p in school_training([staffed["north"].id], district_today()).people}
    assert lines["Cam Counselor"].status == "current"


# --- recording completions -----------------------------------------------------------------------


def test_a_completion_is_valid_for_the_course_renewal_period_and_recorded_once(staffed):
    today = district_today()
    done = record_completion(
        staffed["principal"], staffed["never"], course(SIGNS), completed_on=days_ago(5), today=today
    )
    assert done.expires_on == rules.expiry(days_ago(5), 12)
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "training.completion.recorded")
        )
        == 1
    )
    with pytest.raises(AlreadyDone, match="already recorded by Pia Principal"):
        record_completion(staffed["principal"], staffed["never"], course(SIGNS), completed_on=days_ago(5), today=today)
    with pytest.raises(ServiceError, match="cannot be in the future"):
        record_completion(
            staffed["principal"], staffed["never"], course(SIGNS), completed_on=today + timedelta(days=1), today=today
        )
    with pytest.raises(ServiceError, match="before the completion date"):
        record_completion(
            staffed["principal"],
            staffed["never"],
            course(SIGNS),
            completed_on=days_ago(3),
            expires_on=days_ago(4),
            today=today,
        )
    with pytest.raises(ServiceError, match="not on your school's staff"):
        record_completion(
            staffed["principal"], staffed["south_staff"], course(SIGNS), completed_on=days_ago(3), today=today
        )


def test_principal_sees_who_on_staff_is_not_trained(staffed, client, login_as):
    login_as(staffed["principal"])
    page = client.get("/training?show=attention").get_data(as_text=True)
    assert "Nat Never" in page and "Lee Lapsed" in page and "Dev Due" in page
    assert "Cora Current" not in page and "Sol South" not in page and "Gil Gone" not in page
    everyone = client.get("/training").get_data(as_text=True)
    assert "Cora Current" in everyone and "Not trained" in everyone and "Lapsed" in everyone
    assert client.get(f"/training?school={staffed['south'].id}").status_code == 404
    assert client.get("/training?school=x").status_code == 400
    assert client.get(f"/training/people/{staffed['south_staff'].id}").status_code == 404


def test_principal_records_and_removes_a_completion_by_hand(staffed, client, login_as):
    login_as(staffed["principal"])
    url = f"/training/people/{staffed['never'].id}"
    form = {"course": course(SIGNS).id, "completed_on": days_ago(2).isoformat()}
    response = client.post(url, data=form)
    assert response.status_code == 302
    assert "Nat Never completed" in client.get(url).get_data(as_text=True)
    [done] = completions(staffed["never"])
    assert done.source == "manual" and done.recorded_by_id == staffed["principal"].id
    again = client.post(url, data=form)
    assert again.status_code == 409 and "already recorded by Pia Principal" in again.get_data(as_text=True)
    bad = client.post(url, data={"course": course(SIGNS).id, "completed_on": "2026-02-30"})
    assert bad.status_code == 400 and re.search(r"class=\"error\"[^>]*>[^<]*date", bad.get_data(as_text=True))
    future = client.post(
        url, data={"course": course(SIGNS).id, "completed_on": (district_today() + timedelta(days=3)).isoformat()}
    )
    assert future.status_code == 400 and "cannot be in the future" in future.get_data(as_text=True)
    remove = f"{url}/completions/{done.id}/remove"
    assert client.post(remove).status_code == 302
    assert completions(staffed["never"]) == []
    twice = client.post(remove)
    assert twice.status_code == 409 and "already removed by Pia Principal" in twice.get_data(as_text=True)
    assert client.post(f"{url}/completions/999999/remove").status_code == 404


def test_my_training_and_the_admin_user_page(staffed, client, login_as):
    login_as(staffed["lapsed"])
    mine = client.get("/account/training").get_data(as_text=True)
    assert SIGNS in mine and "Lapsed" in mine
    login_as(staffed["admin"])
    page = client.get(f"/admin/users/{staffed['due'].id}").get_data(as_text=True)
    assert 'id="training-h"' in page and "Due for renewal" in page


# --- CSV import -----------------------------------------------------------------------------------


def _csv(*rows: str) -> bytes:
    return ("email,course,completed_on,expires_on\n" + "\n".join(rows) + "\n").encode()


def test_import_is_all_or_nothing_and_reports_every_rejected_row_with_its_line(staffed):
    today = district_today()
    data = _csv(
        f"cora@example.org,{SIGNS},{days_ago(1)},",
        f"NAT@example.org ,{SIGNS.upper()},{days_ago(2)},",
        "nobody@example.org,Trauma-informed practice,2026-01-05,",
        f"sol@example.org,{SIGNS},{days_ago(2)},",
        f"nat@example.org,Knitting,{days_ago(2)},",
        f"nat@example.org,{TRAUMA},31/31/2026,",
        f"nat@example.org,{TRAUMA},{days_ago(5)},{days_ago(9)}",
        f"nat@example.org,{SIGNS},{days_ago(2)},",
    )
    result = import_completions(staffed["principal"], data, today=today)
    assert not result.saved and result.recorded == 0
    assert [(r.line, r.reason) for r in result.rejected] == [
        (4, "no account has the email nobody@example.org"),
        (5, "Sol South is not on the staff of your schools"),
        (6, "no course is called “Knitting” (see the course list)"),
        (7, "completed_on “31/31/2026” is not a date (YYYY-MM-DD)"),
        (8, "the expiry date cannot be before the completion date"),
        (9, "the same completion as line 3"),
    ]
    assert len(completions(staffed["current"])) == 1  # its good row was not saved either
    assert len(completions(staffed["never"])) == 0
    partial = import_completions(staffed["principal"], data, today=today, partial=True)
    assert partial.saved and partial.recorded == 2 and len(partial.rejected) == 6
    assert [c.completed_on for c in completions(staffed["never"])] == [days_ago(2)]
    again = import_completions(staffed["admin"], _csv(f"nat@example.org,{SIGNS},{days_ago(2)},"), today=today)
    assert again.saved and again.recorded == 0 and again.already == 1


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\xff\xfe\x00b\x00a\x00d", "not UTF-8"),
        (b"name,date\nx,y\n", "lacks the column(s) email, course, completed_on"),
        (b"email,course,completed_on\n", "no completions"),
        (b'email,course,completed_on\n"a,b,c\n', "not valid CSV"),
    ],
)
def test_a_bad_file_is_refused_whole(staffed, data, message):
    with pytest.raises(ImportFileError, match=re.escape(message)):
        import_completions(staffed["admin"], data, today=district_today())


def test_import_page_lists_rejected_rows_and_a_bad_file_is_a_400(staffed, client, login_as):
    login_as(staffed["principal"])
    bad_row = client.post(
        "/training/import",
        data={"file": (io.BytesIO(_csv("nobody@example.org,x,2026-01-01,")), "t.csv")},
        content_type="multipart/form-data",
    )
    page = bad_row.get_data(as_text=True)
    assert (
        bad_row.status_code == 400
        and "Nothing was saved" in page
        and "No account has the email nobody@example.org." in page
    )
    assert re.search(r'<th scope="row" class="num">2</th>', page)
    bad_file = client.post(
        "/training/import", data={"file": (io.BytesIO(b"\x00\x01"), "t.csv")}, content_type="multipart/form-data"
    )
    assert bad_file.status_code == 400 and "not a CSV text file" in bad_file.get_data(as_text=True)
    none = client.post("/training/import", data={}, content_type="multipart/form-data")
    assert none.status_code == 400 and "Choose a CSV file" in none.get_data(as_text=True)
    good = client.post(
        "/training/import",
        data={"file": (io.BytesIO(_csv(f"nat@example.org,{SIGNS},{days_ago(3)},")), "t.csv")},
        content_type="multipart/form-data",
    )
    assert good.status_code == 200 and "Imported" in good.get_data(as_text=True)
    assert completions(staffed["never"])[0].source == "import"


# --- screening by trained staff -------------------------------------------------------------------


def test_a_screening_that_needs_a_training_is_refused_without_a_current_one(staffed, client, login_as):
    counselor, student = staffed["counselor"], make_student(staffed["north"])
    db.session.commit()
    login_as(counselor)
    url = f"/students/{student.id}/screenings/new"
    form = {
        "instrument": instrument("CSE-IT 2.0").id,
        "screened_on": district_today().isoformat(),
        "result": "no_concern",
        "next_step": "none",
    }
    before = client.get(url).get_data(as_text=True)  # said before the form is filled in
    assert "CSE-IT 2.0 (result only) needs a current “CSE-IT screener” training." in before
    assert "You have none on record" in before
    none = client.post(url, data=form)
    assert none.status_code == 400
    assert (
        "Recording a CSE-IT 2.0 screening needs a current “CSE-IT screener” training; you have none on record"
        in none.get_data(as_text=True)
    )
    lapsed_on = days_ago(3)
    make_completion(counselor, SCREENER, completed_on=days_ago(800), expires_on=lapsed_on)
    db.session.commit()
    lapsed = client.post(url, data=form)
    assert lapsed.status_code == 400
    assert f"yours lapsed on {lapsed_on:%b %-d, %Y}" in lapsed.get_data(as_text=True)
    assert f"Yours lapsed on {lapsed_on:%b %-d, %Y}" in client.get(url).get_data(as_text=True)  # said up front
    assert db.session.scalar(select(func.count()).select_from(Screening)) == 0
    # A screening held while the training was valid may still be recorded.
    earlier = client.post(url, data={**form, "screened_on": days_ago(4).isoformat()})
    assert earlier.status_code == 302
    # Instruments that need no training are not affected.
    other = client.post(url, data={**form, "instrument": instrument("SRSS").id})
    assert other.status_code == 302
    make_completion(counselor, SCREENER, completed_on=days_ago(1))
    db.session.commit()
    assert client.post(url, data=form).status_code == 302


def test_the_service_refuses_too(staffed):
    student = make_student(staffed["north"])
    cse = db.session.scalars(select(Instrument).where(Instrument.name.startswith("CSE-IT Brief"))).one()
    with pytest.raises(ServiceError, match="Recording a CSE-IT Brief screening needs a current") as refused:
        record_screening(
            staffed["counselor"],
            student,
            instrument=cse,
            screened_on=district_today(),
            result="no_concern",
            next_step="none",
            today=district_today(),
        )
    assert refused.value.field == "instrument"


def test_the_admin_sets_which_training_an_instrument_needs(staffed, client, login_as):
    login_as(staffed["admin"])
    srss = instrument("SRSS")
    page = client.get(f"/admin/lists/instruments/{srss.id}").get_data(as_text=True)
    assert "Needs a current training" in page and "No training needed" in page
    response = client.post(
        f"/admin/lists/instruments/{srss.id}",
        data={
            "name": srss.name,
            "version": srss.version or "",
            "description": srss.description or "",
            "required_course_id": str(course(TRAUMA).id),
            "is_active": "y",
        },
    )
    assert response.status_code == 302
    db.session.refresh(srss)
    assert srss.required_course_id == course(TRAUMA).id


def test_the_admin_keeps_the_course_catalogue_in_lists(staffed, client, login_as):
    login_as(staffed["admin"])
    response = client.post(
        "/admin/lists/training-courses/new",
        data={
            "name": "Online safety for educators",
            "provider": "State school safety center",
            "hours": "1.5",
            "renewal_months": "36",
            "required_roles": ["staff", "principal"],
            "is_active": "y",
        },
    )
    assert response.status_code == 302
    added = course("Online safety for educators")
    assert (
        added.required_roles == ["staff", "principal"] and added.hours == 1.5 and added.renewal_label == "Every 3 years"
    )
    listing = client.get("/admin/lists/training-courses").get_data(as_text=True)
    assert "Online safety for educators" in listing and "staff, principals" in listing
    assert (
        client.post("/admin/lists/training-courses/new", data={"name": "X", "renewal_months": "0"}).status_code == 400
    )


# --- rescreen reminders ----------------------------------------------------------------------------


def test_a_rescreen_date_that_has_come_shows_on_the_counselors_home(staffed, client, login_as):
    counselor = staffed["counselor"]
    due, later, other = (
        make_student(staffed["north"], given_name=n, family_name="Rescreen") for n in ("Due", "Later", "Done")
    )
    today = district_today()
    srss = instrument("SRSS")
    for student, rescreen_on in ((due, today), (later, today + timedelta(days=5)), (other, today - timedelta(days=1))):
        record_screening(
            counselor,
            student,
            instrument=srss,
            screened_on=today - timedelta(days=30),
            result="possible_concern",
            next_step="rescreen",
            rescreen_on=rescreen_on,
            today=today,
        )
    record_screening(
        counselor,
        other,
        instrument=srss,
        screened_on=today - timedelta(days=1),
        result="no_concern",
        next_step="none",
        today=today,
    )  # screened again: no longer due
    db.session.commit()
    login_as(counselor)
    last = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    page = client.get("/").get_data(as_text=True)
    assert "Rescreens due" in page and "Rescreen Rescreen, Due" in page
    assert "Rescreen, Later" not in page and "Rescreen, Done" not in page
    assert f"/students/{due.id}/screenings/new?instrument={srss.id}" in page
    # The reminders name a student: the page's view is audited (its own row, or counted in the home page's one).
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.actor_id == counselor.id, AuditEvent.id > last)).all()
    assert [r for r in rows if (r.detail or {}).get("rescreens", (r.detail or {}).get("shown")) == 1]
    form = client.get(f"/students/{due.id}/screenings/new?instrument={srss.id}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{srss.id}">|<option value="{srss.id}" selected>', form)


def test_the_home_page_tells_each_person_which_of_their_required_courses_needs_them(staffed, client, login_as):
    login_as(staffed["lapsed"])
    page = client.get("/").get_data(as_text=True)
    notice = page.split("Your training:")[1].split("</div>")[0]
    expiry = (days_ago(400) + timedelta(days=365)).strftime("%b %-d, %Y")
    assert f"{SIGNS}: lapsed on {expiry}." in notice and "/account/training" in notice
    login_as(staffed["never"])
    assert f"{SIGNS}: never completed." in client.get("/").get_data(as_text=True)
    login_as(staffed["due"])
    assert f"{SIGNS}: due for renewal, valid until" in client.get("/").get_data(as_text=True)
    login_as(staffed["current"])
    assert "Your training:" not in client.get("/").get_data(as_text=True)
    # A counselor hears of the screener course the CSE-IT screening needs, before a screening is refused.
    login_as(staffed["counselor"])
    notice = client.get("/").get_data(as_text=True).split("Your training:")[1].split("</div>")[0]
    assert SCREENER in notice and SIGNS not in notice


# --- coverage pages and the district -----------------------------------------------------------------


def test_the_principals_coverage_page_shows_staff_trained(staffed, client, login_as):
    login_as(staffed["principal"])
    page = client.get("/reports/coverage").get_data(as_text=True)
    assert "Staff trained to recognise exploitation" in page
    assert "3 of 7 staff" in page and "See who is not current" in page


# Per school: staff current, due, lapsed, never trained (every role "staff": one course required).
SPLITS = {
    ("middle", "M1"): (12, 3, 0, 2),
    ("middle", "M2"): (15, 0, 4, 1),
    ("middle", "M3"): (10, 10, 10, 10),
    ("elementary", "E1"): (3, 0, 0, 1),
    ("elementary", "E2"): (11, 2, 12, 0),
}


@pytest.fixture
def district(db_session):
    schools = {}
    for (level, name), split in SPLITS.items():
        school = make_school(name=f"{name} School", level=level, sourced_id=f"sch-{name}")
        for _ in range(6):  # students: each level has enough to be reported on its own (reports.groups)
            make_student(school)
        for status, count in zip(("current", "due", "lapsed", "never"), split):
            for _ in range(count):
                person = make_user("staff", schools=[school])
                if status != "never":
                    make_completion(
                        person, SIGNS, completed_on=days_ago({"current": 100, "due": 350, "lapsed": 400}[status])
                    )
        schools[name] = school
    user = make_user("district")
    db_session.commit()
    return user, schools


def _views(today):
    return [district_training(level, 10, today) for level in (None, "middle", "elementary")]


def test_district_training_figures_are_suppressed_and_cannot_be_worked_back(district):
    views = _views(district_today())
    rows = {r["school_sourced_id"]: r for r in views[0].rows}
    assert rows["sch-M3"]["staff"] == 40 and rows["sch-M3"]["share_staff_trained"] == pytest.approx(0.5)
    assert rows["sch-M1"]["staff_due"] == SUPPRESSED and rows["sch-E1"]["staff_current"] == SUPPRESSED
    assert rows["sch-E1"]["share_staff_trained"] == SUPPRESSED
    # What a reader can solve from every published view: nothing withheld.
    hidden = sorted({(r["school_id"], c) for v in views for r in v.rows for c in COUNTS if r[c] is SUPPRESSED}, key=str)
    index = {cell: i for i, cell in enumerate(hidden)}
    equations = []
    for view in views:
        for column in COUNTS:
            if view.totals[column] is not SUPPRESSED:
                equations.append(
                    {index[(r["school_id"], column)]: 1 for r in view.rows if (r["school_id"], column) in index}
                )
        for r in view.rows:
            terms = {(r["school_id"], c): (-1 if c == "staff" else 1) for c in COUNTS}
            equations.append({index[cell]: k for cell, k in terms.items() if cell in index})
    assert hidden and not determined([e for e in equations if e], len(hidden))
    # The same cells are withheld whichever level is shown.
    by_level = {r["school_sourced_id"]: r for v in views[1:] for r in v.rows}
    assert all(by_level[k][c] == rows[k][c] for k in rows for c in COUNTS)


def test_district_page_and_workbook_show_training_by_school(district, client, login_as):
    user, _ = district
    login_as(user)
    page = client.get("/reports/coverage").get_data(as_text=True)
    assert "Staff trained to recognise exploitation" in page and "M3 School" in page
    book = openpyxl.load_workbook(io.BytesIO(client.get("/exports/district.xlsx").get_data()))
    sheet = book["Training"]
    header = [c.value for c in sheet[1]]
    assert header == [name for name, _ in TRAINING_COLUMNS]
    cells = {row[1].value: dict(zip(header, (c.value for c in row))) for row in sheet.iter_rows(min_row=2)}
    assert cells["sch-M3"]["staff"] == 40 and cells["sch-M3"]["share_staff_trained"] == 0.5
    assert cells["sch-M1"]["staff_due"] == SUPPRESSED and cells[""]["row_type"] == "total"


def test_the_training_sheet_is_documented_in_order():
    text = DOCS.read_text()
    section = text[text.index("### Training sheet") :]
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.M)
    assert documented[: len(TRAINING_COLUMNS)] == [name for name, _ in TRAINING_COLUMNS]
