"""The caseload: the student list's filters and sorts, saved views, and bulk actions on a selection.

One school's students, each in a different situation (urgent flag and no plan, urgent flag and a
kept plan, a plan whose check-ins were left open, a program seat, a waitlist place, nothing), and
a student of another school the counselor must never see.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.checkins.models import CheckInPlan
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.programs.models import Enrollment
from school_prevention.students.models import CounselorAssignment, SavedView
from tests.factories import category, make_flag, make_program, make_school, make_student, make_user
from tests.support.apps import module_world, statements_sent
from tests.support.pages import listed
from tests.support.worlds import NAMES, caseload_district

# The caseload of tests/support/worlds.py, built once for the module (tests/pages/conftest.py builds it per test).
caseload = module_world(lambda: caseload_district(db.session), name="caseload")


def row_of(page: str, name: str) -> str:
    """The rest of the table row that names the student (after the link to their page)."""
    return page.split(f">{name}</a>")[1].split("</tr>")[0]


def test_filters_by_flag_plan_program_and_check_ins(client, login_as, caseload):
    login_as(caseload["counselor"])
    bullying = category("Bullying").id
    assert listed(client.get("/students")) == list(NAMES)  # the other school's student never shows
    assert listed(client.get("/students?severity=urgent")) == ["Abbot, Ana", "Baker, Ben"]
    assert listed(client.get("/students?severity=urgent&plan=none")) == ["Abbot, Ana"]
    assert listed(client.get("/students?plan=kept")) == ["Baker, Ben"]
    assert listed(client.get("/students?plan=overdue")) == ["Cole, Cy"]
    assert listed(client.get("/students?checkins=overdue")) == ["Cole, Cy"]
    assert listed(client.get(f"/students?category={bullying}")) == ["Abbot, Ana"]  # Dee's bullying flag is resolved
    assert listed(client.get(f"/students?category={bullying}&flag_status=resolved")) == ["Diaz, Dee"]
    assert listed(client.get("/students?flag_status=current")) == ["Abbot, Ana", "Baker, Ben", "Cole, Cy"]
    assert listed(client.get("/students?program=any")) == ["Diaz, Dee"]
    assert listed(client.get("/students?program=waitlisted")) == ["Eng, Eve"]
    assert listed(client.get(f"/students?program={caseload['club'].id}")) == ["Diaz, Dee", "Eng, Eve"]
    assert "Diaz, Dee" not in listed(client.get("/students?program=none"))


def test_the_list_shows_each_student_s_flags_plan_and_overdue_check_ins(client, login_as, caseload):
    login_as(caseload["counselor"])
    page = client.get("/students?flag_status=current").get_data(as_text=True)
    ana, ben, cy = (row_of(page, name) for name in ("Abbot, Ana", "Baker, Ben", "Cole, Cy"))
    assert "urgent</span> Bullying" in ana and "no plan" in ana
    assert "plan kept" in ben
    assert "plan overdue" in cy and re.search(r"<strong>\d overdue</strong>", cy)


def test_sorts_by_severity_and_by_last_contact(client, login_as, caseload):
    login_as(caseload["counselor"])
    by_severity = listed(client.get("/students?sort=severity"))
    assert by_severity[:3] == ["Abbot, Ana", "Baker, Ben", "Cole, Cy"]  # urgent, urgent, high; then the unflagged
    from school_prevention.checkins import services
    from school_prevention.checkins.models import CheckIn

    cy = caseload["students"]["Cy"]
    first = db.session.scalars(select(CheckIn).where(CheckIn.student_id == cy.id).order_by(CheckIn.due_at)).first()
    services.complete(caseload["counselor"], first, outcome="doing_well", note=None, now=utcnow())
    db.session.commit()
    by_contact = listed(client.get("/students?sort=last_contact"))
    assert by_contact[-1] == "Cole, Cy"  # the only one seen: last; never seen first, by name
    assert by_contact[:5] == ["Abbot, Ana", "Baker, Ben", "Diaz, Dee", "Eng, Eve", "Fox, Flo"]


def test_counselor_filter_and_bulk_assign(client, login_as, caseload):
    s = caseload["students"]
    login_as(caseload["counselor"])
    response = client.post(
        "/students/bulk/assign",
        data={"student": [s["Ana"].id, s["Cy"].id, s["Zed"].id], "counselor_id": caseload["counselor"].id},
    )
    assert response.status_code == 404  # one of them is not the counselor's to see: nothing is done
    assert db.session.scalar(select(func.count()).select_from(CounselorAssignment)) == 0
    response = client.post(
        "/students/bulk/assign", data={"student": [s["Ana"].id, s["Cy"].id], "counselor_id": caseload["counselor"].id}
    )
    assert response.status_code == 200
    assert "2 of 2 done" in response.get_data(as_text=True)
    assert listed(client.get("/students?counselor=me")) == ["Abbot, Ana", "Cole, Cy"]
    assert "Abbot, Ana" not in listed(client.get("/students?counselor=none"))
    again = client.post(
        "/students/bulk/assign", data={"student": [s["Ana"].id, s["Ben"].id], "counselor_id": caseload["counselor"].id}
    ).get_data(as_text=True)
    assert "1 of 2 done" in again and "already on Dana Counselor’s caseload" in again
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "student.counselor.assigned")
        )
        == 3
    )
    # A principal assigns another counselor: the students move to that caseload.
    login_as(caseload["principal"])
    moved = client.post("/students/bulk/assign", data={"student": [s["Ana"].id], "counselor_id": caseload["other"].id})
    assert "Assigned to Eli Counselor" in moved.get_data(as_text=True)
    assert listed(client.get(f"/students?counselor={caseload['other'].id}")) == ["Abbot, Ana"]


@pytest.mark.parametrize(
    "query",
    [
        "severity=bogus",
        "plan=maybe",
        "program=999999",
        "category=abc",
        "sort=zzz",
        "counselor=123456",
        "checkins=%00",
        "flag_status=closed",
        "program=me",
    ],
)
def test_bad_filter_values_get_a_message_and_400(client, login_as, caseload, query):
    login_as(caseload["counselor"])
    response = client.get(f"/students?{query}")
    assert response.status_code == 400
    assert b"Not a valid choice" in response.data or b"not allowed" in response.data
    assert b"<tbody>" not in response.data  # no list of students under a refused filter
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "student.list")) == 0
    )


@pytest.mark.parametrize("field", ["program", "counselor", "plan", "severity", "tier", "intervention", "sort"])
def test_a_blank_filter_means_any(client, login_as, caseload, field):
    """A filter sent as a space (a hand-edited link) lists everyone, as an empty one does (was a 500 for program)."""
    login_as(caseload["counselor"])
    everyone = listed(client.get("/students"))
    response = client.get(f"/students?{field}=%20")
    assert response.status_code == 200
    assert listed(response) == everyone


def test_the_uncovered_on_the_list_are_the_coverage_page_s(client, login_as, caseload):
    """Flagged, in no running program and with no kept plan: the same students the coverage report counts."""
    from school_prevention.reports.coverage import make_period, school_report

    login_as(caseload["principal"])
    uncovered = listed(client.get("/students?flag_status=current&program=none&plan=not_kept"))
    kept = listed(client.get("/students?flag_status=current&plan=kept"))
    row = school_report(caseload["north"], make_period(utcnow())).totals
    assert uncovered == ["Abbot, Ana", "Cole, Cy"] and row["flagged_uncovered"] == 2
    assert kept == ["Baker, Ben"] and row["flagged_with_plan"] == 1


def test_a_filtered_page_sends_as_many_statements_for_fifty_students_as_for_one(client, login_as, db_session, app):
    school = make_school()
    user = make_user("counselor", schools=[school])
    first = make_student(school, family_name="Alone")
    make_flag(first, user, severity="urgent")
    db_session.commit()
    login_as(user)
    url = "/students?severity=urgent&plan=none&sort=severity"
    one = statements_sent(client, url)
    for i in range(app.config["STUDENTS_PER_PAGE"]):
        student = make_student(school, family_name=f"Zed{i:03d}")
        make_flag(student, user, severity="urgent")
        make_flag(student, user, category_name="Bullying", severity="high")
    db_session.commit()
    assert len(listed(client.get(url))) == app.config["STUDENTS_PER_PAGE"]
    assert statements_sent(client, url) == one
    assert one <= 13, one  # the page, its scoping, the audit row with its chain head, the session touch


# --- saved views ------------------------------------------------------------------------------------


def test_saved_views_are_listed_as_quick_links_and_deletable(client, login_as, caseload):
    login_as(caseload["counselor"])
    response = client.post(
        "/students/views", data={"name": "My watchlist", "query": "severity=urgent&plan=none&q=abbot&page=2"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/students?severity=urgent&plan=none"  # no name search, no page
    view = db.session.scalars(select(SavedView)).one()
    assert view.query == "severity=urgent&plan=none" and view.user_id == caseload["counselor"].id
    page = client.get("/students").get_data(as_text=True)
    assert 'href="/students?severity=urgent&amp;plan=none">My watchlist</a>' in page
    assert "My watchlist" in client.get("/").get_data(as_text=True)  # and on the home page
    # The same again (a double click): said, not doubled. Another filter under the same name: refused.
    again = client.post("/students/views", data={"name": "my watchlist", "query": "severity=urgent&plan=none"})
    assert again.status_code == 409 and "already saved" in again.get_data(as_text=True)
    clash = client.post("/students/views", data={"name": "My watchlist", "query": "plan=kept"})
    assert clash.status_code == 400 and "already have a view named" in clash.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(SavedView)) == 1
    # Someone else's view is not found; one's own is deleted once.
    login_as(caseload["other"])
    assert client.post(f"/students/views/{view.id}/delete").status_code == 404
    login_as(caseload["counselor"])
    assert client.post(f"/students/views/{view.id}/delete").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(SavedView)) == 0
    twice = client.post(f"/students/views/{view.id}/delete")
    assert twice.status_code == 409 and "already deleted" in twice.get_data(as_text=True)


@pytest.mark.parametrize(
    "data,says",
    [
        ({"name": "", "query": "plan=kept"}, "Name the view"),
        ({"name": "x" * 81, "query": "plan=kept"}, "at most 80 characters"),
        ({"name": "Nothing", "query": "q=abbot"}, "Choose at least one filter"),
        ({"name": "Bad", "query": "severity=bogus"}, "Choose at least one filter"),
    ],
)
def test_a_view_that_cannot_be_saved_says_why(client, login_as, caseload, data, says):
    login_as(caseload["counselor"])
    response = client.post("/students/views", data=data)
    assert response.status_code == 400
    assert says in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(SavedView)) == 0


# --- bulk actions -----------------------------------------------------------------------------------

PLAN = {
    "counselor": "me",
    "cadence": "weekly",
    "local_time": "10:30",
    "duration_minutes": "20",
    "non_school_day": "move",
    "link_flag": "y",
    "reason": "Urgent flag",
}


def _plan_form(**overrides):
    data = dict(PLAN, starts_on=(utcnow() + timedelta(days=1)).date().isoformat())
    data.update(overrides)
    return data


def test_bulk_plans_start_one_each_and_skip_who_already_has_one(client, login_as, caseload):
    s = caseload["students"]
    login_as(caseload["counselor"])
    picked = [s["Ana"].id, s["Ben"].id, s["Flo"].id]
    form = client.get("/students/bulk/plans", query_string={"student": picked, "back": "severity=urgent"})
    assert form.status_code == 200
    text = form.get_data(as_text=True)
    assert "3 students ticked" in text and "Abbot, Ana" in text and 'href="/students?severity=urgent"' in text
    response = client.post("/students/bulk/plans", data=_plan_form(student=picked))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "2 of 3 done" in page
    assert "Skipped: already has a check-in plan" in row_of(page, "Baker, Ben")
    assert "linked to the urgent bullying — targeted flag" in row_of(page, "Abbot, Ana")
    plans = db.session.scalars(
        select(CheckInPlan).where(CheckInPlan.student_id.in_(picked), CheckInPlan.status == "active")
    ).all()
    assert sorted(p.student_id for p in plans) == sorted(picked)  # Ben keeps his one plan
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "checkin_plan.created", AuditEvent.student_id.in_(picked))
        )
        == 2 + 1
    )  # + Ben's own
    assert listed(client.get("/students?severity=urgent&plan=none")) == []


@pytest.mark.parametrize(
    "overrides,field_says",
    [
        ({"duration_minutes": "2"}, "Use a length from 5 to 240 minutes"),
        ({"local_time": ""}, "Enter the time of day"),
        ({"cadence": "custom", "rrule": ""}, "Enter a rule"),
        ({"until": "2001-01-01"}, "The plan must end after it starts"),
    ],
)
def test_bulk_plans_with_a_bad_value_change_nothing(client, login_as, caseload, overrides, field_says):
    s = caseload["students"]
    login_as(caseload["counselor"])
    response = client.post("/students/bulk/plans", data=_plan_form(student=[s["Ana"].id, s["Flo"].id], **overrides))
    assert response.status_code == 400
    assert field_says in response.get_data(as_text=True)
    assert (
        db.session.scalar(
            select(func.count()).select_from(CheckInPlan).where(CheckInPlan.student_id.in_([s["Ana"].id, s["Flo"].id]))
        )
        == 0
    )


def test_a_selection_of_unknown_or_huge_ids_is_not_found(client, login_as, caseload):
    login_as(caseload["counselor"])
    for ids in (["999999"], [str(2**31)], ["99999999999"]):
        for url in ("/students/bulk/plans", "/students/bulk/enroll", "/students/bulk/assign"):
            assert client.get(url, query_string={"student": ids}).status_code == 404, (url, ids)
            assert client.post(url, data={"student": ids}).status_code == 404, (url, ids)


@pytest.mark.parametrize("student", ["", "abc", "1" * 20, "²"])
def test_a_bulk_action_without_a_valid_selection_is_a_400_with_a_message(client, login_as, caseload, student):
    login_as(caseload["counselor"])
    for url in ("/students/bulk/plans", "/students/bulk/enroll", "/students/bulk/assign"):
        response = client.get(url, query_string={"student": student} if student else {})
        assert response.status_code == 400, url
        assert b"Tick at least one student" in response.data or b"selection is not valid" in response.data


def test_a_principal_may_not_start_plans(client, login_as, caseload):
    login_as(caseload["principal"])
    s = caseload["students"]
    assert client.post("/students/bulk/plans", data=_plan_form(student=[s["Ana"].id])).status_code == 403
    page = client.get("/students").get_data(as_text=True)
    assert "Start check-in plans" not in page and "Enroll in a program…" in page


def test_bulk_enroll_follows_capacity_and_the_waitlist(client, login_as, caseload):
    s = caseload["students"]
    counselor = caseload["counselor"]
    scouts = make_program(caseload["north"], counselor, capacity=1, name="Scouts")
    db.session.commit()
    login_as(counselor)
    form = client.get("/students/bulk/enroll", query_string={"student": [s["Ana"].id]}).get_data(as_text=True)
    assert "Coping club (full: new students join the waitlist)" in form and "Scouts (1 of 1 seats free)" in form
    response = client.post(
        "/students/bulk/enroll", data={"student": [s["Cy"].id, s["Ana"].id], "program_id": scouts.id}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "2 of 2 done" in page
    # Seats in the list's order (by name): Ana first.
    assert "Enrolled in Scouts" in row_of(page, "Abbot, Ana")
    assert "full: added to its waitlist" in row_of(page, "Cole, Cy")
    statuses = dict(
        db.session.execute(
            select(Enrollment.student_id, Enrollment.status).where(Enrollment.program_id == scouts.id)
        ).all()
    )
    assert statuses == {s["Ana"].id: "active", s["Cy"].id: "waitlisted"}
    again = client.post("/students/bulk/enroll", data={"student": [s["Cy"].id], "program_id": scouts.id})
    assert "already in this program or on its waitlist" in again.get_data(as_text=True)
    missing = client.post("/students/bulk/enroll", data={"student": [s["Cy"].id], "program_id": ""})
    assert missing.status_code == 400 and "Choose the program" in missing.get_data(as_text=True)


def test_bulk_pages_write_one_audit_row_each(client, login_as, caseload):
    s = caseload["students"]
    login_as(caseload["counselor"])
    before = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    client.get("/students/bulk/assign", query_string={"student": [s["Ana"].id, s["Ben"].id]})
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
    assert [(r.action, r.detail) for r in rows] == [("caseload.bulk.form.view", {"action": "assign", "students": 2})]


def test_filters_by_tier_and_intervention_plan(client, login_as, caseload):
    from school_prevention.pages.students.caseload import clock
    from school_prevention.tiers.services import create_plan, set_tier

    s, counselor = caseload["students"], caseload["counselor"]
    today = clock().today
    set_tier(counselor, s["Ana"], 2, "Two weeks of missed lunches", 0)
    set_tier(counselor, s["Cy"], 3, "Plan overdue and a new flag", 0)
    create_plan(
        counselor,
        s["Ana"],
        goal="Goes to class",
        measure="Days in class a week",
        baseline=2,
        target=5,
        started_on=today - timedelta(days=20),
        review_on=today,
        program_ids=[],
        today=today - timedelta(days=20),
    )
    db.session.commit()
    login_as(counselor)
    assert listed(client.get("/students?tier=2")) == ["Abbot, Ana"]
    assert listed(client.get("/students?tier=3")) == ["Cole, Cy"]
    assert "Baker, Ben" in listed(client.get("/students?tier=1"))  # never moved: tier 1
    assert listed(client.get("/students?intervention=review_due")) == ["Abbot, Ana"]
    assert listed(client.get("/students?severity=urgent&intervention=none")) == ["Baker, Ben"]
    assert client.get("/students?tier=7").status_code == 400
    assert client.get("/students?tier=%20&intervention=%20").status_code == 200  # blank: any tier
    assert client.get("/students?counselor=%20&category=%20&school=%20").status_code == 200  # blank: anyone
    assert client.get("/students?school=%C2%B2").status_code == 400  # "²" is a digit to isdigit(), not a school
