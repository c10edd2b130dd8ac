"""Outside agencies: the directory, referrals to agencies (with the sharing they record), their status,
follow-up reminders and outcome, on the student's page, and as support outside the school."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from school_prevention.agencies.jobs import remind_follow_ups
from school_prevention.agencies.models import Agency, AgencyReferral
from school_prevention.agencies.queries import students_with_outside_support
from school_prevention.agencies.services import change_status, record_follow_up, refer_student
from school_prevention.audit.models import AuditEvent
from school_prevention.disclosures.models import Disclosure
from school_prevention.disclosures.services import record_consent
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from school_prevention.timezones import district_today
from tests.factories import make_agency, make_guardian, make_school, make_student, make_user
from tests.support.apps import statements_sent
from tests.support.concurrency import assert_one_effect, fire_together

REASON = "Told me an older boyfriend keeps her phone and her ID."


@pytest.fixture
def world(db_session):
    school, other = make_school(name="Cedar Middle"), make_school(name="Oak Middle")
    w = type("World", (), {})()
    w.school, w.other = school, other
    w.counselor = make_user("counselor", schools=[school], name="Casey Counselor")
    w.principal = make_user("principal", schools=[school], name="Pat Principal")
    w.outsider = make_user("counselor", schools=[other])
    w.admin = make_user("admin")
    w.student = make_student(school, given_name="Lena", family_name="Ortiz")
    w.cws = make_agency("child_welfare", name="County Children's Services")
    w.shelter = make_agency("runaway_homeless", name="Harbor House")
    w.parent = make_guardian(w.student, given_name="Rosa", family_name="Ortiz")
    db_session.commit()
    return w


def refer(w, **kw):
    kw.setdefault("agency", w.cws)
    kw.setdefault("categories", ["identity", "concerns"])
    kw.setdefault("legal_basis", "health_safety_emergency")
    kw.setdefault("purpose", "Student fears going home tonight.")
    for key in ("approved_by", "reason", "follow_up_on"):
        kw.setdefault(key, None)
    return refer_student(w.counselor, w.student, today=district_today(), **kw)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# -- the directory ---------------------------------------------------------------------------------


def test_the_admin_keeps_the_directory_and_counselors_and_principals_read_it(world, client, login_as):
    login_as(world.admin)
    page = client.post(
        "/agencies/new",
        data={
            "name": "Lakeside Mental Health",
            "kind": "health",
            "phone": "555-0170",
            "email": "intake@lakeside.example",
            "is_active": "y",
        },
    )
    assert page.status_code == 302
    refused = client.post("/agencies/new", data={"name": "county children's services", "kind": "child_welfare"})
    assert refused.status_code == 400 and "already has County Children&#39;s Services" in refused.get_data(as_text=True)
    bad = client.post("/agencies/new", data={"name": "X", "kind": "health", "email": "not an email"})
    assert bad.status_code == 400 and "Give an email address" in bad.get_data(as_text=True)
    script = client.post("/agencies/new", data={"name": "X", "kind": "health", "website": "javascript:alert(1)"})
    assert script.status_code == 400 and "starting with https://" in script.get_data(as_text=True)
    lakeside = db.session.scalars(select(Agency).where(Agency.name == "Lakeside Mental Health")).one()
    assert (
        client.post(
            f"/agencies/{world.shelter.id}/edit",
            data={"name": "Harbor House", "kind": "runaway_homeless", "phone": "555-0100"},
        ).status_code
        == 302
    )  # taken out
    assert db.session.get(Agency, world.shelter.id).is_active is False
    assert "Harbor House" in client.get("/agencies").get_data(as_text=True)  # the admin still sees it
    for user in (world.counselor, world.principal):
        login_as(user)
        text = client.get("/agencies").get_data(as_text=True)
        assert "Lakeside Mental Health" in text and "555-0170" in text and "Health and mental health" in text
        assert "Harbor House" not in text and "Add an agency" not in text
    assert count(AuditEvent, AuditEvent.action == "agency.created", AuditEvent.object_id == str(lakeside.id)) == 1


# -- referring a student -------------------------------------------------------------------------


def test_a_referral_records_what_was_shared_with_whom_on_which_basis_and_who_approved(world, client, login_as):
    login_as(world.counselor)
    form = client.get(f"/students/{world.student.id}/agency-referrals/new").get_data(as_text=True)
    assert "County Children&#39;s Services (Child welfare)" in form and "No parental consent is on file" in form
    response = client.post(
        f"/students/{world.student.id}/agency-referrals/new",
        data={
            "agency": str(world.cws.id),
            "categories": ["identity", "concerns", "referral_reason"],
            "legal_basis": "health_safety_emergency",
            "purpose": "Fears going home tonight.",
            "approved_by": str(world.principal.id),
            "reason": REASON,
            "follow_up_on": (district_today() + timedelta(days=3)).isoformat(),
        },
    )
    assert response.status_code == 302
    referral = db.session.scalars(select(AgencyReferral)).one()
    assert (referral.status, referral.agency_id, referral.follow_up_on) == (
        "sent",
        world.cws.id,
        district_today() + timedelta(days=3),
    )
    disclosure = db.session.get(Disclosure, referral.disclosure_id)
    assert (
        disclosure.recipient,
        disclosure.legal_basis,
        disclosure.categories,
        disclosure.approved_by_id,
        disclosure.recorded_by_id,
        disclosure.source,
        disclosure.source_id,
    ) == (
        "County Children's Services",
        "health_safety_emergency",
        ["identity", "concerns", "referral_reason"],
        world.principal.id,
        world.counselor.id,
        "agency_referral",
        referral.id,
    )
    assert [s.id for s in disclosure.students] == [world.student.id]
    # The reason is restricted: encrypted at rest, read on the referral's page (audited).
    assert REASON not in (referral.reason_ciphertext or "")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert REASON in page and "Sent" in page and "student&#39;s disclosure record" in page
    assert count(AuditEvent, AuditEvent.action == "agency_referral.note.read") == 1
    # On the student's page: the section, the timeline, the disclosure.
    student_page = client.get(f"/students/{world.student.id}").get_data(as_text=True)
    assert 'id="agencies-h"' in student_page and "Referred to County Children&#39;s Services" in student_page
    assert "Health or safety emergency" in student_page and "Disclosure record (1 sharing)" in student_page
    record = client.get(f"/students/{world.student.id}/disclosures").get_data(as_text=True)
    assert (
        "County Children&#39;s Services" in record and "Pat Principal" in record and "Reason for the referral" in record
    )


def test_parental_consent_must_be_on_file_cover_the_agency_and_what_is_shared(world, client, login_as):
    login_as(world.counselor)
    data = {
        "agency": str(world.shelter.id),
        "categories": ["identity", "enrollment"],
        "legal_basis": "parental_consent",
        "approved_by": str(world.counselor.id),
    }
    world.shelter.is_active = True
    db.session.commit()
    refused = client.post(f"/students/{world.student.id}/agency-referrals/new", data=data)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert (
        "No current parental consent on file covers sharing identity and contact details, enrollment, grade and "
        "attendance with Harbor House" in text
    )
    assert count(AgencyReferral) == 0 and count(Disclosure) == 0
    today = district_today()

    def consent(**kw):
        values = {
            "guardian": world.parent,
            "scope": "agency_kind",
            "agency_kind": "runaway_homeless",
            "agency": None,
            "categories": ["identity", "enrollment"],
            "given_on": today - timedelta(days=5),
            "expires_on": None,
            "purpose": None,
            "document": None,
            "today": today,
        }
        return record_consent(world.counselor, world.student, **{**values, **kw})

    consent(agency_kind="health")  # another kind of agency: does not cover a shelter
    consent(expires_on=today - timedelta(days=1))  # expired
    consent(categories=["identity"])  # not what is shared
    assert client.post(f"/students/{world.student.id}/agency-referrals/new", data=data).status_code == 400
    good = consent(given_on=today - timedelta(days=2))
    assert client.post(f"/students/{world.student.id}/agency-referrals/new", data=data).status_code == 302
    disclosure = db.session.scalars(select(Disclosure)).one()
    assert (disclosure.legal_basis, disclosure.consent_id) == ("parental_consent", good.id)
    assert "consent of Rosa Ortiz" in client.get(f"/students/{world.student.id}/disclosures").get_data(as_text=True)


def test_a_consent_withdrawn_or_of_a_guardian_no_longer_listed_covers_nothing(world, db_session):
    from school_prevention.disclosures.services import revoke_consent

    today = district_today()
    consent = record_consent(
        world.counselor,
        world.student,
        guardian=world.parent,
        scope="agency",
        agency_kind=None,
        agency=world.cws,
        categories=["identity", "concerns"],
        given_on=today - timedelta(days=9),
        expires_on=None,
        purpose=None,
        document=None,
        today=today,
    )
    revoke_consent(world.counselor, consent, revoked_on=today, reason="Letter from the mother", today=today)
    with pytest.raises(ServiceError, match="No current parental consent"):
        refer(world, legal_basis="parental_consent")
    other = record_consent(
        world.counselor,
        world.student,
        guardian=world.parent,
        scope="any_agency",
        agency_kind=None,
        agency=None,
        categories=["identity", "concerns"],
        given_on=today,
        expires_on=None,
        purpose=None,
        document=None,
        today=today,
    )
    world.parent.is_active = False  # the SIS no longer lists them
    with pytest.raises(ServiceError, match="No current parental consent"):
        refer(world, legal_basis="parental_consent")
    world.parent.is_active = True
    assert refer(world, legal_basis="parental_consent").agency_id == world.cws.id
    assert db.session.scalars(select(Disclosure)).one().consent_id == other.id


def test_bad_input_is_refused_by_the_field_and_changes_nothing(world, client, login_as):
    login_as(world.counselor)
    url = f"/students/{world.student.id}/agency-referrals/new"
    cases = [
        ({"legal_basis": "court_order", "categories": ["identity"]}, "Say why: the threat"),
        ({"legal_basis": "health_safety_emergency", "purpose": "x", "categories": []}, "Tick what was shared."),
        ({"legal_basis": "telepathy", "purpose": "x", "categories": ["identity"]}, "Not a valid choice"),
        (
            {
                "legal_basis": "health_safety_emergency",
                "purpose": "x",
                "categories": ["identity"],
                "follow_up_on": "2001-01-01",
            },
            "cannot be in the past",
        ),
        (
            {
                "legal_basis": "health_safety_emergency",
                "purpose": "x",
                "categories": ["identity"],
                "approved_by": str(world.outsider.id),
            },
            "Not a valid choice",
        ),
    ]
    for extra, message in cases:
        data = {"agency": str(world.cws.id), "approved_by": str(world.counselor.id), **extra}
        response = client.post(url, data=data)
        assert response.status_code == 400, extra
        assert message in response.get_data(as_text=True), (extra, message)
    assert count(AgencyReferral) == 0 and count(Disclosure) == 0


def test_the_same_referral_sent_twice_is_one_referral(world):
    first = refer(world)
    with pytest.raises(AlreadyDone, match="already referred to County Children's Services by Casey Counselor"):
        refer(world)
    assert count(AgencyReferral) == 1 and count(Disclosure) == 1
    change_status(world.counselor, first, "declined")
    change_status(world.counselor, first, "closed", outcome="agency_declined")
    assert refer(world).id != first.id  # closed: a new referral to the same agency is a new one


# -- status, follow-ups, outcome -----------------------------------------------------------------------


def test_a_referral_moves_from_sent_to_closed_with_an_outcome(world, client, login_as):
    referral = refer(world, reason=REASON, follow_up_on=district_today() + timedelta(days=7))
    db.session.commit()
    login_as(world.counselor)
    url = f"/agency-referrals/{referral.id}/status"
    wrong = client.post(url, data={"status": "services_started"})
    assert wrong.status_code == 400
    assert client.post(url, data={"status": "accepted", "agency_reference": "CPS-77"}).status_code == 302
    again = client.post(url, data={"status": "accepted"})
    assert again.status_code == 400  # accepted is no longer offered from accepted
    assert (
        client.post(url, data={"status": "services_started", "note": "Caseworker met the family."}).status_code == 302
    )
    no_outcome = client.post(url, data={"status": "closed"})
    assert no_outcome.status_code == 400 and "Choose the outcome" in no_outcome.get_data(as_text=True)
    assert (
        client.post(
            url, data={"status": "closed", "outcome": "services_completed", "outcome_note": "Family in stable housing."}
        ).status_code
        == 302
    )
    db.session.expire_all()
    referral = db.session.get(AgencyReferral, referral.id)
    assert (referral.status, referral.outcome, referral.agency_reference, referral.follow_up_on) == (
        "closed",
        "services_completed",
        "CPS-77",
        None,
    )
    assert [e.action for e in reversed(referral.events)] == ["sent", "accepted", "services_started", "closed"]
    page = client.get(f"/agency-referrals/{referral.id}").get_data(as_text=True)
    assert "Services completed" in page and "Family in stable housing." in page and "Caseworker met the family." in page
    assert "Update the status" not in page  # closed: nothing follows
    with pytest.raises(AlreadyDone, match="already closed"):
        change_status(world.counselor, referral, "closed", outcome="other")


def test_outside_support_counts_accepted_and_started_services_only(world):
    second = make_student(world.school)
    referral = refer(world)
    other = refer_student(
        world.counselor,
        second,
        agency=world.cws,
        categories=["identity"],
        legal_basis="mandated_report",
        purpose=None,
        approved_by=None,
        reason=None,
        follow_up_on=None,
        today=district_today(),
    )

    def supported():
        return set(db.session.scalars(students_with_outside_support(school_id=world.school.id)))

    assert supported() == set()  # sent is not support yet
    change_status(world.counselor, referral, "accepted")
    change_status(world.counselor, other, "declined")
    assert supported() == {world.student.id}
    assert set(db.session.scalars(students_with_outside_support([second.id]))) == set()
    change_status(world.counselor, referral, "services_started")
    assert supported() == {world.student.id}
    change_status(world.counselor, referral, "closed", outcome="services_ongoing")
    assert supported() == set()


def test_follow_ups_remind_once_per_date_show_on_the_home_page_and_carry_initials_only(world, client, login_as):
    today = district_today()
    referral = refer(world, follow_up_on=today + timedelta(days=2), reason=REASON)
    db.session.commit()
    noon = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=18)
    assert remind_follow_ups(noon) == 0  # not due yet
    assert remind_follow_ups(noon + timedelta(days=2)) == 2  # in the app and by email
    assert remind_follow_ups(noon + timedelta(days=2, hours=1)) == 0  # once
    notes = db.session.scalars(select(Notification).where(Notification.kind.like("agency.follow_up.%"))).all()
    assert {(n.user_id, n.channel) for n in notes} == {(world.counselor.id, "in_app"), (world.counselor.id, "email")}
    assert all(n.title == "Agency follow-up due for LO" and n.link == f"/agency-referrals/{referral.id}" for n in notes)
    assert all("Ortiz" not in n.title and "Children" not in n.title for n in notes)
    # Due: on the counselor's home, which names the student (audited).
    referral.follow_up_on = today
    db.session.commit()
    login_as(world.counselor)
    home = client.get("/").get_data(as_text=True)
    assert "Agency follow-ups due" in home and "Ortiz, Lena: County Children&#39;s Services" in home
    assert count(AuditEvent, AuditEvent.action == "home.lists.view") == 1
    # A follow-up recorded with a new date: a new reminder on that date; the same form sent twice is one.
    data = {
        "seq": str(referral.follow_up_seq),
        "note": "Left a message with intake.",
        "next_follow_up_on": (today + timedelta(days=5)).isoformat(),
    }
    assert client.post(f"/agency-referrals/{referral.id}/follow-up", data=data).status_code == 302
    twice = client.post(f"/agency-referrals/{referral.id}/follow-up", data=data)
    assert twice.status_code == 409 and "A follow-up was already recorded by Casey Counselor" in twice.get_data(
        as_text=True
    )
    # A number past the column's range is stale too (seq + 1 overflowed: a 500 on PostgreSQL, found by the fuzz test).
    assert (
        client.post(f"/agency-referrals/{referral.id}/follow-up", data={**data, "seq": "2147483647"}).status_code == 409
    )
    assert "Agency follow-ups due" not in client.get("/").get_data(as_text=True)
    assert remind_follow_ups(noon + timedelta(days=5)) == 2
    change_status(world.counselor, db.session.get(AgencyReferral, referral.id), "closed", outcome="no_longer_needed")
    assert remind_follow_ups(noon + timedelta(days=30)) == 0  # closed: nothing to follow up


def test_a_follow_up_of_a_closed_referral_or_without_anything_said_is_refused(world):
    referral = refer(world)
    with pytest.raises(ServiceError, match="Write what the agency said"):
        record_follow_up(
            world.counselor, referral, seen_seq=0, note="  ", next_follow_up_on=None, today=district_today()
        )
    change_status(world.counselor, referral, "closed", outcome="other")
    with pytest.raises(ServiceError, match="closed"):
        record_follow_up(
            world.counselor, referral, seen_seq=0, note="x", next_follow_up_on=None, today=district_today()
        )


def test_referrals_are_counselors_and_their_schools_only(world, client, login_as):
    referral = refer(world)
    db.session.commit()
    login_as(world.outsider)
    assert client.get(f"/agency-referrals/{referral.id}").status_code == 404
    assert client.get(f"/students/{world.student.id}/agency-referrals/new").status_code == 404
    assert client.post(f"/agency-referrals/{referral.id}/status", data={"status": "accepted"}).status_code == 404
    login_as(world.principal)
    assert client.get(f"/agency-referrals/{referral.id}").status_code == 403
    page = client.get(f"/students/{world.student.id}").get_data(as_text=True)
    assert 'id="agencies-h"' not in page and 'id="disclosures-h"' not in page  # counselors' sections


def test_the_student_page_sends_as_many_statements_with_referrals_and_disclosures_as_without(world, client, login_as):
    empty = make_student(world.school)
    for agency in (world.cws, make_agency("health"), make_agency("community")):
        referral = refer_student(
            world.counselor,
            world.student,
            agency=agency,
            categories=["identity"],
            legal_basis="mandated_report",
            purpose=None,
            approved_by=None,
            reason=REASON,
            follow_up_on=None,
            today=district_today(),
        )
        change_status(world.counselor, referral, "accepted")
    db.session.commit()
    login_as(world.counselor)
    few = statements_sent(client, f"/students/{empty.id}")
    assert statements_sent(client, f"/students/{world.student.id}") == few
    page = client.get(f"/students/{world.student.id}").get_data(as_text=True)
    assert page.count("status-agency-accepted") == 3 and "Disclosure record (3 sharings)" in page


# -- at the same moment ------------------------------------------------------------------------------


@pytest.fixture
def race_world(race_app):
    with race_app.app_context():
        school = make_school()
        counselor = make_user("counselor", schools=[school])
        student = make_student(school)
        agency = make_agency()
        referral = refer_student(
            counselor,
            make_student(school),
            agency=agency,
            categories=["identity"],
            legal_basis="mandated_report",
            purpose=None,
            approved_by=None,
            reason=None,
            follow_up_on=date(2030, 1, 1),
            today=district_today(),
        )
        db.session.commit()
        return {
            "counselor": counselor.id,
            "student": student.id,
            "agency": agency.id,
            "referral": referral.id,
            "seq": referral.follow_up_seq,
        }


def test_one_referral_sent_at_once_is_sent_once(race_app, race_world):
    answers = fire_together(
        race_app,
        race_world["counselor"],
        "POST",
        f"/students/{race_world['student']}/agency-referrals/new",
        {
            "agency": str(race_world["agency"]),
            "categories": ["identity"],
            "legal_basis": "mandated_report",
            "approved_by": str(race_world["counselor"]),
        },
    )
    assert_one_effect(answers, says="already referred")
    with race_app.app_context():
        assert count(AgencyReferral, AgencyReferral.student_id == race_world["student"]) == 1
        assert count(Disclosure, Disclosure.source == "agency_referral") == 2  # the fixture's and this one


def test_one_status_change_at_once_is_made_once(race_app, race_world):
    answers = fire_together(
        race_app,
        race_world["counselor"],
        "POST",
        f"/agency-referrals/{race_world['referral']}/status",
        {"status": "accepted"},
    )
    # The first moves it; the others find it accepted (no longer offered: 400) or moved (409).
    statuses = sorted(a.status for a in answers)
    assert statuses.count(302) == 1 and all(s in (302, 400, 409) for s in statuses), statuses
    with race_app.app_context():
        assert (
            count(
                AuditEvent,
                AuditEvent.action == "agency_referral.status",
                AuditEvent.object_id == str(race_world["referral"]),
            )
            == 1
        )


def test_one_follow_up_sent_at_once_is_recorded_once(race_app, race_world):
    answers = fire_together(
        race_app,
        race_world["counselor"],
        "POST",
        f"/agency-referrals/{race_world['referral']}/follow-up",
        {"seq": str(race_world["seq"]), "note": "Called intake."},
    )
    assert_one_effect(answers, says="already recorded")
    with race_app.app_context():
        assert (
            count(
                AuditEvent,
                AuditEvent.action == "agency_referral.follow_up",
                AuditEvent.object_id == str(race_world["referral"]),
            )
            == 1
        )


def test_the_coverage_page_counts_students_an_agency_supports_and_marks_them_in_the_uncovered_list(
    world, client, login_as
):
    from tests.factories import make_flag

    make_flag(world.student, world.counselor)
    flagged_elsewhere = make_student(world.school)
    make_flag(flagged_elsewhere, world.counselor)
    referral = refer(world)
    change_status(world.counselor, referral, "accepted")
    change_status(world.counselor, referral, "services_started")
    db.session.commit()
    login_as(world.principal)
    page = client.get("/reports/coverage").get_data(as_text=True)
    figure = page.split("Supported outside the school")[1].split("</div>")[0]
    assert "50%" in figure and "1 of 2 flagged" in figure
    row = page.split("Ortiz, Lena")[1].split("</tr>")[0]
    assert "Supported by an outside agency" in row  # still uncovered by the school: a program or plan is its part
    other_row = page.split(flagged_elsewhere.display_name)[1].split("</tr>")[0]
    assert "Supported by an outside agency" not in other_row


# -- support outside the school in the district's figures -----------------------------------------


def _supported(db_session, school, counselor, agency, social, *, flagged: int, supported: int, status="accepted"):
    """flagged students at school, the first `supported` of them taken on by the agency."""
    from school_prevention.flags.models import RiskFlag

    for n in range(flagged):
        student = make_student(school)
        db_session.add(
            RiskFlag(
                student_id=student.id,
                category_id=social.id,
                severity="moderate",
                source="counselor_observation",
                status="open",
                opened_by_id=counselor.id,
            )
        )
        if n < supported:
            db_session.add(
                AgencyReferral(
                    student_id=student.id,
                    school_id=school.id,
                    agency_id=agency.id,
                    status=status,
                    referred_by_id=counselor.id,
                )
            )
    db_session.flush()


@pytest.fixture
def outside_district(db_session):
    """Three middle schools: 14 of 20 flagged supported outside, 3 of 12, 12 of 15; noise that must not count."""
    from tests.factories import category

    counselor, agency, social = make_user("counselor"), make_agency("health", name="Lakeside Clinic"), category()
    schools = [
        make_school(name=f"{name} Middle", level="middle", sourced_id=f"sch-{name}")
        for name in ("Alder", "Birch", "Cedar")
    ]
    for school, (flagged, supported) in zip(schools, ((20, 14), (12, 3), (15, 12))):
        _supported(db_session, school, counselor, agency, social, flagged=flagged, supported=supported)
    alder = schools[0]
    _supported(db_session, alder, counselor, agency, social, flagged=2, supported=2, status="sent")  # not yet
    _supported(db_session, alder, counselor, agency, social, flagged=1, supported=1, status="declined")
    calm = make_student(alder)  # supported, but not flagged: not among the flagged
    db_session.add(
        AgencyReferral(
            student_id=calm.id,
            school_id=alder.id,
            agency_id=agency.id,
            status="services_started",
            referred_by_id=counselor.id,
        )
    )
    _supported(db_session, alder, counselor, agency, social, flagged=1, supported=1)
    gone = db_session.scalars(select(AgencyReferral).order_by(AgencyReferral.id.desc())).first().student
    gone.is_active = False  # no longer enrolled: not counted
    user = make_user("district")
    db_session.commit()
    return user


def test_the_district_export_counts_flagged_students_supported_outside_and_withholds_small_counts(
    outside_district, client, login_as
):
    import csv
    import io

    login_as(outside_district)
    response = client.get("/exports/district.csv")
    assert response.status_code == 200
    rows = {
        r["school_sourced_id"] or "total": r
        for r in csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig")))
    }
    assert list(rows["sch-Alder"])[-2:] == ["flagged_outside_support", "share_outside_support"]  # at the end
    assert rows["sch-Alder"]["flagged_students"] == "23"  # 20 + 2 sent + 1 declined, all flagged
    assert rows["sch-Alder"]["flagged_outside_support"] == "14"  # sent, declined, unflagged, inactive: not counted
    assert rows["sch-Alder"]["share_outside_support"] == str(round(14 / 23, 4))
    assert rows["sch-Birch"]["flagged_outside_support"] == "S" and rows["sch-Birch"]["share_outside_support"] == "S"
    # 3 is withheld, and so is a complement: Birch cannot be worked out from the total and the others.
    others = {k: rows[k]["flagged_outside_support"] for k in ("sch-Cedar", "total")}
    assert list(others.values()).count("S") == 1 and others in (
        {"sch-Cedar": "S", "total": "29"},
        {"sch-Cedar": "12", "total": "S"},
    )

    page = client.get("/reports/coverage").get_data(as_text=True)
    assert "Supported outside the school" in page and "Supported outside</a>" in page  # figure and sortable column
    assert client.get("/reports/coverage?sort=share_outside_support&order=desc").status_code == 200
