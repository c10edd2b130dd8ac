"""Coverage figures on a small hand-built district whose right answers are known, and the pages' scoping."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from school_prevention.audit.models import AuditEvent
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.permissions import student_scope
from school_prevention.programs.services import enroll
from school_prevention.reports import measures
from school_prevention.reports.coverage import make_period, school_report, uncovered_list
from school_prevention.reports.district import COVERAGE, SUPPRESSED, district_report
from school_prevention.reports.periods import FilterError, last_complete_months
from school_prevention.timezones import district_zone
from tests.factories import make_flag, make_program, make_school, make_student
from tests.support.apps import module_world, statements_sent
from tests.support.worlds import NOW, TODAY, report_district

# The hand-built district (tests/support/worlds.py), built once for the module's tests.
world = module_world(report_district)


@pytest.fixture
def period(world):
    return make_period(NOW)


def test_each_student_counts_where_their_real_coverage_puts_them(world, period):
    row = school_report(world.a, period).totals
    assert row["active_students"] == 12  # s9 has left
    # both: s1; program only: s2, s8; plan only: s3; neither: s4 (waitlisted), s5 (program ended), s6 (plan not kept)
    assert [row[c] for c in COVERAGE] == [7, 1, 2, 1, 3]
    assert (row["flagged_in_program"], row["flagged_with_plan"]) == (3, 2)
    assert (row["share_in_program"], row["share_flagged"]) == (3 / 7, 7 / 12)


def test_breakdowns_by_highest_severity_grade_and_concern(world, period):
    report = school_report(world.a, period)
    severity = {line["label"]: line for line in report.breakdowns["severity"]}
    assert {k: v["flagged_students"] for k, v in severity.items()} == {"Urgent": 1, "High": 2, "Moderate": 3, "Low": 1}
    assert list(severity) == ["Urgent", "High", "Moderate", "Low"]
    assert severity["High"]["flagged_program_only"] == 2  # s2, and s8 whose worst flag is high
    grade = {line["label"]: (line["active_students"], line["flagged_students"]) for line in report.breakdowns["grade"]}
    assert grade == {"Grade 7": (6, 3), "Grade 8": (6, 4)}
    concern = {line["label"]: line["flagged_students"] for line in report.breakdowns["category"]}
    assert list(concern.values()) == sorted(concern.values(), reverse=True)  # most flagged first
    assert concern["Social isolation"] == 6 and concern["Bullying — targeted"] == 2  # s8 counts in both


def test_check_ins_count_only_when_completed_with_an_outcome_on_time(world, period):
    row = school_report(world.a, period).totals
    # Due in the last 30 days with their day passed: 5d (kept), 6d (late), 7d (missed), 9d (cancelled
    # after its time), 10d (left open). Not counted: 8d (cancelled before), 10h ago (still in its day).
    assert (row["checkins_due_30d"], row["checkins_on_time_30d"], row["share_on_time_30d"]) == (5, 1, 1 / 5)
    assert (row["checkins_due_90d"], row["checkins_on_time_90d"]) == (6, 2)  # and the one kept 40 days ago


def test_program_seats_waitlist_and_counselor_caseload(world, period):
    report = school_report(world.a, period)
    assert [(p.name, p.capacity, p.active, p.waitlisted) for p in report.programs] == [("Lunch Group", 3, 3, 1)]
    assert [(c.name, c.n_schools) for c in report.counselors] == [("Casey Two-Schools", 2)]
    row = report.totals
    assert row["counselor_fte"] == 0.5  # one counselor shared by two schools
    assert row["students_per_counselor"] == 24
    seats = ("programs_running", "program_seats", "program_enrolled", "program_waitlisted")
    assert [row[c] for c in seats] == [1, 3, 3, 1]
    assert row["share_seats_filled"] == 1


def test_weekly_trend_puts_activity_in_its_week(world, period):
    weeks = school_report(world.a, period).weeks
    assert len(weeks) == 12 and weeks[-1]["end"] == period.today
    assert sum(w["checkins_due"] for w in weeks) == 6 and sum(w["checkins_on_time"] for w in weeks) == 2
    assert weeks[-1]["flags_opened"] == 10  # every flag of A (resolved, of a student who left) was opened now
    assert weeks[-3]["enrollments_started"] == 5  # seats taken 17 days ago (the waitlisted one has none)
    assert sum(w["enrollments_started"] for w in weeks) == 5


def test_uncovered_list_is_the_neither_count_most_severe_first(world, period):
    listing = uncovered_list(student_scope(world.principal), world.a.id, period, limit=10)
    assert [r.family_name for r in listing.students] == ["Aspen05", "Aspen06", "Aspen04"]  # moderate, moderate, low
    assert [(r.waiting, r.lapsed) for r in listing.students] == [(False, False), (False, True), (True, False)]
    assert listing.categories[world.students[5].id] and not listing.more


def test_uncovered_list_is_one_statement_for_every_user_but_each_sees_only_their_schools(world, period):
    def names(user, school):
        return [r.display_name for r in uncovered_list(student_scope(user), school.id, period, limit=10).students]

    # The user and the school are bind parameters: the same SQL for everyone who may see the list.
    first = measures.uncovered_students(student_scope(world.principal), world.a.id, period).statement
    assert str(measures.uncovered_students(student_scope(world.counselor_c), world.c.id, period).statement) == str(
        first
    )
    assert names(world.principal, world.a) == ["Aspen05, Kid5", "Aspen06, Kid6", "Aspen04, Kid4"]
    assert names(world.counselor, world.b) == [world.students["b2"].display_name]
    assert names(world.counselor_c, world.c) == [world.students["c1"].display_name]
    # The scope is in the SQL, not only in the page's check of the school: another school's
    # students stay out of the list even when asked for by id.
    assert names(world.principal, world.b) == [] and names(world.counselor_c, world.a) == []
    assert names(world.district, world.a) == []  # the district sees no student rows


def test_uncovered_list_stops_at_its_limit_and_says_there_are_more(world, period):
    listing = uncovered_list(student_scope(world.principal), world.a.id, period, limit=2)
    assert [r.family_name for r in listing.students] == ["Aspen05", "Aspen06"] and listing.more
    assert set(listing.categories) == {world.students[5].id, world.students[6].id}


def test_enrolling_an_uncovered_student_moves_them(world, period):
    before = school_report(world.a, period).totals
    new = make_program(world.a, world.counselor, capacity=10, name="Safe Online", starts_on=TODAY - timedelta(days=7))
    enroll(world.counselor, new, [world.students[5]])
    after = school_report(world.a, period).totals
    assert (after["flagged_uncovered"], after["flagged_program_only"]) == (
        before["flagged_uncovered"] - 1,
        before["flagged_program_only"] + 1,
    )


def test_an_enrollment_changes_the_principals_page_at_once(world, client, login_as):
    """Live figures: the next page after an enrollment counts it (nothing cached or precomputed)."""
    login_as(world.principal)
    assert "3 of 7 flagged" in client.get("/reports/coverage").get_data(as_text=True)
    new = make_program(world.a, world.counselor, capacity=10, name="Safe Online", starts_on=TODAY - timedelta(days=7))
    enroll(world.counselor, new, [world.students[5]])
    html = client.get("/reports/coverage").get_data(as_text=True)
    assert "4 of 7 flagged" in html and "Aspen05, Kid5" not in html


def _last_month():
    """The last reporting month that is over (the district page's default period)."""
    return last_complete_months(NOW, district_zone(), 1)[0]


def test_district_rows_agree_with_each_schools_report(world, period):
    last = _last_month()
    report = district_report(last, None, min_n=1, now=NOW)  # nothing withheld
    rows = {r["school_id"]: r for r in report.rows}
    month = make_period(NOW, last.start, last.end)
    for school in (world.a, world.b, world.c):
        mine, in_month = school_report(school, period).totals, school_report(school, month).totals
        row = rows[school.id]
        assert [row[c] for c in ("active_students", *COVERAGE)] == [mine[c] for c in ("active_students", *COVERAGE)]
        # The same columns, derived the same way (reports.columns.complete), on both pages.
        derived = ("flagged_in_program", "flagged_with_plan", "share_flagged", "share_in_program", "share_uncovered")
        assert [row[c] for c in derived] == [mine[c] for c in derived]
        # The last month is both the period and the "last month" columns.
        month_checkins = (in_month["checkins_due_period"], in_month["checkins_on_time_period"])
        assert (row["checkins_due_period"], row["checkins_on_time_period"]) == month_checkins
        assert (row["checkins_due_30d"], row["checkins_on_time_30d"]) == month_checkins
    assert report.totals["flagged_students"] == 7 + 2 + 1
    assert rows[world.a.id]["counselor_fte"] == 0.5 and rows[world.b.id]["counselor_fte"] == 0.5
    assert (report.period.start, report.period.end) == (last.start, last.end) and last.start.weekday() == 0


def test_a_schools_report_and_the_districts_have_one_shape(world, period):
    """The same names on both pages: a school's row is a district row but for the outside support
    (which the school page reads with the students it lists)."""
    school = school_report(world.a, period)
    district = district_report(_last_month(), None, min_n=1, now=NOW)
    outside = {"flagged_outside_support", "share_outside_support"}
    assert set(school.rows[0]) == set(district.rows[0]) - outside
    assert set(school.totals) == set(district.totals) - outside
    line = set(district.breakdowns["severity"][0])  # key, label, the coverage columns and what derives from them
    assert {"key", "label", "flagged_uncovered", "flagged_in_program", "share_with_plan"} <= line
    for dim in ("severity", "category"):
        assert {frozenset(x) for x in school.breakdowns[dim]} == {frozenset(line)}, dim
        assert {frozenset(x) for x in district.breakdowns[dim]} == {frozenset(line)}, dim
    # Grade lines count the students too; this district's are not shown (its schools teach different grades).
    with_students = frozenset(line | {"active_students", "share_flagged"})
    assert {frozenset(x) for x in school.breakdowns["grade"]} == {with_students} and district.grades_apart
    week = {"start", "end", "checkins_due", "checkins_on_time", "share_on_time", "flags_opened", "enrollments_started"}
    assert {frozenset(w) for w in school.weeks} == {frozenset(w) for w in district.weeks} == {frozenset(week)}


def test_a_level_of_one_school_is_reported_with_the_nearest_level(world):
    # Cottonwood is the only elementary school: on its own, its level's figures would be its own.
    report = district_report(_last_month(), None, min_n=1, now=NOW)
    assert [g.key for g in report.groups] == ["elementary-middle"]
    with pytest.raises(FilterError, match="Choose All levels"):
        district_report(_last_month(), "elementary", min_n=1, now=NOW)
    # With a second elementary school, each level stands on its own.
    d = make_school(name="Dogwood Elementary", level="elementary")
    for _ in range(3):
        make_student(d, grade="03")
    report = district_report(_last_month(), "middle", min_n=1, now=NOW)
    assert [g.key for g in report.groups] == ["elementary", "middle"]
    assert {r["school_id"] for r in report.rows} == {world.a.id, world.b.id}
    assert report.totals["school_level"] == "middle" and report.totals["school_name"] == "Total, middle schools"


def test_small_district_figures_are_withheld(world, period):
    report = district_report(_last_month(), None, min_n=10, now=NOW)
    rows = {r["school_id"]: r for r in report.rows}
    a, b = rows[world.a.id], rows[world.b.id]
    assert b["active_students"] is SUPPRESSED and rows[world.c.id]["active_students"] is SUPPRESSED  # 2 and 1
    assert a["active_students"] == 12  # B's 2 and C's 1 protect each other: the total gives only their sum
    assert a["flagged_students"] is SUPPRESSED and a["share_in_program"] is SUPPRESSED
    assert a["program_seats"] == 3 and a["counselor_fte"] == 0.5  # not about students: never withheld
    assert report.totals["flagged_students"] == 10  # a total of 10 is not small: the schools' 7, 2 and 1 stay withheld
    # A school's coverage split is withheld whole: no sum of two parts can be worked out.
    parts = ("flagged_program_and_plan", "flagged_program_only", "flagged_plan_only", "flagged_uncovered")
    assert all(a[c] is SUPPRESSED for c in parts) and a["flagged_in_program"] is SUPPRESSED


# --- the pages ---------------------------------------------------------------------------------


def test_principal_sees_their_school_with_names_and_enroll_links(world, client, login_as):
    login_as(world.principal)
    page = client.get("/reports/coverage")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Aspen Middle" in html
    assert "Aspen04, Kid4" in html and f"/students/{world.students[4].id}/programs" in html
    assert "Plan check-ins" not in html  # check-in plans are the counselors' to start
    assert "Aspen01, Kid1" not in html  # covered students are not on the list


def test_a_long_uncovered_list_links_to_the_rest_and_audits_what_it_showed(world, client, login_as, monkeypatch):
    monkeypatch.setattr("school_prevention.reports.views.UNCOVERED_LIMIT", 2)
    login_as(world.principal)
    html = client.get("/reports/coverage").get_data(as_text=True)
    assert "Aspen05, Kid5" in html and "Aspen06, Kid6" in html and "Aspen04, Kid4" not in html
    assert "Showing the first 2." in html and f"/students?school_id={world.a.id}" in html
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "report.coverage")).one()
    assert (event.actor_id, event.school_id, event.detail) == (world.principal.id, world.a.id, {"uncovered_shown": 2})


