"""The student list and page: scoped to one's schools, searchable, audited, never cached."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.extensions import db
from school_prevention.programs.models import Enrollment
from tests.factories import make_school, make_student, make_user
from tests.support.apps import statements_sent


@pytest.fixture
def district(db_session):
    north, south = make_school(name="North Middle"), make_school(name="South High")
    world = {
        "north": north,
        "south": south,
        "maria": make_student(north, given_name="Maria", family_name="Garcia", identifier="700001"),
        "mario": make_student(north, given_name="Mario", family_name="Gartner"),
        "left": make_student(north, given_name="Lena", family_name="Garvey", is_active=False),
        "sam": make_student(south, given_name="Sam", family_name="Garcia"),
        "counselor": make_user("counselor", schools=[north]),
        "principal": make_user("principal", schools=[south]),
    }
    db_session.commit()
    return world


def names(response) -> list[str]:
    html = response.data.decode()
    return [n for n in ("Garcia, Maria", "Gartner, Mario", "Garvey, Lena", "Garcia, Sam") if n in html]


def test_list_shows_only_own_schools(client, login_as, district):
    login_as(district["counselor"])
    response = client.get("/students")
    assert response.status_code == 200
    assert names(response) == ["Garcia, Maria", "Gartner, Mario"]


def test_search_by_name_parts_and_by_sis_id(client, login_as, district):
    login_as(district["counselor"])
    assert names(client.get("/students?q=garc")) == ["Garcia, Maria"]
    assert names(client.get("/students?q=mar gar")) == ["Garcia, Maria", "Gartner, Mario"]
    assert names(client.get("/students?q=Garcia, Maria")) == ["Garcia, Maria"]
    assert names(client.get("/students?q=700001")) == ["Garcia, Maria"]
    assert names(client.get("/students?q=%25")) == []  # LIKE wildcards are literal
    assert names(client.get("/students?q=gar&include_inactive=y")) == [
        "Garcia, Maria",
        "Gartner, Mario",
        "Garvey, Lena",
    ]


def test_a_blank_school_filter_means_all_my_schools(client, login_as, district):
    login_as(district["counselor"])  # " " answered 500 (found by the fuzz test)
    assert names(client.get("/students?school=%20")) == ["Garcia, Maria", "Gartner, Mario"]


def test_bad_query_string_gets_a_message_and_400(client, login_as, district):
    login_as(district["counselor"])
    for query in ("page=0", "page=abc", f"school={district['south'].id}", "grade=99", "q=" + "x" * 101):
        response = client.get(f"/students?{query}")
        assert response.status_code == 400, query
        assert b"field" in response.data or b"Not a valid" in response.data or b"must be" in response.data, query


def test_nul_byte_in_the_search_is_a_400_with_a_message(client, login_as, district):
    login_as(district["counselor"])
    for query in ("q=%00", "q=gar%00cia", "school=%00"):
        response = client.get(f"/students?{query}")
        assert response.status_code == 400, query
        assert b"not allowed (a NUL byte" in response.data, query


def test_page_past_the_end_offers_the_first_page(client, login_as, district):
    login_as(district["counselor"])
    response = client.get("/students?page=9")
    assert response.status_code == 200
    assert b"There is no page 9" in response.data


def test_student_page_in_scope_and_404_outside(client, login_as, district):
    login_as(district["counselor"])
    response = client.get(f"/students/{district['maria'].id}")
    assert response.status_code == 200
    assert b"Garcia, Maria" in response.data
    other = client.get(f"/students/{district['sam'].id}")
    assert other.status_code == 404
    assert b"Garcia, Sam" not in other.data
    assert client.get("/students/999999").status_code == 404


def test_principal_sees_own_school_only(client, login_as, district):
    login_as(district["principal"])
    assert names(client.get("/students")) == ["Garcia, Sam"]
    assert client.get(f"/students/{district['maria'].id}").status_code == 404


def count_audit(action, **where):
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    for column, value in where.items():
        query = query.where(getattr(AuditEvent, column) == value)
    return db.session.scalar(query)


def test_each_student_page_view_writes_one_audit_row(client, login_as, district):
    counselor, maria = district["counselor"], district["maria"]
    login_as(counselor)
    client.get(f"/students/{maria.id}")
    client.get(f"/students/{maria.id}")
    assert count_audit("student.view", student_id=maria.id, actor_id=counselor.id) == 2
    row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "student.view")).first()
    assert row.school_id == district["north"].id and row.ip == "127.0.0.1"
    # A refused view leaves no view row for that student.
    client.get(f"/students/{district['sam'].id}")
    assert count_audit("student.view", student_id=district["sam"].id) == 0


def test_each_list_view_writes_one_audit_row_without_the_search_text(client, login_as, district):
    login_as(district["counselor"])
    client.get("/students?q=garcia")
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "student.list")).all()
    assert len(rows) == 1
    assert rows[0].detail == {"page": 1, "shown": 1, "total": 1, "searched": True, "filtered": False}
    assert "garcia" not in str(rows[0].detail).lower()


def test_pages_with_student_data_are_not_cached_and_carry_security_headers(client, login_as, district):
    login_as(district["counselor"])
    response = client.get(f"/students/{district['maria'].id}")
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.data.decode()  # no inline script: the CSP would block it


def test_pagination(client, login_as, db_session, app):
    school = make_school()
    for i in range(app.config["STUDENTS_PER_PAGE"] + 5):
        make_student(school, family_name=f"Zed{i:03d}")
    user = make_user("counselor", schools=[school])
    db_session.commit()
    login_as(user)
    first = client.get("/students").data.decode()
    second = client.get("/students?page=2").data.decode()
    assert "Page 1 of 2" in first and "Zed000" in first and "Zed054" not in first
    assert "Zed054" in second and "Zed000" not in second


def test_the_list_sends_as_many_statements_for_a_full_page_as_for_one_student(client, login_as, db_session, app):
    school = make_school()
    make_student(school, family_name="Alone")
    user = make_user("counselor", schools=[school])
    db_session.commit()
    login_as(user)
    one = statements_sent(client, "/students")
    for i in range(app.config["STUDENTS_PER_PAGE"]):
        make_student(school, family_name=f"Zed{i:03d}")
    db_session.commit()
    page = client.get("/students").get_data(as_text=True)
    assert "Alone," in page and "Zed000," in page
    assert statements_sent(client, "/students") == one  # a page of students: nothing is read row by row


def _full_record(student, counselor, staff, school):
    """Give student something in every section of the page: flags with history, referrals,
    screenings, programs (attended, waitlisted, ended), a mentoring match and check-ins."""
    from datetime import timedelta

    from school_prevention.checkins import services as checkins
    from school_prevention.checkins.models import CheckIn
    from school_prevention.db import utcnow
    from school_prevention.flags.services import change_status
    from school_prevention.programs.mentoring import move_match, open_match
    from school_prevention.programs.services import end_enrollment, enroll, record_session
    from school_prevention.screenings.services import record_screening
    from tests.factories import instrument, make_checkin_plan, make_flag, make_mentor, make_program, make_referral

    now = utcnow()
    today = now.date()
    make_flag(student, counselor, category_name="Signs of commercial", severity="urgent")
    resolved = make_flag(student, counselor, category_name="Bullying", severity="high")
    change_status(counselor, resolved, "resolved", "Sorted out.")
    make_referral(student, staff, urgency="urgent")
    make_referral(student, staff)
    for days in (3, 40):
        record_screening(
            counselor,
            student,
            instrument=instrument(),
            screened_on=today - timedelta(days=days),
            result="possible_concern",
            next_step="none",
            today=today,
        )
    coping = make_program(school, counselor, name=f"Coping {student.id}")
    full = make_program(school, counselor, capacity=1, name=f"Media {student.id}")
    scouts = make_program(school, counselor, name=f"Scouts {student.id}")
    enroll(counselor, coping, [student])
    enroll(counselor, full, [make_student(school, given_name="First", family_name="InLine")])
    enroll(counselor, full, [student])
    enroll(counselor, scouts, [student])
    last_school_day = today - timedelta(days=1)
    while last_school_day.weekday() >= 5:  # a session is held on a school day
        last_school_day -= timedelta(days=1)
    for days, status in ((0, "present"), (7, "present"), (14, "absent")):
        record_session(
            counselor,
            coping,
            held_on=last_school_day - timedelta(days=days),
            minutes=45,
            topic=None,
            attendance={student.id: status},
            roster_ids={student.id},
        )
    done = db.session.scalars(select(Enrollment).where(Enrollment.program_id == scouts.id)).one()
    end_enrollment(counselor, done, "completed", "Season over")
    match = open_match(counselor, student)
    move_match(counselor, match, "waiting", today=today, check_months=12)
    move_match(
        counselor,
        match,
        "matched",
        today=today,
        check_months=12,
        mentor=make_mentor(school, counselor, checked_on=today - timedelta(days=30), name="Rosa Mentor"),
    )
    plan = make_checkin_plan(
        student, counselor, now=now - timedelta(days=30), starts_on=(now - timedelta(days=30)).date()
    )
    past = db.session.scalars(
        select(CheckIn).where(CheckIn.plan_id == plan.id, CheckIn.due_at < now).order_by(CheckIn.due_at)
    ).all()
    checkins.complete(counselor, past[0], outcome="doing_well", note=None, now=now)
    checkins.mark_missed(counselor, past[1], now=now)


@pytest.mark.parametrize("role", ["counselor", "principal"])
def test_the_student_page_sends_as_many_statements_for_a_full_record_as_for_an_empty_one(
    client, login_as, db_session, role
):
    school = make_school()
    empty, full = make_student(school, family_name="Empty"), make_student(school, family_name="Full")
    counselor, viewer = make_user("counselor", schools=[school]), make_user(role, schools=[school])
    staff = make_user("staff", schools=[school])
    db_session.commit()
    login_as(viewer)
    few = statements_sent(client, f"/students/{empty.id}")
    _full_record(full, counselor, staff, school)
    db_session.commit()
    page = client.get(f"/students/{full.id}").get_data(as_text=True)
    assert statements_sent(client, f"/students/{full.id}") == few
    # What the full page shows, read in those few statements.
    assert "Mandated report not recorded" in page and "1 resolved" in page
    assert "2 sessions, 90 minutes attended" in page and "waitlist #1" in page and "1 past" in page
    assert "Matched</a> with Rosa Mentor" in page and "1 completed" in page
    if role == "counselor":
        assert "Referral from" in page and "Possible concern" in page
        timeline = page.split('id="timeline-h"')[1]
        for line in (
            "Bullying — targeted: resolved",
            "Referral from",
            "Check-in: met: doing well",
            "Check-in missed",
            "Check-in plan started: every week",
            "Scouts",
            "completed",
            "possible concern",
        ):
            assert line in timeline, line
    else:  # principals see neither referrals, screenings nor the timeline
        assert "Referral from" not in page and "Possible concern" not in page and 'id="timeline-h"' not in page


def test_the_navigation_is_each_role_s_own_and_marks_the_current_section(app, client, login_as, district):
    def nav(response):
        header = response.get_data(as_text=True).split('class="main-nav"')[1].split("</nav>")[0]
        return header

    login_as(district["counselor"])
    counselor_nav = nav(client.get(f"/students/{district['maria'].id}"))
    assert 'href="/referrals"' in counselor_nav and 'href="/checkins"' in counselor_nav
    assert '<a href="/students" aria-current="page">Students</a>' in counselor_nav
    assert '<a href="/" aria-current="page">' not in counselor_nav
    # The same app, another role and another page: the lists made once per role and page do not mix.
    principal = app.test_client()
    login_as(district["principal"], principal)
    principal_nav = nav(principal.get("/"))
    assert 'href="/referrals"' not in principal_nav and 'href="/checkins"' not in principal_nav
    assert '<a href="/" aria-current="page">Home</a>' in principal_nav and 'href="/reports/coverage"' in principal_nav
    assert nav(client.get(f"/students/{district['maria'].id}")) == counselor_nav
