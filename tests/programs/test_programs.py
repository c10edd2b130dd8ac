"""Programs as counselors and principals use them: seats, waitlist, attendance, dosage, mentoring."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select

from school_prevention import create_app
from school_prevention.audit.models import AuditEvent
from school_prevention.config import TestConfig
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from school_prevention.programs.mentoring import open_match
from school_prevention.programs.models import Attendance, Enrollment, Match, MatchContact, Mentor, Program
from school_prevention.programs.services import end_enrollment, enroll
from tests.factories import make_flag, make_mentor, make_program, make_school, make_student, make_user, program_type
from tests.support.apps import migrate_to_head, statements_sent
from tests.support.databases import new_database_url


@pytest.fixture
def world(db_session):
    north, south = make_school(name="North"), make_school(name="South")
    counselor = make_user("counselor", schools=[north])
    w = {
        "north": north,
        "south": south,
        "counselor": counselor,
        "counselor2": make_user("counselor", schools=[north]),
        "principal": make_user("principal", schools=[north]),
        "other_counselor": make_user("counselor", schools=[south]),
        "district": make_user("district"),
        "staff": make_user("staff", schools=[north]),
        "students": [make_student(north, given_name=f"Kid{i}", family_name=f"Family{i}", grade="07") for i in range(5)],
        "far": make_student(south, given_name="Far", family_name="Away"),
    }
    w["program"] = make_program(north, counselor, capacity=2, name="Coping Skills Group")
    db_session.commit()
    return w


def statuses(program):
    rows = db.session.execute(
        select(Enrollment.student_id, Enrollment.status)
        .where(Enrollment.program_id == program.id)
        .order_by(Enrollment.id)
    ).all()
    return [(sid, status) for sid, status in rows]


def test_counselor_creates_a_program_and_bad_input_changes_nothing(client, login_as, world):
    w = world
    login_as(w["counselor"])
    base = {
        "school_id": w["north"].id,
        "type_id": program_type("Mentoring").id,
        "name": "Lunch Buddies",
        "capacity": "6",
        "session_minutes": "30",
        "starts_on": "2026-09-01",
        "ends_on": "2027-06-01",
        "is_active": "y",
    }
    for change, message in [
        ({"capacity": "0"}, "from 1 to 10000"),
        ({"name": ""}, "Give the program a name"),
        ({"ends_on": "2026-08-01"}, "end date is before the start"),
        ({"capacity": "lots"}, "Not a valid integer"),
        ({"school_id": str(w["south"].id)}, "Not a valid choice"),
        ({"name": "Coping skills group"}, "already has a program with this name"),
    ]:
        response = client.post("/programs/new", data={**base, **change})
        assert response.status_code == 400, change
        assert message in response.data.decode(), change
    assert db.session.scalar(select(func.count()).select_from(Program)) == 1
    response = client.post("/programs/new", data=base)
    assert response.status_code == 302
    program = db.session.scalars(select(Program).where(Program.name == "Lunch Buddies")).one()
    assert program.capacity == 6 and program.school_id == w["north"].id
    assert "Lunch Buddies" in client.get("/programs").data.decode()


def test_a_nul_byte_in_a_program_or_mentor_form_is_refused_and_changes_nothing(client, login_as, world):
    w = world
    login_as(w["counselor"])
    program = w["program"]
    response = client.post(
        f"/programs/{program.id}/edit",
        data={
            "type_id": program.type_id,
            "name": "Coping\x00Skills",
            "capacity": "2",
            "session_minutes": "45",
            "is_active": "y",
        },
    )
    assert response.status_code == 400
    assert "not allowed (a NUL byte" in response.data.decode()
    db.session.refresh(program)
    assert program.name == "Coping Skills Group"
    response = client.post("/mentors/new", data={"school_id": w["north"].id, "name": "Ana\x00", "is_active": "y"})
    assert response.status_code == 400
    assert "not allowed (a NUL byte" in response.data.decode()
    assert db.session.scalar(select(func.count()).select_from(Mentor)) == 0


def test_enrolling_three_into_two_seats_waitlists_the_third_and_no_one_twice(client, login_as, world):
    w, kids = world, world["students"]
    login_as(w["counselor"])
    response = client.post(
        f"/programs/{w['program'].id}/enroll",
        data={"student_ids": [kids[0].id, kids[1].id, kids[2].id]},
        follow_redirects=True,
    )
    page = response.data.decode()
    assert "2 enrolled; 1 waitlisted" in page
    assert statuses(w["program"]) == [(kids[0].id, "active"), (kids[1].id, "active"), (kids[2].id, "waitlisted")]
    # Enrolling the same students again (a double click) changes nothing and says who enrolled them.
    again = client.post(f"/programs/{w['program'].id}/enroll", data={"student_ids": [kids[0].id, kids[2].id]})
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert "These 2 students are already in this program (added by" in page and w["counselor"].name in page
    assert "on this program’s waitlist" in page
    # The refusal writes no audit row, so it names no child.
    assert kids[0].family_name not in page and kids[2].family_name not in page
    # Among others, a student already in is skipped with the reason.
    mixed = client.post(
        f"/programs/{w['program'].id}/enroll", data={"student_ids": [kids[0].id, kids[3].id]}, follow_redirects=True
    )
    assert "1 waitlisted" in mixed.data.decode() and "already in this program or on its waitlist" in mixed.data.decode()
    assert len(statuses(w["program"])) == 4
    # A student of another school, or an id that does not exist, is not found: nothing changes.
    assert client.post(f"/programs/{w['program'].id}/enroll", data={"student_ids": [w["far"].id]}).status_code == 404
    assert client.post(f"/programs/{w['program'].id}/enroll", data={"student_ids": ["x"]}).status_code == 400
    assert client.post(f"/programs/{w['program'].id}/enroll", data={}).status_code == 400
    assert len(statuses(w["program"])) == 4


def test_waitlist_promotes_in_order_and_notifies_the_counselors(client, login_as, world):
    w, kids = world, world["students"]
    enroll(w["counselor"], w["program"], kids[:2])
    enroll(w["counselor"], w["program"], [kids[3]])
    enroll(w["counselor"], w["program"], [kids[2]])
    db.session.commit()
    login_as(w["principal"])
    first = db.session.scalars(select(Enrollment).where(Enrollment.student_id == kids[0].id)).one()
    response = client.post(f"/enrollments/{first.id}/end", data={"status": "withdrawn", "reason": ""})
    assert response.status_code == 400 and "Say why" in response.data.decode()
    response = client.post(
        f"/enrollments/{first.id}/end", data={"status": "withdrawn", "reason": "Family moved"}, follow_redirects=True
    )
    assert "moved from the waitlist into the seat" in response.data.decode()
    assert dict(statuses(w["program"]))[kids[3].id] == "active"  # first in line, though enrolled later in the list
    assert dict(statuses(w["program"]))[kids[2].id] == "waitlisted"
    notes = db.session.scalars(select(Notification).where(Notification.kind == "enrollment.promoted")).all()
    assert {n.user_id for n in notes} == {w["counselor"].id, w["counselor2"].id}
    assert all(kids[3].family_name not in n.title and "KF" in n.title for n in notes)  # initials only
    # Ending it again is refused, says who ended it, and changes nothing.
    again = client.post(f"/enrollments/{first.id}/end", data={"status": "completed", "reason": "x"})
    assert again.status_code == 409
    assert f"was already ended (withdrawn) by {w['principal'].name}" in again.get_data(as_text=True)
    assert db.session.get(Enrollment, first.id).end_reason == "Family moved"


def test_raising_capacity_promotes_and_lowering_below_the_seated_is_refused(world):
    w, kids = world, world["students"]
    enroll(w["counselor"], w["program"], kids[:4])
    from school_prevention.programs.services import update_program

    values = {
        "name": w["program"].name,
        "description": None,
        "facilitator": None,
        "starts_on": None,
        "ends_on": None,
        "schedule": None,
        "location": None,
        "session_minutes": 45,
        "is_active": True,
    }
    with pytest.raises(ServiceError, match="2 students hold seats"):
        update_program(w["counselor"], w["program"], w["program"].type, capacity=1, **values)
    promoted = update_program(w["counselor"], w["program"], w["program"].type, capacity=3, **values)
    assert [e.student_id for e in promoted] == [kids[2].id]


def test_completing_needs_a_seat_and_a_waitlisted_place_can_only_be_withdrawn(world):
    w, kids = world, world["students"]
    enroll(w["counselor"], w["program"], kids[:3])
    waiting = db.session.scalars(select(Enrollment).where(Enrollment.status == "waitlisted")).one()
    with pytest.raises(ServiceError, match="withdraw instead"):
        end_enrollment(w["counselor"], waiting, "completed", "done")
    assert end_enrollment(w["counselor"], waiting, "withdrawn", "changed mind") == []


def test_attendance_for_the_roster_in_one_form_sums_to_the_dosage_shown(client, login_as, world):
    w, kids = world, world["students"]
    enroll(w["counselor"], w["program"], kids[:2])
    db.session.commit()
    login_as(w["counselor"])
    url = f"/programs/{w['program'].id}/sessions/new"
    form = client.get(url).data.decode()
    assert f'name="att-{kids[0].id}"' in form and f'name="att-{kids[1].id}"' in form
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "program.session.view", AuditEvent.object_id == str(w["program"].id))
        )
        == 1
    )
    # Everyone must be marked; nothing is saved otherwise.
    response = client.post(url, data={"held_on": "2026-11-02", "minutes": "40", f"att-{kids[0].id}": "present"})
    assert response.status_code == 400 and "1 not marked" in response.data.decode()
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 0
    assert (
        client.post(
            url,
            data={
                "held_on": "2026-11-02",
                "minutes": "0",
                f"att-{kids[0].id}": "present",
                f"att-{kids[1].id}": "absent",
            },
        ).status_code
        == 400
    )
    for day, minutes, first, second in [
        ("2026-11-02", "40", "present", "absent"),
        ("2026-11-09", "35", "present", "present"),
        ("2026-11-16", "50", "excused", "present"),
    ]:
        assert (
            client.post(
                url, data={"held_on": day, "minutes": minutes, f"att-{kids[0].id}": first, f"att-{kids[1].id}": second}
            ).status_code
            == 302
        )
    page = client.get(f"/programs/{w['program'].id}").data.decode()
    assert _row(page, kids[0]) == ["2", "75"]  # 40 + 35: excused does not count
    assert _row(page, kids[1]) == ["2", "85"]  # 35 + 50
    student_page = client.get(f"/students/{kids[1].id}").data.decode()
    assert "2 sessions, 85 minutes attended" in student_page
    # A correction of one mark changes the dosage.
    from school_prevention.programs.models import ProgramSession

    first_session = db.session.scalars(select(ProgramSession).order_by(ProgramSession.held_on)).first()
    assert (
        client.post(
            f"/programs/{w['program'].id}/sessions/{first_session.id}",
            data={
                "held_on": "2026-11-02",
                "minutes": "40",
                f"att-{kids[0].id}": "present",
                f"att-{kids[1].id}": "present",
            },
        ).status_code
        == 302
    )
    assert _row(client.get(f"/programs/{w['program'].id}").data.decode(), kids[1]) == ["3", "125"]


def _row(page: str, student) -> list[str]:
    """The sessions and minutes cells of a student's roster row."""
    import re

    row = page.split(student.display_name, 1)[1].split("</tr>", 1)[0]
    return re.findall(r'<td class="num">(\d+)</td>', row)