def test_the_school_page_sends_as_many_statements_for_a_long_list_as_for_a_short_one(world, client, login_as):
    url = f"/reports/coverage?school={world.a.id}"
    login_as(world.principal)
    three = statements_sent(client, url)
    for i in range(20, 30):
        make_flag(make_student(world.a, grade="06", family_name=f"Aspen{i}"), world.counselor, severity="high")
    db.session.commit()
    assert statements_sent(client, url) == three  # 13 uncovered students: nothing is read row by row


@pytest.mark.parametrize("base_url", ["http://localhost/", "http://localhost/district-app/"])
def test_row_links_are_the_links_url_for_builds(app, base_url):
    from flask import url_for

    from school_prevention.urls import row_url

    with app.test_request_context(base_url=base_url):  # also when the app is mounted under a path
        for endpoint in ("students.detail", "programs.enroll_student", "checkins.plan_new"):
            link = row_url(endpoint, "student_id")
            assert [link(i) for i in (7, 2**31 - 1)] == [url_for(endpoint, student_id=i) for i in (7, 2**31 - 1)]


def test_principal_cannot_open_another_school(world, client, login_as):
    login_as(world.principal)
    assert client.get(f"/reports/coverage?school={world.b.id}").status_code == 404
    assert client.get("/reports/coverage?school=abc").status_code == 400


