"""Case work as counselors, principals and staff meet it: flags, notes, reports, referrals, screenings."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from school_prevention.audit.models import AuditEvent
from school_prevention.extensions import db
from school_prevention.flags.models import FlagEvent, RiskFlag
from school_prevention.notifications.models import Notification
from school_prevention.referrals.models import Referral
from school_prevention.screenings.models import Screening
from tests.factories import (
    category,
    instrument,
    make_completion,
    make_flag,
    make_referral,
    make_school,
    make_student,
    make_user,
)
from tests.support.apps import statements_sent

SECRET = "Told me her 'boyfriend' is 24 and pays for her phone."


@pytest.fixture
def school_world(db_session):
    north, south = make_school(name="North"), make_school(name="South")
    world = {
        "north": north,
        "south": south,
        "student": make_student(north, given_name="Ana", family_name="Ruiz", grade="08"),
        "counselor": make_user("counselor", schools=[north]),
        "counselor2": make_user("counselor", schools=[north]),
        "other_counselor": make_user("counselor", schools=[south]),
        "principal": make_user("principal", schools=[north]),
        "staff": make_user("staff", schools=[north]),
        "other_staff": make_user("staff", schools=[south]),
    }
    for counselor in (world["counselor"], world["counselor2"]):
        make_completion(counselor)  # the CSE-IT instruments need a current screener training
    db_session.commit()
    return world


def audit_count(action, **where):
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    for key, value in where.items():
        query = query.where(getattr(AuditEvent, key) == value)
    return db.session.scalar(query)


def test_counselor_opens_a_flag_and_the_note_is_encrypted_at_rest(client, login_as, school_world):
    w = school_world
    login_as(w["counselor"])
    response = client.post(
        f"/students/{w['student'].id}/flags/new",
        data={
            "category": category("Social isolation").id,
            "severity": "moderate",
            "source": "counselor_observation",
            "note": SECRET,
        },
    )
    assert response.status_code == 302
    flag = db.session.scalars(select(RiskFlag)).one()
    raw = db.session.execute(text("SELECT note_ciphertext FROM risk_flag")).scalar()
    assert SECRET not in raw and "boyfriend" not in raw and raw.startswith("gAAAA")
    page = client.get(f"/flags/{flag.id}")
    assert SECRET.replace("'", "&#39;") in page.data.decode()
    assert audit_count("flag.note.read", actor_id=w["counselor"].id, student_id=w["student"].id) == 1
    client.get(f"/flags/{flag.id}")
    assert audit_count("flag.note.read") == 2  # every read has its own row


def test_principal_sees_category_and_status_but_never_the_note(client, login_as, school_world):
    w = school_world
    flag = make_flag(w["student"], w["counselor"], note=SECRET)
    db.session.commit()
    login_as(w["principal"])
    student_page = client.get(f"/students/{w['student'].id}").data.decode()
    flag_page = client.get(f"/flags/{flag.id}").data.decode()
    for html in (student_page, flag_page):
        assert "Social isolation" in html and "boyfriend" not in html
    assert "A restricted note exists" in flag_page and "Open" in flag_page
    assert audit_count("flag.note.read") == 0
    assert client.get(f"/flags/{flag.id}/edit").status_code == 403


@pytest.mark.parametrize("who", ["staff", "other_counselor", "other_staff"])
def test_flag_is_unreachable_outside_the_school_or_role(client, login_as, school_world, who):
    w = school_world
    flag = make_flag(w["student"], w["counselor"], note=SECRET)
    db.session.commit()
    login_as(w[who])
    expected = 403 if who in {"staff", "other_staff"} else 404
    for url in (
        f"/flags/{flag.id}",
        f"/flags/{flag.id}/edit",
        f"/flags/{flag.id}/report",
        f"/students/{w['student'].id}",
    ):
        response = client.get(url)
        assert response.status_code == expected, url
        assert b"boyfriend" not in response.data and b"Social isolation" not in response.data
    assert (
        client.post(f"/flags/{flag.id}/status", data={"status": "resolved", "resolution": "x"}).status_code == expected
    )
    db.session.refresh(flag)
    assert flag.status == "open"


def test_flag_moves_through_statuses_and_keeps_history(client, login_as, school_world):
    w = school_world
    flag = make_flag(w["student"], w["counselor"])
    db.session.commit()
    login_as(w["counselor"])
    assert client.post(f"/flags/{flag.id}/status", data={"status": "monitoring"}).status_code == 302
    refused = client.post(f"/flags/{flag.id}/status", data={"status": "resolved", "resolution": ""})
    assert refused.status_code == 400 and b"Say how the concern was resolved" in refused.data
    client.post(
        f"/flags/{flag.id}/status", data={"status": "resolved", "resolution": "Joined lunch club; has friends now."}
    )
    client.post(f"/flags/{flag.id}/status", data={"status": "open"})
    client.post(
        f"/flags/{flag.id}/edit",
        data={"category": flag.category_id, "severity": "high", "source": "counselor_observation"},
    )
    db.session.refresh(flag)
    assert flag.status == "open" and flag.resolved_at is None and flag.severity == "high"
    assert [e.action for e in reversed(flag.events)] == ["opened", "monitoring", "resolved", "reopened", "edited"]
    page = client.get(f"/flags/{flag.id}").data.decode()
    assert "moderate → high" in page and "Reopened" in page


def test_bad_flag_input_changes_nothing(client, login_as, school_world):
    w = school_world
    login_as(w["counselor"])
    response = client.post(
        f"/students/{w['student'].id}/flags/new", data={"category": "999", "severity": "extreme", "source": "rumour"}
    )
    assert response.status_code == 400
    assert b"Not a valid choice" in response.data
    assert db.session.scalar(select(func.count()).select_from(RiskFlag)) == 0
    flag = make_flag(w["student"], w["counselor"])
    db.session.commit()
    assert client.post(f"/flags/{flag.id}/status", data={"status": "sideways"}).status_code == 400


def test_exploitation_flag_at_high_severity_asks_for_the_report_until_recorded(client, login_as, school_world):
    w = school_world
    login_as(w["counselor"])
    response = client.post(
        f"/students/{w['student'].id}/flags/new",
        data={"category": category("Signs of commercial").id, "severity": "high", "source": "screening"},
    )
    flag = db.session.scalars(select(RiskFlag)).one()
    assert response.headers["Location"] == f"/flags/{flag.id}/report"
    assert b"Mandated report not recorded" in client.get(f"/students/{w['student'].id}").data
    refused = client.post(f"/flags/{flag.id}/status", data={"status": "resolved", "resolution": "done"})
    assert refused.status_code == 400 and b"Record the mandated report" in refused.data
    bad = client.post(
        f"/flags/{flag.id}/report", data={"agency": "", "made_at": "", "reference": "", "not_made_reason": ""}
    )
    assert bad.status_code == 400 and b"Name the agency" in bad.data
    future = client.post(f"/flags/{flag.id}/report", data={"agency": "Hotline", "made_at": "2999-01-01T10:00"})
    assert future.status_code == 400 and b"cannot be in the future" in future.data
    ok = client.post(
        f"/flags/{flag.id}/report", data={"agency": "State hotline", "made_at": "2026-11-20T09:30", "reference": "HL-1"}
    )
    assert ok.status_code == 302
    assert b"Mandated report not recorded" not in client.get(f"/students/{w['student'].id}").data
    db.session.refresh(flag)
    assert flag.report_made_at.hour == 15  # 09:30 in Chicago is 15:30 UTC
    # A low-severity flag in the same category does not ask.
    low = make_flag(w["student"], w["counselor"], category_name="Signs of commercial", severity="low")
    assert not low.needs_mandated_report


def test_staff_referral_notifies_counselors_with_initials_only(client, login_as, school_world):
    w = school_world
    login_as(w["staff"])
    found = client.get("/referrals/new?q=ruiz").data.decode()
    assert "Ruiz, Ana" in found
    response = client.post(
        f"/referrals/new?student={w['student'].id}",
        data={"categories": [category("Bullying — targeted").id], "observation": SECRET, "urgency": "soon"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/referrals/mine"
    notes = db.session.scalars(select(Notification).order_by(Notification.user_id)).all()
    assert sorted(n.user_id for n in notes) == sorted([w["counselor"].id, w["counselor2"].id])
    assert all("AR" in n.title and "Ruiz" not in n.title and "Ana" not in n.title for n in notes)
    raw = db.session.execute(text("SELECT observation_ciphertext FROM referral")).scalar()
    assert "boyfriend" not in raw
    mine = client.get("/referrals/mine").data.decode()
    assert "Received" in mine and "boyfriend" not in mine


def test_staff_cannot_refer_a_student_of_another_school(client, login_as, school_world):
    w = school_world
    login_as(w["other_staff"])
    assert "Ruiz" not in client.get("/referrals/new?q=ruiz").data.decode()
    response = client.post(
        f"/referrals/new?student={w['student'].id}",
        data={"categories": [category().id], "observation": "x", "urgency": "routine"},
    )
    assert response.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 0


def test_referral_for_a_student_id_too_large_is_not_found(client, login_as, school_world):
    login_as(school_world["staff"])
    for student in ("2147483648", "99999999999999999999"):
        assert client.get(f"/referrals/new?student={student}").status_code == 404
        response = client.post(
            f"/referrals/new?student={student}",
            data={"categories": [category().id], "observation": "x", "urgency": "routine"},
        )
        assert response.status_code == 404 and b"Page not found" in response.data
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 0


def test_referral_needs_a_category_and_an_observation(client, login_as, school_world):
    w = school_world
    login_as(w["staff"])
    response = client.post(f"/referrals/new?student={w['student'].id}", data={"observation": "", "urgency": "routine"})
    assert response.status_code == 400
    assert b"Write what you saw or heard" in response.data
    response = client.post(
        f"/referrals/new?student={w['student'].id}", data={"observation": "Crying", "urgency": "routine"}
    )
    assert response.status_code == 400 and b"Tick at least one kind of concern" in response.data
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 0


def test_counselor_triages_into_a_flag_and_staff_sees_only_status(app, client, login_as, school_world):
    w = school_world
    referral = make_referral(w["student"], w["staff"], observation=SECRET)
    db.session.commit()
    login_as(w["counselor"])
    queue = client.get("/referrals").data.decode()
    assert "Ruiz, Ana" in queue
    assert audit_count("referral.list", actor_id=w["counselor"].id) == 1
    detail = client.get(f"/referrals/{referral.id}").data.decode()
    assert "boyfriend" in detail
    assert audit_count("referral.observation.read", actor_id=w["counselor"].id) == 1
    # The page is a view of the student's record, as every page is: one row for the page, one for the text.
    assert audit_count("referral.view", actor_id=w["counselor"].id, student_id=w["student"].id) == 1
    client.post(f"/referrals/{referral.id}/review")
    staff_client = login_as(w["staff"], app.test_client())
    assert "In review" in staff_client.get("/referrals/mine").data.decode()
    response = client.post(
        f"/referrals/{referral.id}/accept",
        data={"category": str(category("Sudden change").id), "severity": "high", "note": "Follow up with family."},
    )
    flag = db.session.scalars(select(RiskFlag)).one()
    assert response.headers["Location"] == f"/flags/{flag.id}"
    db.session.refresh(referral)
    assert referral.status == "accepted" and referral.flag_id == flag.id and flag.source == "staff_referral"
    mine = staff_client.get("/referrals/mine").data.decode()
    assert "Accepted" in mine and "Closed" not in mine and "Sudden change" not in mine and "Follow up" not in mine
    again = client.post(f"/referrals/{referral.id}/close", data={"reason": "dup"})
    assert again.status_code == 409 and b"already accepted by" in again.data


def test_accept_can_link_a_current_flag_and_close_needs_a_reason(client, login_as, school_world):
    w = school_world
    flag = make_flag(w["student"], w["counselor"])
    first = make_referral(w["student"], w["staff"])
    second = make_referral(w["student"], w["staff"], observation="Asleep in class every morning this week.")
    db.session.commit()
    login_as(w["counselor"])
    client.post(f"/referrals/{first.id}/accept", data={"existing_flag": str(flag.id)})
    db.session.refresh(first)
    assert first.flag_id == flag.id
    assert db.session.scalar(select(func.count()).select_from(RiskFlag)) == 1
    bad = client.post(f"/referrals/{second.id}/close", data={"reason": ""})
    assert bad.status_code == 400 and b"Say why the referral is closed" in bad.data
    client.post(f"/referrals/{second.id}/close", data={"reason": "Already known and handled."})
    db.session.refresh(second)
    assert second.status == "closed"


def test_counselor_of_another_school_cannot_triage(client, login_as, school_world):
    w = school_world
    referral = make_referral(w["student"], w["staff"])
    db.session.commit()
    login_as(w["other_counselor"])
    assert "Ruiz" not in client.get("/referrals").data.decode()
    assert client.get(f"/referrals/{referral.id}").status_code == 404
    assert client.post(f"/referrals/{referral.id}/close", data={"reason": "x"}).status_code == 404


def test_screening_with_a_concern_offers_a_flag(client, login_as, school_world):
    w = school_world
    login_as(w["counselor"])
    today = date.today()
    response = client.post(
        f"/students/{w['student'].id}/screenings/new",
        data={
            "instrument": instrument("CSE-IT 2.0").id,
            "screened_on": today.isoformat(),
            "result": "possible_concern",
            "next_step": "rescreen",
            "rescreen_on": (today + timedelta(days=30)).isoformat(),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/students/{w['student'].id}/flags/new?source=screening"
    page = client.get(f"/students/{w['student'].id}").data.decode()
    assert "CSE-IT 2.0 (result only)" in page and "Possible concern" in page


@pytest.mark.parametrize(
    "data, message",
    [
        ({"result": "no_concern", "next_step": "rescreen"}, b"Give a rescreen date"),
        ({"result": "no_concern", "next_step": "outside_referral"}, b"Name the outside agency"),
        ({"result": "maybe", "next_step": "none"}, b"Not a valid choice"),
        ({"result": "no_concern", "next_step": "none", "screened_on": "2999-01-01"}, b"cannot be in the future"),
        ({"result": "no_concern", "next_step": "none", "screened_on": "31/12/2026"}, b"YYYY-MM-DD"),
    ],
)
def test_bad_screening_input_is_refused(client, login_as, school_world, data, message):
    w = school_world
    login_as(w["counselor"])
    payload = {"instrument": instrument().id, "screened_on": date.today().isoformat(), **data}
    response = client.post(f"/students/{w['student'].id}/screenings/new", data=payload)
    assert response.status_code == 400 and message in response.data
    assert db.session.scalar(select(func.count()).select_from(Screening)) == 0


def test_principal_does_not_see_screenings_or_referrals(client, login_as, school_world):
    w = school_world
    make_referral(w["student"], w["staff"])
    db.session.commit()
    login_as(w["principal"])
    page = client.get(f"/students/{w['student'].id}").data.decode()
    assert "Open referrals" not in page and "Screenings" not in page and "Timeline" not in page


def test_notification_centre_counts_and_marks_read(client, login_as, school_world):
    w = school_world
    referral = make_referral(w["student"], w["staff"])
    db.session.commit()
    login_as(w["counselor"])
    home = client.get("/").data.decode()
    assert 'aria-label="1 unread"' in home
    note = db.session.scalars(select(Notification).where(Notification.user_id == w["counselor"].id)).one()
    response = client.post(f"/notifications/{note.id}/open")
    assert response.headers["Location"] == f"/referrals/{referral.id}"
    assert "unread" not in client.get("/").data.decode().split("</header>")[0]
    other = db.session.scalars(select(Notification).where(Notification.user_id == w["counselor2"].id)).one()
    assert client.post(f"/notifications/{other.id}/open").status_code == 404


@pytest.mark.parametrize("path", ["/notifications", "/referrals"])
def test_a_page_number_too_large_is_a_400_with_a_message(client, login_as, school_world, path):
    login_as(school_world["counselor"])
    for page in ("100001", "99999999999999999999"):
        response = client.get(f"{path}?page={page}")
        assert response.status_code == 400, page
        assert b"page must be a whole number from 1 to 100000" in response.data, page
    assert client.get(f"{path}?page=100000").status_code == 200


def test_admin_adds_and_retires_a_category(client, login_as, school_world):
    admin = make_user("admin")
    db.session.commit()
    login_as(admin)
    assert (
        client.post("/admin/lists/flag-categories/new", data={"name": "Social isolation", "position": "5"}).status_code
        == 400
    )
    client.post(
        "/admin/lists/flag-categories/new",
        data={"name": "Gang recruitment", "position": "5", "is_active": "y", "is_suspected_abuse": "y"},
    )
    created = category("Gang recruitment")
    assert created.is_suspected_abuse and created.is_active
    client.post(f"/admin/lists/flag-categories/{created.id}", data={"name": "Gang recruitment", "position": "5"})
    db.session.refresh(created)
    assert not created.is_active
    assert client.get("/admin/lists/nonsense").status_code == 404


def test_home_pages_point_counselors_and_staff_at_what_needs_doing(app, client, login_as, school_world):
    w = school_world
    make_referral(w["student"], w["staff"])
    make_flag(w["student"], w["counselor"], category_name="Signs of commercial", severity="urgent")
    db.session.commit()
    login_as(w["counselor"])
    assert audit_count("home.lists.view") == 0
    home = client.get("/").data.decode()
    referrals = home.split('id="referrals-h"')[1].split("</section>")[0]
    assert re.search(r"<dt>New</dt><dd><strong>1</strong>", referrals)
    assert "Mandated reports to record" in home and "Ruiz, Ana" in home
    # The banner names the student: its view is audited (a home page without one writes nothing).
    assert audit_count("home.lists.view", actor_id=w["counselor"].id) == 1
    staff_home = login_as(w["staff"], app.test_client()).get("/").data.decode()
    # The flag's category never shows (the home's own training reminder may name the course
    # "Recognising signs of commercial sexual exploitation": hence the category's exact name).
    assert "Ruiz, Ana" in staff_home and "Received" in staff_home and "Signs of commercial" not in staff_home


@pytest.mark.parametrize("role, url", [("counselor", "/referrals"), ("staff", "/referrals/mine")])
def test_referral_lists_send_as_many_statements_for_many_students_as_for_one(client, login_as, school_world, role, url):
    w = school_world
    make_referral(w["student"], w["staff"])
    db.session.commit()
    login_as(w[role])
    one = statements_sent(client, url)
    for i in range(4):
        make_referral(make_student(w["north"], given_name="Kid", family_name=f"Listed{i}"), w["staff"])
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    assert all(f"Listed{i}, Kid" in page for i in range(4))
    assert statements_sent(client, url) == one


# --- the same change asked for twice: one effect, and a message that says who made it --------------------------


def flag_events(flag, action):
    return db.session.scalar(
        select(func.count()).select_from(FlagEvent).where(FlagEvent.flag_id == flag.id, FlagEvent.action == action)
    )


def test_the_same_flag_opened_again_is_refused_naming_the_first(client, login_as, school_world):
    w = school_world
    flag = make_flag(w["student"], w["counselor"], severity="moderate", note=SECRET)
    db.session.commit()
    login_as(w["counselor2"])
    form = {
        "category": category("Social isolation").id,
        "severity": "moderate",
        "source": "counselor_observation",
        "note": f"{SECRET}\n",
    }
    again = client.post(f"/students/{w['student'].id}/flags/new", data=form)
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert f"This flag was already opened by {w['counselor'].name}" in page and "Social isolation, moderate" in page
    assert f'href="/flags/{flag.id}"' in page and "boyfriend" not in page
    # Other details make another flag (as before); once the first is resolved, the same one can be opened again.
    assert (
        client.post(f"/students/{w['student'].id}/flags/new", data={**form, "note": "Other facts."}).status_code == 302
    )
    assert client.post(f"/students/{w['student'].id}/flags/new", data={**form, "severity": "high"}).status_code == 302
    client.post(f"/flags/{flag.id}/status", data={"status": "resolved", "resolution": "Settled."})
    assert client.post(f"/students/{w['student'].id}/flags/new", data=form).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(RiskFlag)) == 4
    assert audit_count("flag.created") == 4


def test_a_status_move_made_already_is_refused_naming_who_made_it(client, login_as, school_world):
    w = school_world
    flag = make_flag(w["student"], w["counselor"])
    db.session.commit()
    login_as(w["counselor"])
    resolve = {"status": "resolved", "resolution": "Joined lunch club."}
    assert client.post(f"/flags/{flag.id}/status", data=resolve).status_code == 302
    again = client.post(f"/flags/{flag.id}/status", data=resolve)
    assert again.status_code == 409
    assert f"This flag was already resolved by {w['counselor'].name}" in again.get_data(as_text=True)
    assert client.post(f"/flags/{flag.id}/status", data={"status": "open"}).status_code == 302
    again = client.post(f"/flags/{flag.id}/status", data={"status": "open"})
    assert again.status_code == 409 and b"already reopened by" in again.data
    db.session.refresh(flag)
    assert flag.status == "open" and flag.resolved_at is None
    assert (flag_events(flag, "resolved"), flag_events(flag, "reopened")) == (1, 1)
    fresh = make_flag(w["student"], w["counselor"], category_name="Bullying — targeted")
    db.session.commit()
    never_moved = client.post(f"/flags/{fresh.id}/status", data={"status": "open"})
    assert never_moved.status_code == 409 and b"This flag is already open (opened by" in never_moved.data


def test_an_edit_that_changes_nothing_leaves_no_history(client, login_as, school_world):
    w = school_world
    flag = make_flag(w["student"], w["counselor"], note=SECRET)
    db.session.commit()
    login_as(w["counselor2"])
    form = {"category": flag.category_id, "severity": "high", "source": "counselor_observation"}
    assert client.post(f"/flags/{flag.id}/edit", data=form).status_code == 302
    again = client.post(f"/flags/{flag.id}/edit", data=form)
    assert again.status_code == 409
    assert f"already has these details, as saved by {w['counselor2'].name}" in again.get_data(as_text=True)
    # The note sent again as it stands (give or take blanks) is no change either.
    same_note = client.post(f"/flags/{flag.id}/edit", data={**form, "note": f"  {SECRET}\n", "replace_note": "y"})
    assert same_note.status_code == 409
    assert flag_events(flag, "edited") == 1 and audit_count("flag.updated") == 1
    assert (
        client.post(f"/flags/{flag.id}/edit", data={**form, "note": "New facts.", "replace_note": "y"}).status_code
        == 302
    )
    assert flag_events(flag, "edited") == 2


def test_the_same_mandated_report_recorded_twice_is_kept_once_and_can_be_corrected(client, login_as, school_world):
    w = school_world
    flag = make_flag(w["student"], w["counselor"], category_name="Signs of commercial", severity="urgent")
    db.session.commit()
    login_as(w["counselor"])
    report = {"agency": "State hotline", "made_at": "2026-11-20T09:30", "reference": "HL-1"}
    assert client.post(f"/flags/{flag.id}/report", data=report).status_code == 302
    again = client.post(f"/flags/{flag.id}/report", data=report)
    assert again.status_code == 409
    assert f"mandated report was already recorded by {w['counselor'].name}" in again.get_data(as_text=True)
    assert client.post(f"/flags/{flag.id}/report", data={**report, "reference": "HL-12"}).status_code == 302
    db.session.refresh(flag)
    assert flag.report_reference == "HL-12" and flag_events(flag, "report_recorded") == 2


def test_the_same_screening_on_the_same_day_is_recorded_once(client, login_as, school_world):
    w = school_world
    login_as(w["counselor"])
    yesterday = date.today() - timedelta(days=1)
    form = {
        "instrument": instrument("CSE-IT 2.0").id,
        "screened_on": yesterday.isoformat(),
        "result": "no_concern",
        "next_step": "none",
    }
    assert client.post(f"/students/{w['student'].id}/screenings/new", data=form).status_code == 302
    login_as(w["counselor2"])
    again = client.post(f"/students/{w['student'].id}/screenings/new", data={**form, "result": "possible_concern"})
    assert again.status_code == 409
    assert f"was already recorded by {w['counselor'].name}" in again.get_data(as_text=True)
    other_day = {**form, "screened_on": (yesterday - timedelta(days=1)).isoformat()}
    assert client.post(f"/students/{w['student'].id}/screenings/new", data=other_day).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Screening)) == 2


def test_the_database_refuses_a_second_screening_of_the_same_day(school_world):
    w = school_world
    values = {
        "student_id": w["student"].id,
        "instrument_id": instrument().id,
        "screened_on": date.today(),
        "screener_id": w["counselor"].id,
        "result": "no_concern",
        "next_step": "none",
    }
    db.session.add(Screening(**values))
    db.session.flush()
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(Screening(**values))


def test_the_upgrade_that_adds_the_index_names_screenings_recorded_twice(school_world):
    """Before the index, two identical requests at once could both save: the upgrade stops and names
    the copies for a person to settle, rather than choosing which one was meant."""
    import importlib.util
    from pathlib import Path

    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    path = Path(__file__).parents[2] / "migrations" / "versions" / "0013_casework_guards.py"
    spec = importlib.util.spec_from_file_location("casework_guards", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    w = school_world
    connection = db.session.connection()
    with Operations.context(MigrationContext.configure(connection)):
        migration.downgrade()
        values = {
            "student_id": w["student"].id,
            "instrument_id": instrument().id,
            "screened_on": date.today(),
            "screener_id": w["counselor"].id,
            "result": "no_concern",
            "next_step": "none",
        }
        db.session.add_all([Screening(**values), Screening(**values)])
        db.session.flush()
        first = min(db.session.scalars(select(Screening.id)))
        with pytest.raises(
            RuntimeError, match=rf"1 screening\(s\) were recorded more than once .*#{first} \(2 copies\)"
        ):
            migration.upgrade()


def test_the_same_referral_sent_twice_is_sent_once(client, login_as, school_world):
    w = school_world
    login_as(w["staff"])
    form = {"categories": [category("Bullying — targeted").id], "observation": SECRET, "urgency": "soon"}
    url = f"/referrals/new?student={w['student'].id}"
    assert client.post(url, data=form).status_code == 302
    again = client.post(url, data={**form, "observation": f"{SECRET}  "})
    assert again.status_code == 409 and b"You already sent this referral at" in again.data
    assert 'href="/referrals/mine"' in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 1
    # More urgent now: the counselors must hear of it again.
    assert client.post(url, data={**form, "urgency": "urgent"}).status_code == 302
    # The same concern some time later is a new referral.
    for earlier in db.session.scalars(select(Referral)):
        earlier.submitted_at -= timedelta(hours=1)
    db.session.commit()
    assert client.post(url, data=form).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 3
    assert audit_count("referral.created") == 3


@pytest.mark.parametrize(
    "data",
    [
        {"category": " "},
        {"category": "\t"},
        {"severity": " ", "category": " "},
        {"existing_flag": " ", "category": " "},
    ],
)
def test_accept_with_a_blank_looking_choice_is_a_400_that_changes_nothing(client, login_as, school_world, data):
    """A choice of only whitespace is no choice (it used to reach int(' ') and answer 500)."""
    w = school_world
    referral = make_referral(w["student"], w["staff"])
    db.session.commit()
    login_as(w["counselor"])
    response = client.post(f"/referrals/{referral.id}/accept", data=data)
    assert response.status_code == 400
    db.session.refresh(referral)
    assert referral.status != "accepted" and referral.flag_id is None
    assert db.session.scalar(select(func.count()).select_from(RiskFlag)) == 0


@pytest.mark.parametrize("raw", ["9" * 19, "9" * 1001, "-" + "9" * 400])
def test_a_whole_number_too_long_is_a_field_error_not_a_500(app, db_session, raw):
    """WTForms' NumberRange compares through float(): hundreds of digits raised OverflowError (found by tests/test_fuzz.py)."""
    from werkzeug.datastructures import MultiDict

    from school_prevention.programs.forms import SessionForm

    with app.test_request_context(method="POST"):
        form = SessionForm(formdata=MultiDict({"minutes": raw}))
        assert not form.validate()
        assert "Not a valid integer value." in form.minutes.errors