def test_enroll_from_the_student_page_and_scoping(client, login_as, world):
    w, kid = world, world["students"][0]
    login_as(w["counselor"])
    page = client.get(f"/students/{kid.id}/programs").data.decode()
    assert "Coping Skills Group — 2 of 2 seats free" in page
    response = client.post(f"/students/{kid.id}/programs", data={"program_id": w["program"].id}, follow_redirects=True)
    assert "Enrolled in Coping Skills Group." in response.data.decode()
    assert "Coping Skills Group" in client.get(f"/students/{kid.id}").data.decode()
    assert client.post(f"/students/{kid.id}/programs", data={"program_id": 999999}).status_code == 400
    # Another school's counselor: the program and its enrollments do not exist for them.
    login_as(w["other_counselor"])
    enrollment = db.session.scalars(select(Enrollment)).one()
    assert client.get(f"/programs/{w['program'].id}").status_code == 404
    assert client.get(f"/enrollments/{enrollment.id}/end").status_code == 404
    assert client.post(f"/programs/{w['program'].id}/enroll", data={"student_ids": [w["far"].id]}).status_code == 404
    assert "Coping Skills Group" not in client.get("/programs").data.decode()


def test_district_sees_programs_in_aggregate_without_names(client, login_as, world):
    w, kids = world, world["students"]
    enroll(w["counselor"], w["program"], kids[:3])
    db.session.commit()
    login_as(w["district"])
    page = client.get("/programs").data.decode()
    assert "Coping Skills Group" in page and "North" in page
    assert all(k.family_name not in page for k in kids)
    assert f'href="/programs/{w["program"].id}"' not in page
    assert client.get(f"/programs/{w['program'].id}").status_code == 403


