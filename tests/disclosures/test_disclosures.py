"""Disclosures (34 CFR 99.32), consents and parent inspection requests: every sharing outside the school
is recorded with what, with whom, the legal basis and who approved it, and shows on the student's record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.disclosures.models import Consent, Disclosure, InspectionRequest, disclosure_student
from school_prevention.disclosures.services import (
    answer_inspection,
    log_inspection_request,
    record_consent,
    record_disclosure,
    revoke_consent,
)
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.flags.services import record_mandated_report
from school_prevention.timezones import district_today
from tests.factories import make_agency, make_flag, make_guardian, make_school, make_student, make_user
from tests.support.concurrency import assert_one_effect, fire_together

NOTE = "Bruises on both wrists; says an older man drives her after school."


@pytest.fixture
def world(db_session):
    school, other = make_school(name="Cedar Middle"), make_school(name="Oak Middle")
    w = type("World", (), {})()
    w.school = school
    w.counselor = make_user("counselor", schools=[school], name="Casey Counselor")
    w.principal = make_user("principal", schools=[school], name="Pat Principal")
    w.outsider = make_user("counselor", schools=[other])
    w.student = make_student(school, given_name="Lena", family_name="Ortiz")
    w.sibling = make_student(school, given_name="Marco", family_name="Ortiz")
    w.parent = make_guardian(w.student, w.sibling, given_name="Rosa", family_name="Ortiz", phone="555-0142")
    w.stranger = make_guardian(make_student(school), given_name="Other", family_name="Parent")
    w.clinic = make_agency("health", name="Lakeside Mental Health")
    db_session.commit()
    return w


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def consent(w, **kw) -> Consent:
    today = district_today()
    values = {
        "guardian": w.parent,
        "scope": "any_agency",
        "agency_kind": None,
        "agency": None,
        "categories": ["identity", "concerns"],
        "given_on": today - timedelta(days=3),
        "expires_on": None,
        "purpose": None,
        "document": "Signed form, counseling office",
        "today": today,
    }
    return record_consent(w.counselor, w.student, **{**values, **kw})


# -- recording a sharing -----------------------------------------------------------------------------


def test_a_sharing_recorded_by_hand_shows_on_the_students_record(world, client, login_as):
    login_as(world.counselor)
    url = f"/students/{world.student.id}/disclosures/new"
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        data={
            "agency": "",
            "recipient": "Juvenile Court, Judge Hale's clerk",
            "disclosed_at": "2026-11-02T10:30",
            "categories": ["identity", "enrollment"],
            "legal_basis": "court_order",
            "purpose": "Subpoena 26-JV-114 of Oct 28",
            "approved_by": str(world.principal.id),
        },
    )
    assert response.status_code == 302
    disclosure = db.session.scalars(select(Disclosure)).one()
    assert (
        disclosure.recipient,
        disclosure.legal_basis,
        disclosure.approved_by_id,
        disclosure.recorded_by_id,
        disclosure.source,
    ) == ("Juvenile Court, Judge Hale's clerk", "court_order", world.principal.id, world.counselor.id, "recorded")
    assert disclosure.disclosed_at.astimezone(UTC).hour == 16  # 10:30 in Chicago is 16:30 UTC
    page = client.get(f"/students/{world.student.id}/disclosures").get_data(as_text=True)
    for text in (
        "Juvenile Court, Judge Hale",
        "Court order or lawfully issued subpoena",
        "Subpoena 26-JV-114",
        "Identity and contact details, Enrollment, grade and attendance",
        "Pat Principal",
        "Recorded by hand",
        "Rosa Ortiz",
        "555-0142",
    ):
        assert text in page.replace("&#39;", "'"), text
    assert "Other Parent" not in page  # another family's guardian
    assert count(AuditEvent, AuditEvent.action == "disclosure.recorded", AuditEvent.student_id == world.student.id) == 1
    assert (
        count(AuditEvent, AuditEvent.action == "disclosure.record.view", AuditEvent.student_id == world.student.id) == 1
    )
    # The sibling's record does not show it.
    assert "Judge Hale" not in client.get(f"/students/{world.sibling.id}/disclosures").get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"recipient": "", "agency": ""}, "recipient", "Say who the records were shared with"),
        ({"legal_basis": "court_order", "purpose": ""}, "purpose", "Say why: the threat to health or safety"),
        ({"legal_basis": "health_safety_emergency", "purpose": " "}, "purpose", "Say why"),
        ({"categories": []}, "categories", "Tick what was shared."),
        ({"disclosed_at": "2099-01-01T10:00"}, "disclosed_at", "cannot be in the future"),
        ({"legal_basis": "parental_consent"}, "legal_basis", "No current parental consent on file covers sharing"),
        ({"legal_basis": "parent_inspection"}, "legal_basis", "Not a valid choice"),  # the app's own basis
    ],
)
def test_a_sharing_with_something_missing_is_refused_by_its_field(world, client, login_as, data, field, message):
    login_as(world.counselor)
    form = {
        "recipient": "School nurse of the district",
        "disclosed_at": "2026-11-02T10:30",
        "categories": ["identity"],
        "legal_basis": "school_official",
        "purpose": "",
        "approved_by": str(world.counselor.id),
        **data,
    }
    response = client.post(f"/students/{world.student.id}/disclosures/new", data=form)
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in text and f'id="{field}-error"' in text
    assert count(Disclosure) == 0


def test_the_same_sharing_recorded_twice_is_one(world):
    record_disclosure(
        world.counselor,
        world.student,
        agency=world.clinic,
        categories=["identity"],
        legal_basis="health_safety_emergency",
        purpose="Suicidal statement at lunch",
    )
    with pytest.raises(AlreadyDone, match="already recorded this sharing with Lakeside Mental Health"):
        record_disclosure(
            world.counselor,
            world.student,
            agency=world.clinic,
            categories=["identity"],
            legal_basis="health_safety_emergency",
            purpose="Suicidal statement at lunch",
        )
    assert count(Disclosure) == 1


# -- consents ----------------------------------------------------------------------------------------


def test_consents_are_recorded_per_guardian_and_withdrawn_once(world, client, login_as):
    login_as(world.counselor)
    url = f"/students/{world.student.id}/consents/new"
    assert "Rosa Ortiz (parent)" in client.get(url).get_data(as_text=True)
    today = district_today()
    ok = client.post(
        url,
        data={
            "guardian": str(world.parent.id),
            "scope": "agency",
            "agency": str(world.clinic.id),
            "categories": ["identity", "concerns"],
            "given_on": (today - timedelta(days=1)).isoformat(),
            "expires_on": (today + timedelta(days=180)).isoformat(),
            "document": "Scanned to the cumulative folder",
        },
    )
    assert ok.status_code == 302
    recorded = db.session.scalars(select(Consent)).one()
    assert (recorded.scope, recorded.agency_id, recorded.scope_label) == (
        "agency",
        world.clinic.id,
        "Lakeside Mental Health",
    )
    assert recorded.is_current_on(today) and not recorded.is_current_on(today + timedelta(days=181))
    # Another family's guardian, a future date, an expiry before the signature: refused by the field.
    for data, message in (
        ({"guardian": str(world.stranger.id)}, "Not a valid choice"),
        ({"given_on": (today + timedelta(days=1)).isoformat()}, "cannot be in the future"),
        ({"expires_on": (today - timedelta(days=30)).isoformat()}, "cannot expire before"),
        ({"scope": "agency_kind", "agency_kind": ""}, "Choose the kind of agency"),
    ):
        form = {
            "guardian": str(world.parent.id),
            "scope": "any_agency",
            "categories": ["identity"],
            "given_on": (today - timedelta(days=2)).isoformat(),
            **data,
        }
        response = client.post(url, data=form)
        assert response.status_code == 400 and message in response.get_data(as_text=True), data
    page = client.get(f"/students/{world.student.id}/disclosures").get_data(as_text=True)
    assert (
        "Lakeside Mental Health · identity and contact details, concerns and risk flags" in page and ">current<" in page
    )
    revoke = {f"consent-{recorded.id}-revoked_on": today.isoformat(), f"consent-{recorded.id}-reason": "Phone call"}
    assert client.post(f"/consents/{recorded.id}/revoke", data=revoke).status_code == 302
    twice = client.post(f"/consents/{recorded.id}/revoke", data=revoke)
    assert twice.status_code == 409 and "already withdrawn, as recorded by Casey Counselor" in twice.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.get(Consent, recorded.id).revoked_on == today
    assert count(AuditEvent, AuditEvent.action == "consent.revoked") == 1
    future = client.post(f"/consents/{recorded.id}/revoke", data={f"consent-{recorded.id}-revoked_on": "2099-01-01"})
    assert future.status_code in (400, 409)


def test_a_consent_covers_only_its_scope_categories_and_days(world):
    today = district_today()
    kind = consent(world, scope="agency_kind", agency_kind="health", categories=["identity"])
    assert kind.covers(world.clinic, ["identity"]) and not kind.covers(world.clinic, ["identity", "concerns"])
    assert not kind.covers(make_agency("law_enforcement"), ["identity"]) and not kind.covers(None, ["identity"])
    anyone = consent(world, given_on=today - timedelta(days=1))
    assert anyone.covers(None, ["concerns"])  # a recipient in free text: only a consent for any agency reaches it
    with pytest.raises(AlreadyDone, match="already recorded by Casey Counselor"):
        consent(world, given_on=today - timedelta(days=1))
    with pytest.raises(ServiceError, match="one of the student's guardians"):
        consent(world, guardian=world.stranger)
    revoke_consent(world.counselor, anyone, revoked_on=today, reason=None, today=today)
    assert not anyone.is_current_on(today) and anyone.is_current_on(today - timedelta(days=1))


def test_consent_is_checked_on_the_day_of_the_sharing(world):
    today = district_today()
    consent(world, given_on=today - timedelta(days=10), expires_on=today - timedelta(days=5))
    noon = lambda days: datetime.combine(today - timedelta(days=days), datetime.min.time(), UTC) + timedelta(hours=18)  # noqa: E731
    # A sharing made while the consent was current is recorded; one after it expired is not.
    old = record_disclosure(
        world.counselor,
        world.student,
        agency=world.clinic,
        categories=["identity"],
        legal_basis="parental_consent",
        disclosed_at=noon(7),
    )
    assert old.consent_id is not None
    with pytest.raises(ServiceError, match="No current parental consent"):
        record_disclosure(
            world.counselor,
            world.student,
            agency=world.clinic,
            categories=["identity"],
            legal_basis="parental_consent",
            disclosed_at=noon(1),
        )


# -- sharings the app records itself ---------------------------------------------------------------


def test_a_mandated_report_is_a_disclosure_and_a_correction_updates_it(world, client, login_as):
    hotline = make_agency("child_welfare", name="State Child Abuse Hotline")
    flag = make_flag(world.student, world.counselor, category_name="Signs of commercial", severity="high", note=NOTE)
    made = datetime.now(UTC) - timedelta(hours=3)
    record_mandated_report(
        world.counselor, flag, agency="State child abuse hotline", made_at=made, reference="HL-1", not_made_reason=None
    )
    disclosure = db.session.scalars(select(Disclosure)).one()
    assert (disclosure.legal_basis, disclosure.source, disclosure.source_id, disclosure.agency_id) == (
        "mandated_report",
        "mandated_report",
        flag.id,
        hotline.id,
    )
    assert disclosure.purpose == "Report of suspected abuse or exploitation (reference HL-1)"
    record_mandated_report(
        world.counselor, flag, agency="State child abuse hotline", made_at=made, reference="HL-2", not_made_reason=None
    )
    assert count(Disclosure) == 1 and "HL-2" in db.session.scalars(select(Disclosure)).one().purpose
    other = make_flag(world.sibling, world.counselor, category_name="Signs of commercial", severity="high")
    record_mandated_report(
        world.counselor,
        other,
        agency=None,
        made_at=None,
        reference=None,
        not_made_reason="Reported by the hospital the same night.",
    )
    assert count(Disclosure) == 1  # no report made, nothing shared
    db.session.commit()
    login_as(world.counselor)
    response = client.get(f"/students/{world.student.id}/disclosures")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[-3000:]
    assert "State Child Abuse Hotline" in page and "Mandated report (state child-abuse reporting law)" in page
    assert NOTE not in page


def test_a_student_level_export_is_on_the_record_of_every_student_it_includes(world, client, login_as):
    from school_prevention.programs.models import Enrollment
    from tests.factories import make_program

    program = make_program(world.school, world.counselor, capacity=5)
    db.session.add(
        Enrollment(
            program_id=program.id,
            student_id=world.student.id,
            status="active",
            started_at=datetime.now(UTC) - timedelta(days=3),
        )
    )
    district = make_user("district", can_export_student_level=True, name="Dana District")
    db.session.commit()
    login_as(district)
    from school_prevention.exports.worker import work

    response = client.post(
        "/exports/students",
        data={
            "dataset": "programs",
            "fmt": "csv",
            "level": "",
            "purpose": "State agency program evaluation, agreement 2026-14",
        },
    )
    assert response.status_code == 303
    assert not db.session.scalars(select(Disclosure)).all()  # queued: nothing shared yet
    assert work() == 1  # the export worker makes the file: that is when it is recorded
    assert client.get(response.headers["Location"] + "/download").status_code == 200
    disclosure = db.session.scalars(select(Disclosure)).one()
    assert (disclosure.source, disclosure.student_count, disclosure.legal_basis, disclosure.categories) == (
        "student_export",
        1,
        "school_official",
        ["identity", "enrollment", "programs"],
    )
    assert disclosure.purpose == "State agency program evaluation, agreement 2026-14"
    listed = set(db.session.scalars(select(disclosure_student.c.student_id)))
    assert listed == {world.student.id}  # the sibling is in no program: not part of it
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.student_level")).one()
    assert event.detail["disclosure_id"] == disclosure.id
    login_as(world.counselor)
    assert "Student-level export by Dana District" in client.get(f"/students/{world.student.id}/disclosures").get_data(
        as_text=True
    )
    assert "Student-level export" not in client.get(f"/students/{world.sibling.id}/disclosures").get_data(as_text=True)


# -- parent inspection requests -------------------------------------------------------------------------


def test_an_inspection_request_is_due_in_45_days_shown_until_answered_and_answered_once(world, client, login_as, app):
    flag = make_flag(world.student, world.counselor, note=NOTE)
    db.session.commit()
    login_as(world.counselor)
    today = district_today()
    url = f"/students/{world.student.id}/inspections/new"
    logged = client.post(
        url,
        data={
            "guardian": str(world.parent.id),
            "requested_on": (today - timedelta(days=5)).isoformat(),
            "how_received": "Letter to the principal",
        },
    )
    assert logged.status_code == 302
    request_ = db.session.scalars(select(InspectionRequest)).one()
    assert request_.due_on == today + timedelta(days=40)
    again = client.post(url, data={"guardian": str(world.parent.id), "requested_on": today.isoformat()})
    assert again.status_code == 409 and "is already logged" in again.get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert "Inspection requests to answer" in home and "Ortiz, Lena" in home
    # The printed record: everything, restricted notes left out by default (the record says one exists).
    printed = client.get(f"/inspections/{request_.id}").get_data(as_text=True)
    for text in (
        "Education record of Ortiz, Lena",
        "Social isolation",
        "Rosa Ortiz",
        "Record of disclosures",
        "A restricted note exists. It is not part of this copy",
    ):
        assert text in printed, text
    assert NOTE not in printed
    view = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "inspection.export.view")).one()
    assert view.detail["restricted_notes"] is False and view.detail["sections"]["flags"] == 1
    assert client.post(f"/inspections/{request_.id}/answer").status_code == 302
    twice = client.post(f"/inspections/{request_.id}/answer")
    assert twice.status_code == 409 and "already answered by Casey Counselor" in twice.get_data(as_text=True)
    db.session.expire_all()
    request_ = db.session.get(InspectionRequest, request_.id)
    disclosure = db.session.get(Disclosure, request_.disclosure_id)
    assert (request_.status, request_.included_restricted_notes) == ("answered", False)
    assert (disclosure.legal_basis, disclosure.source, disclosure.recipient) == (
        "parent_inspection",
        "inspection",
        "Rosa Ortiz (parent), inspection of the record",
    )
    assert "concerns" in disclosure.categories and "restricted_notes" not in disclosure.categories
    assert count(AuditEvent, AuditEvent.action == "inspection.answered") == 1
    assert "Inspection requests to answer" not in client.get("/").get_data(as_text=True)
    assert "Parent&#39;s right to inspect the record" in client.get(
        f"/students/{world.student.id}/disclosures"
    ).get_data(as_text=True)
    assert flag.id  # the flag was part of the record


def test_restricted_notes_are_in_the_printed_record_when_the_district_says_so(
    world, client, login_as, app, monkeypatch
):
    make_flag(world.student, world.counselor, note=NOTE)
    request_ = log_inspection_request(
        world.counselor,
        world.student,
        guardian=world.parent,
        requested_on=district_today(),
        how_received=None,
        today=district_today(),
    )
    db.session.commit()
    monkeypatch.setitem(app.config, "SP_INSPECTION_INCLUDES_RESTRICTED_NOTES", True)
    login_as(world.counselor)
    printed = client.get(f"/inspections/{request_.id}").get_data(as_text=True)
    assert NOTE in printed and "included in" in printed
    disclosure = answer_inspection(
        world.counselor, request_, categories=["identity", "restricted_notes"], include_restricted=True
    )
    assert "restricted_notes" in disclosure.categories and request_.included_restricted_notes is True


def test_inspection_requests_and_records_are_counselors_of_the_school_only(world, client, login_as):
    request_ = log_inspection_request(
        world.counselor,
        world.student,
        guardian=world.parent,
        requested_on=district_today(),
        how_received=None,
        today=district_today(),
    )
    db.session.commit()
    login_as(world.outsider)
    for url in (
        f"/inspections/{request_.id}",
        f"/students/{world.student.id}/disclosures",
        f"/students/{world.student.id}/consents/new",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/inspections/{request_.id}/answer").status_code == 404
    login_as(world.principal)
    assert client.get(f"/inspections/{request_.id}").status_code == 403
    with pytest.raises(ServiceError, match="future"):
        log_inspection_request(
            world.counselor,
            world.sibling,
            guardian=world.parent,
            requested_on=district_today() + timedelta(days=1),
            how_received=None,
            today=district_today(),
        )


# -- at the same moment ------------------------------------------------------------------------------


def test_one_inspection_answered_at_once_is_answered_once(race_app):
    with race_app.app_context():
        school = make_school()
        counselor = make_user("counselor", schools=[school])
        student = make_student(school)
        request_ = log_inspection_request(
            counselor,
            student,
            guardian=make_guardian(student),
            requested_on=district_today(),
            how_received=None,
            today=district_today(),
        )
        db.session.commit()
        ids = (counselor.id, request_.id)
    answers = fire_together(race_app, ids[0], "POST", f"/inspections/{ids[1]}/answer")
    assert_one_effect(answers, says="already answered")
    with race_app.app_context():
        assert count(Disclosure, Disclosure.source == "inspection", Disclosure.source_id == ids[1]) == 1