def test_counselor_of_two_schools_picks_one_and_can_plan(world, client, login_as):
    login_as(world.counselor)
    html = client.get(f"/reports/coverage?school={world.b.id}").get_data(as_text=True)
    assert "Birch Middle" in html and "Plan check-ins" in html
    assert world.students["b2"].display_name in html and "Aspen04" not in html


def test_the_district_page_names_no_student(world, client, login_as):
    login_as(world.district)
    page = client.get("/reports/coverage")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Aspen Middle" in html and "Cottonwood Elementary" in html
    for student in world.students.values():
        assert student.family_name not in html and student.given_name not in html
    assert ">S<" in html


def test_the_district_table_sorts_by_a_column(world, client, login_as):
    login_as(world.district)
    html = client.get("/reports/coverage?sort=active_students&order=desc").get_data(as_text=True)
    assert html.index("Aspen Middle") < html.index("Birch Middle")
    html = client.get("/reports/coverage?sort=school_name&order=desc").get_data(as_text=True)
    assert html.index("Cottonwood Elementary") < html.index("Birch Middle") < html.index("Aspen Middle")


@pytest.mark.parametrize(
    "query, message",
    [
        ("from=2026-11-10&to=2026-11-01", "whole reporting periods only"),
        ("from=2026-10-05&to=2026-10-20", "whole reporting periods only"),
        ("from=2026-10-01", "Give both the first and the last day"),
        ("period=2999-01", "is not over yet"),
        ("period=2026-13", "Choose a reporting period from the list"),
        ("period=1999-12", "Choose a reporting period from the list"),
        ("period=9999-12", "Choose a reporting period from the list"),
        ("from=yesterday", "Not a valid date"),
        ("from=0001-01-01&to=0001-01-31", "from January 2000 on"),
        ("level=elementary", "Choose All levels"),
        ("level=nursery", "Choose a school level from the list"),
    ],
)
def test_bad_district_filters_get_a_message_and_a_400(world, client, login_as, query, message):
    login_as(world.district)
    for path in ("/reports/coverage", "/exports/district.csv", "/exports/district.xlsx"):
        page = client.get(f"{path}?{query}")
        assert page.status_code == 400 and message in page.get_data(as_text=True), (path, query)