def test_flagged_students_not_in_any_program_are_offered_first(client, login_as, world):
    w, kids = world, world["students"]
    make_flag(kids[4], w["counselor"])
    make_flag(kids[0], w["counselor"])
    enroll(w["counselor"], w["program"], [kids[0]])
    db.session.commit()
    login_as(w["counselor"])
    page = client.get(f"/programs/{w['program'].id}").data.decode()
    offered = page.split("Flagged students not yet in any program", 1)[1].split("</fieldset>", 1)[0]
    assert kids[4].display_name in offered and kids[0].display_name not in offered
    found = client.get(f"/programs/{w['program'].id}?q=Family3").data.decode()
    assert kids[3].display_name in found


def test_uncleared_or_expired_mentor_cannot_be_matched(client, login_as, world):
    w, kid = world, world["students"][0]
    today = date.today()
    never = make_mentor(w["north"], w["counselor"], name="Never Checked")
    stale = make_mentor(w["north"], w["counselor"], name="Stale Check", checked_on=today - relativedelta(months=13))
    fresh = make_mentor(w["north"], w["counselor"], name="Fresh Check", checked_on=today - relativedelta(months=2))
    match = open_match(w["counselor"], kid)
    db.session.commit()
    login_as(w["counselor"])
    mentors_page = client.get("/mentors").data.decode()
    assert "no background check on record" in mentors_page and "older than 12 months" in mentors_page
    for mentor, message in [(never, "no background check on record"), (stale, "must be renewed")]:
        response = client.post(f"/matches/{match.id}/status", data={"status": "matched", "mentor_id": mentor.id})
        assert response.status_code == 400 and message in response.data.decode()
        assert db.session.get(Match, match.id).status == "inquiry"
    assert (
        client.post(f"/matches/{match.id}/status", data={"status": "matched", "mentor_id": fresh.id}).status_code == 302
    )
    db.session.expire_all()
    assert db.session.get(Match, match.id).mentor_id == fresh.id


