"""Home pages that say what to do: the counselor's cards and the principal's coverage headline.

Each card's figure is what its link to the filtered student list shows; the principal's headline
is the coverage page's own. The caseload fixture (tests/pages/conftest.py) supplies the students.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.checkins.models import CheckIn
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.pages.students.caseload import clock
from school_prevention.reports.coverage import make_period, school_report
from tests.factories import make_checkin_plan, make_flag, make_referral, make_student, make_user
from tests.support.apps import statements_sent
from tests.support.pages import listed


def figure(page: str, label: str) -> tuple[int, str | None]:
    """(the figure under a card's label, the URL of its "see who" link if any)."""
    found = re.search(
        rf"<dt>{re.escape(label)}</dt>\s*<dd><strong>(\d+)</strong>(?: <a href=\"([^\"]+)\">see who</a>)?", page
    )
    assert found, label
    return int(found.group(1)), (found.group(2) or "").replace("&amp;", "&") or None


def _due_later_today(student, counselor):
    """A check-in of a new plan for the student, moved to later today (district time)."""
    plan = make_checkin_plan(student, counselor, now=utcnow())
    first = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan.id).order_by(CheckIn.due_at)).first()
    now = clock()
    first.due_at = now.now + (now.tomorrow_starts - now.now) / 2
    db.session.flush()


def test_the_counselor_s_cards_count_what_their_links_list(client, login_as, caseload):
    s, counselor = caseload["students"], caseload["counselor"]
    _due_later_today(s["Flo"], counselor)
    make_referral(s["Eve"], make_user("staff", schools=[caseload["north"]]), urgency="urgent")
    make_referral(s["Zed"], make_user("staff", schools=[caseload["south"]]), urgency="urgent")  # not their school
    db.session.commit()
    login_as(counselor)
    home = client.get("/").get_data(as_text=True)
    expected = {
        "Students with check-ins overdue": ["Cole, Cy"],
        "Students with a check-in due today": ["Fox, Flo"],
        "Urgent flags without a check-in plan": ["Abbot, Ana"],
    }
    for label, names in expected.items():
        n, link = figure(home, label)
        assert n == len(names) and link, label
        assert listed(client.get(link)) == names, label
    assert figure(home, "New")[0] == 1 and figure(home, "Urgent, waiting for a decision")[0] == 1
    assert 'href="/referrals"' in home and 'href="/checkins"' in home


def test_a_quiet_day_says_so_and_names_no_one(client, login_as, db_session, caseload):
    counselor = make_user("counselor", schools=[caseload["south"]], name="Sam Quiet")
    db_session.commit()
    caseload["students"]["Zed"].is_active = False  # the one flagged student there left
    db_session.commit()
    login_as(counselor)
    home = client.get("/").get_data(as_text=True)
    assert figure(home, "Students with check-ins overdue") == (0, None)
    assert "No referrals waiting." in home and "Mandated reports to record" not in home
    assert "No plan reviews due." in home
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "home.lists.view"))
        == 0
    )


def test_the_counselor_s_home_sends_as_many_statements_for_a_busy_day_as_for_a_quiet_one(
    client, login_as, db_session, caseload
):
    counselor = caseload["counselor"]
    # One mandated report to record: the quiet day's page names a student too, and writes its audit row.
    make_flag(caseload["students"]["Flo"], counselor, category_name="Signs of commercial", severity="high")
    db_session.commit()
    login_as(counselor)
    quiet = statements_sent(client, "/")
    for i in range(15):
        student = make_student(caseload["north"], family_name=f"Busy{i:02d}")
        make_flag(student, counselor, category_name="Signs of commercial", severity="urgent")  # a report to record
        make_referral(student, make_user("staff", schools=[caseload["north"]]), urgency="urgent")
    db_session.commit()
    home = client.get("/").get_data(as_text=True)
    assert "Busy14" in home and figure(home, "Urgent flags without a check-in plan")[0] == 16
    assert home.count("Signs of commercial") == 16
    assert statements_sent(client, "/") == quiet


def test_the_principal_sees_the_coverage_headline_and_who_is_not_covered(client, login_as, caseload):
    login_as(caseload["principal"])
    home = client.get("/").get_data(as_text=True)
    row = school_report(caseload["north"], make_period(utcnow())).totals
    card = home.split('id="coverage-')[1].split("</section>")[0]
    assert figure(card, "Flagged")[0] == row["flagged_students"] == 3
    assert figure(card, "Covered by neither")[0] == row["flagged_uncovered"] == 2
    assert re.search(r"<dt>With a check-in plan</dt>\s*<dd><strong>33%</strong> <span class=\"subtle\">1 of 3", card)
    names = re.findall(r'<a href="/students/\d+">([^<]+)</a>', card)
    assert names == ["Abbot, Ana", "Cole, Cy"]  # most severe first, as on the coverage page
    link = re.search(r'<a href="([^"]+)">All 2 on the student list</a>', card).group(1).replace("&amp;", "&")
    assert sorted(listed(client.get(link))) == names
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "home.uncovered.view")).all()
    assert [r.detail for r in rows] == [{"uncovered_shown": 2}]


def test_an_intervention_plan_whose_review_has_come_is_on_the_counselor_s_home(client, login_as, caseload):
    from datetime import timedelta

    from school_prevention.tiers.services import create_plan

    s, counselor = caseload["students"], caseload["counselor"]
    today = clock().today
    due = create_plan(
        counselor,
        s["Ana"],
        goal="Goes to class",
        measure="Days in class a week",
        baseline=2,
        target=5,
        started_on=today - timedelta(days=30),
        review_on=today - timedelta(days=1),
        program_ids=[],
        today=today - timedelta(days=30),
    )
    create_plan(
        counselor,
        s["Ben"],
        goal="Eats lunch with a friend",
        measure="Lunches with a friend a week",
        baseline=0,
        target=3,
        started_on=today,
        review_on=today + timedelta(days=14),
        program_ids=[],
        today=today,
    )
    db.session.commit()
    login_as(counselor)
    home = client.get("/").get_data(as_text=True)
    card = home.split('id="reviews-h"')[1].split("</section>")[0]
    assert "(1)" in card and f'href="/interventions/{due.id}"' in card
    assert "Abbot, Ana" in card and "Baker, Ben" not in card  # Ben's review is two weeks away
    row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "home.lists.view")).one()
    assert row.detail["plan_reviews"] == 1