def test_a_whole_period_can_be_asked_for_by_its_calendar_dates(world, client, login_as):
    login_as(world.district)
    last = _last_month()
    first, final = last.calendar
    html = client.get(f"/reports/coverage?from={first}&to={final}").get_data(as_text=True)
    assert f'<option selected value="{last.key}">' in html
    html = client.get(f"/reports/coverage?period={last.key}").get_data(as_text=True)
    assert last.label in html and "Weeks run Monday to" in html


def test_period_is_checked_against_today(db_session):
    from school_prevention.reports.coverage import PeriodError, build_period

    today = make_period(utcnow()).today
    assert build_period(None, None).start == today - timedelta(days=83)
    with pytest.raises(PeriodError):
        build_period(None, today + timedelta(days=1))


def test_the_district_charts_draw_only_published_figures(world, client, login_as):
    from school_prevention.reports.district import district_report as build

    login_as(world.district)
    html = client.get("/reports/coverage").get_data(as_text=True)
    report = build(_last_month(), None, min_n=10, now=NOW)
    titles = re.findall(r"<title>([^<]*): ([^<]*)</title>", html)
    for week in report.weeks:
        label = week["start"].strftime("%b %-d")
        for series, key in (
            ("Check-ins due", "checkins_due"),
            ("Kept on time", "checkins_on_time"),
            ("New flags", "flags_opened"),
            ("Students seated in a program", "enrollments_started"),
        ):
            drawn = [value for name, value in titles if name == f"{series}, {label}"]
            assert drawn == ([] if week[key] == SUPPRESSED else [f"{week[key]:,}"]), (series, label)
    # The coverage split of the district is not drawn: one of its parts is withheld.
    assert report.totals["flagged_program_and_plan"] == SUPPRESSED and 'id="split-chart"' not in html
    assert "In a program and a plan: <strong>S</strong>" in html


def test_the_district_program_list_and_home_withhold_what_the_export_does(world, client, login_as):
    login_as(world.district)
    page = client.get("/programs?show=all").get_data(as_text=True)
    lunch = page[page.index("Lunch Group") : page.index("</tr>", page.index("Lunch Group"))]
    # Three seats taken and one waiting: small counts, as the export's program_enrolled for Aspen.
    assert re.findall(r'<td class="num">([^<]*)</td>', lunch) == ["3", "S", "S", "S"]
    assert "<td>S</td>" in lunch  # no fill bar drawn from a withheld count
    foot = page[page.index("<tfoot>") : page.index("</tfoot>")]
    assert re.findall(r'<td class="num">([^<]*)</td>', foot) == ["8", "—", "—", "—"]  # no total made of withheld ones
    home = client.get("/").get_data(as_text=True)
    assert re.search(r"Birch Middle</th>\s*<td>Middle</td>\s*<td class=\"num\">S</td>", home)
    assert "District total: <strong>15</strong>" in home
    # The school's own staff see their counts.
    login_as(world.principal)
    lunch = client.get("/programs?show=all").get_data(as_text=True)
    assert "Lunch Group" in lunch and ">S<" not in lunch