def test_match_moves_through_statuses_shows_length_and_support_due(client, login_as, world):
    w, kid = world, world["students"][1]
    mentor = make_mentor(w["north"], w["counselor"], checked_on=date.today() - timedelta(days=30))
    db.session.commit()
    login_as(w["counselor"])
    assert client.post(f"/students/{kid.id}/matches").status_code == 302
    refused = client.post(f"/students/{kid.id}/matches")
    assert refused.status_code == 409  # one open match per student
    match = db.session.scalars(select(Match).where(Match.student_id == kid.id)).one()
    assert f"already has an open mentoring match (inquiry), started by {w['counselor'].name}" in refused.get_data(
        as_text=True
    )
    assert f'href="/matches/{match.id}"' in refused.get_data(as_text=True)
    assert client.post(f"/matches/{match.id}/status", data={"status": "closed"}).status_code == 400  # needs a reason
    assert client.post(f"/matches/{match.id}/status", data={"status": "waiting"}).status_code == 302
    started = date.today() - relativedelta(months=2)
    assert (
        client.post(
            f"/matches/{match.id}/status", data={"status": "matched", "mentor_id": mentor.id, "on": started.isoformat()}
        ).status_code
        == 302
    )
    page = client.get(f"/matches/{match.id}").data.decode()
    assert f"{(date.today() - started).days} days" in page
    assert "Monthly support contact" in page and "due since" in page
    assert (
        client.post(
            f"/matches/{match.id}/contacts",
            data={
                "contacted_on": (date.today() + timedelta(days=3)).isoformat(),
                "method": "phone",
                "with_whom": "mentor",
            },
        ).status_code
        == 400
    )
    assert (
        client.post(
            f"/matches/{match.id}/contacts",
            data={"contacted_on": date.today().isoformat(), "method": "phone", "with_whom": "mentor"},
        ).status_code
        == 302
    )
    page = client.get(f"/matches/{match.id}").data.decode()
    assert "due since" not in page and "Next support contact by" in page
    assert (
        client.post(f"/matches/{match.id}/status", data={"status": "closed", "reason": "Mentor relocated"}).status_code
        == 302
    )
    assert (
        client.post(f"/matches/{match.id}/status", data={"status": "matched", "mentor_id": mentor.id}).status_code
        == 400
    )
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("match.%"))) >= 5


def test_staff_and_other_schools_cannot_reach_mentoring(client, login_as, world):
    w = world
    match = open_match(w["counselor"], w["students"][0])
    mentor = make_mentor(w["north"], w["counselor"], checked_on=date.today())
    db.session.commit()
    login_as(w["other_counselor"])
    assert client.get(f"/matches/{match.id}").status_code == 404
    assert client.get(f"/mentors/{mentor.id}").status_code == 404
    assert w["students"][0].display_name not in client.get("/matches").data.decode()
    login_as(w["staff"])
    assert client.get(f"/matches/{match.id}").status_code == 403


def test_two_counselors_taking_the_last_seat_at_once_end_one_enrolled_one_waitlisted(
    backend, tmp_path_factory, postgres
):
    """Two real connections race for the last seat; the program's row lock serialises them."""
    if backend != "postgresql":
        pytest.skip("the two-connection race is the PostgreSQL case (SQLite allows one writer at a time)")
    app = create_app(TestConfig(new_database_url(backend, "race", tmp_path_factory, postgres)))
    migrate_to_head(app)
    with app.app_context():
        school = make_school()
        counselors = [make_user("counselor", schools=[school]) for _ in range(2)]
        kids = [make_student(school) for _ in range(3)]
        program = make_program(school, counselors[0], capacity=2)
        enroll(counselors[0], program, [kids[0]])
        db.session.commit()
        ids = {"program": program.id, "counselors": [c.id for c in counselors], "kids": [k.id for k in kids]}
    barrier = threading.Barrier(2)
    errors = []

    def take_last_seat(i):
        from school_prevention.auth.models import User
        from school_prevention.students.models import Student

        try:
            with app.app_context():
                program = db.session.get(Program, ids["program"])
                counselor = db.session.get(User, ids["counselors"][i])
                student = db.session.get(Student, ids["kids"][i + 1])
                barrier.wait(10)
                enroll(counselor, program, [student])
                db.session.commit()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=take_last_seat, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    with app.app_context():
        result = sorted(
            db.session.scalars(
                select(Enrollment.status).where(
                    Enrollment.program_id == ids["program"], Enrollment.student_id.in_(ids["kids"][1:])
                )
            ).all()
        )
        db.engine.dispose()
    assert result == ["active", "waitlisted"]


def test_the_program_page_sends_as_many_statements_for_many_students_as_for_one(client, login_as, world):
    w, kids = world, world["students"]
    enroll(w["counselor"], w["program"], kids[:1])
    db.session.commit()
    login_as(w["counselor"])
    url = f"/programs/{w['program'].id}"
    one = statements_sent(client, url)
    enroll(w["counselor"], w["program"], kids[1:])  # two seats, three on the waitlist
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    assert all(f"Family{i}, Kid{i}" in page for i in range(5))
    assert statements_sent(client, url) == one


def test_a_repeated_session_is_refused_once_recorded_and_a_day_has_one_session(client, login_as, world):
    w, kids = world, world["students"]
    enroll(w["counselor"], w["program"], kids[:2])
    db.session.commit()
    login_as(w["counselor"])
    url = f"/programs/{w['program'].id}/sessions/new"
    form = {"held_on": "2026-11-02", "minutes": "40", f"att-{kids[0].id}": "present", f"att-{kids[1].id}": "absent"}
    assert client.post(url, data=form).status_code == 302
    again = client.post(url, data=form)  # a double click
    assert again.status_code == 409
    assert f"The session of Nov 2, 2026 was already recorded by {w['counselor'].name}" in again.get_data(as_text=True)
    other = client.post(url, data={**form, "minutes": "30"})  # the same day, different details
    assert other.status_code == 400 and "Open it from the program page to correct it" in other.get_data(as_text=True)
    from school_prevention.programs.models import ProgramSession

    (session,) = db.session.scalars(select(ProgramSession)).all()
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 2
    # A correction that changes nothing is the same save again; moving it onto another session's day is refused.
    edit_url = f"/programs/{w['program'].id}/sessions/{session.id}"
    assert client.post(edit_url, data=form).status_code == 409
    assert client.post(url, data={**form, "held_on": "2026-11-09"}).status_code == 302
    moved = client.post(edit_url, data={**form, "held_on": "2026-11-09"})
    assert moved.status_code == 400 and "Another session of this program is recorded on Nov 9, 2026" in moved.get_data(
        as_text=True
    )
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "program_session.updated")
        )
        == 0
    )


def test_a_repeated_program_or_mentor_is_refused_and_a_changed_one_is_saved(client, login_as, world):
    w = world
    login_as(w["counselor"])
    base = {
        "school_id": w["north"].id,
        "type_id": program_type("Mentoring").id,
        "name": "Lunch Buddies",
        "capacity": "6",
        "session_minutes": "30",
        "is_active": "y",
    }
    assert client.post("/programs/new", data=base).status_code == 302
    again = client.post("/programs/new", data=base)
    assert again.status_code == 409 and "was already created by" in again.get_data(as_text=True)
    program = db.session.scalars(select(Program).where(Program.name == "Lunch Buddies")).one()
    edit = {k: v for k, v in base.items() if k != "school_id"}
    assert client.post(f"/programs/{program.id}/edit", data=edit).status_code == 409  # nothing to change
    assert client.post(f"/programs/{program.id}/edit", data={**edit, "capacity": "8"}).status_code == 302
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "program.updated", AuditEvent.object_id == str(program.id))
        )
        == 1
    )

    mentor = {"school_id": w["north"].id, "name": "Ana Mentor", "email": "ana@example.org", "is_active": "y"}
    assert client.post("/mentors/new", data=mentor).status_code == 302
    twice = client.post("/mentors/new", data=mentor)
    assert twice.status_code == 409 and "Ana Mentor was already registered as a mentor by" in twice.get_data(
        as_text=True
    )
    # Someone else of the same name (another email) is another person.
    assert client.post("/mentors/new", data={**mentor, "email": "ana.other@example.org"}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Mentor)) == 2


def test_a_repeated_match_move_or_contact_says_who_did_it(client, login_as, world):
    w, kid = world, world["students"][2]
    mentor = make_mentor(w["north"], w["counselor"], checked_on=date.today() - timedelta(days=30))
    match = open_match(w["counselor"], kid)
    db.session.commit()
    login_as(w["counselor2"])
    assert client.post(f"/matches/{match.id}/status", data={"status": "waiting"}).status_code == 302
    again = client.post(f"/matches/{match.id}/status", data={"status": "waiting"})
    assert again.status_code == 409
    assert f"This match was already moved to “waiting for a mentor” by {w['counselor2'].name}" in again.get_data(
        as_text=True
    )
    # A move the match cannot make is still a plain refusal beside the field.
    assert client.post(f"/matches/{match.id}/status", data={"status": "inquiry"}).status_code == 400
    assert (
        client.post(
            f"/matches/{match.id}/status",
            data={"status": "matched", "mentor_id": mentor.id, "on": (date.today() - timedelta(days=5)).isoformat()},
        ).status_code
        == 302
    )
    contact = {"contacted_on": date.today().isoformat(), "method": "video", "with_whom": "family"}
    assert client.post(f"/matches/{match.id}/contacts", data=contact).status_code == 302
    twice = client.post(f"/matches/{match.id}/contacts", data=contact)
    assert twice.status_code == 409
    assert "This contact (video call with the parent or guardian on" in twice.get_data(as_text=True)
    assert client.post(f"/matches/{match.id}/contacts", data={**contact, "with_whom": "student"}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(MatchContact)) == 2


def test_the_one_open_match_and_one_session_a_day_hold_in_the_database_too(world):
    """The indexes behind the services' checks: a copy that slipped past them is refused."""
    from sqlalchemy.exc import IntegrityError

    from school_prevention.programs.models import ProgramSession

    w, kid = world, world["students"][3]
    open_match(w["counselor"], kid)
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(Match(student_id=kid.id, school_id=kid.school_id, status="waiting"))
        db.session.flush()
    for status in ("closed", "closed"):  # closed matches are history: any number of them
        db.session.add(Match(student_id=kid.id, school_id=kid.school_id, status=status))
    db.session.flush()
    db.session.add(ProgramSession(program_id=w["program"].id, held_on=date(2026, 11, 2), minutes=30))
    db.session.flush()
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(ProgramSession(program_id=w["program"].id, held_on=date(2026, 11, 2), minutes=45))
        db.session.flush()


# Indexes of migration 0012: its tests rebuild the state before it on today's schema (the app's
# models, and so the factories, only fit today's schema).
INDEXES_0012 = ("uq_mentor_match_open", "uq_program_session_program_id_held_on", "uq_match_contact_once")


def _as_before_0012(directory) -> None:
    """Today's schema without 0012's indexes, stamped 0011: the database 0012 was written for."""
    import flask_migrate
    from sqlalchemy import text

    flask_migrate.upgrade(directory=directory)
    for name in INDEXES_0012:
        db.session.execute(text(f"DROP INDEX {name}"))
    db.session.commit()
    flask_migrate.stamp(directory=directory, revision="0011")


def test_the_upgrade_tidies_the_copies_the_old_race_left(backend, tmp_path_factory, postgres):
    """Migration 0012 builds its unique indexes on a database that already holds duplicates."""
    import flask_migrate
    from sqlalchemy import text

    app = create_app(TestConfig(new_database_url(backend, "upgrade", tmp_path_factory, postgres)))
    directory = app.extensions["migrate"].directory
    with app.app_context():
        _as_before_0012(directory)
        school = make_school()
        counselor = make_user("counselor", schools=[school])
        kid, other = make_student(school), make_student(school)
        program = make_program(school, counselor)
        db.session.commit()
        rows = [
            # kid: three open matches; the matched one stays open. other: two inquiries; the first stays.
            (
                "INSERT INTO mentor_match (id, student_id, school_id, status, created_at) VALUES "
                "(1, :kid, :s, 'inquiry', :now), (2, :kid, :s, 'matched', :now), (3, :kid, :s, 'waiting', :now), "
                "(4, :other, :s, 'inquiry', :now), (5, :other, :s, 'inquiry', :now), (6, :other, :s, 'closed', :now)"
            ),
            (
                "INSERT INTO match_contact (match_id, contacted_on, method, with_whom, recorded_at) VALUES "
                "(2, '2026-11-02', 'phone', 'mentor', :now), (2, '2026-11-02', 'phone', 'mentor', :now), "
                "(2, '2026-11-02', 'phone', 'family', :now)"
            ),
            (
                "INSERT INTO program_session (id, program_id, held_on, minutes, recorded_at) VALUES "
                "(1, :p, '2026-11-02', 40, :now), (2, :p, '2026-11-02', 40, :now), (3, :p, '2026-11-09', 40, :now)"
            ),
            "INSERT INTO attendance (session_id, student_id, status) VALUES (1, :kid, 'present'), (2, :kid, 'present')",
        ]
        values = {"kid": kid.id, "other": other.id, "s": school.id, "p": program.id, "now": "2026-11-02 10:00:00"}
        for statement in rows:
            db.session.execute(text(statement), values)
        db.session.commit()
        flask_migrate.upgrade(directory=directory, revision="0012")
        open_ = dict(db.session.execute(text("SELECT id, status FROM mentor_match WHERE status <> 'closed'")).all())
        assert open_ == {2: "matched", 4: "inquiry"}
        reason = db.session.scalar(text("SELECT closure_reason FROM mentor_match WHERE id = 5"))
        assert reason.startswith("Duplicate of match #4")
        assert db.session.scalar(text("SELECT COUNT(*) FROM match_contact")) == 2
        assert db.session.execute(text("SELECT id FROM program_session ORDER BY id")).scalars().all() == [1, 3]
        assert db.session.scalar(text("SELECT COUNT(*) FROM attendance")) == 1
        db.session.remove()
        db.engine.dispose()


def test_the_upgrade_stops_on_two_different_sessions_of_one_day_and_names_them(backend, tmp_path_factory, postgres):
    from alembic import command
    from sqlalchemy import text

    app = create_app(TestConfig(new_database_url(backend, "upgrade", tmp_path_factory, postgres)))
    directory = app.extensions["migrate"].directory
    with app.app_context():
        _as_before_0012(directory)
        school = make_school()
        program = make_program(school, make_user("counselor", schools=[school]))
        db.session.commit()
        db.session.execute(
            text(
                "INSERT INTO program_session (id, program_id, held_on, minutes, recorded_at) VALUES "
                "(7, :p, '2026-11-02', 40, :now), (8, :p, '2026-11-02', 45, :now)"
            ),
            {"p": program.id, "now": "2026-11-02 10:00:00"},
        )
        db.session.commit()
        config = app.extensions["migrate"].migrate.get_config(directory)
        with pytest.raises(RuntimeError, match=r"2026-11-02: sessions 7 and 8\. Open each program in the app"):
            command.upgrade(config, "0012")
        db.session.remove()
        assert db.session.scalar(text("SELECT version_num FROM alembic_version")) == "0011"
        assert db.session.scalar(text("SELECT COUNT(*) FROM program_session")) == 2
        db.engine.dispose()
