"""Through the roster import: a student who left has their plans and reminders ended; a student who
moved school is handed to the new school's counselor, and the old one hears no more (issue 16, item 6)."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from school_prevention.checkins.jobs import remind_before, remind_overdue
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from school_prevention.programs.models import Match
from school_prevention.roster.pipeline.report import count_rows
from school_prevention.roster.services import import_roster, start_run
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests.factories import make_user
from tests.support import roster_files as rf
from tests.support.reminder_helpers import make_active_match

NOW = datetime.now(UTC).replace(microsecond=0)


def run_import(path, allow=False):
    run = start_run(None, str(path), dry_run=False)
    return import_roster(run.id, path, dry_run=False, allow_mass_deactivation=allow)


@pytest.fixture
def district(app, tmp_path, db_session):
    """Six students over two schools (stu-1 at sch-2), a counselor per school, and stu-1's plan and match."""
    run_import(rf.write(tmp_path / "a", rf.district(6)))
    schools = {s.sourced_id: s for s in db.session.scalars(select(School))}
    student = db.session.scalars(select(Student).where(Student.sourced_id == "stu-1")).one()
    old = make_user("counselor", schools=[schools["sch-2"]], name="Olga Old")
    new_busy = make_user("counselor", schools=[schools["sch-1"]], name="Bea Busy")
    new = make_user("counselor", schools=[schools["sch-1"]], name="Nia New")
    plan = CheckInPlan(
        student_id=student.id,
        school_id=student.school_id,
        counselor_id=old.id,
        cadence="weekly",
        local_time=time(10, 0),
        starts_on=date(2026, 9, 1),
        until=NOW.date() + timedelta(days=200),
        status="active",
    )
    # Bea has a plan already (with another sch-1 student): Nia, with none, takes the next one.
    other = db.session.scalars(select(Student).where(Student.sourced_id == "stu-2")).one()
    busy = CheckInPlan(
        student_id=other.id,
        school_id=other.school_id,
        counselor_id=new_busy.id,
        cadence="weekly",
        local_time=time(9, 0),
        starts_on=date(2026, 9, 1),
        until=NOW.date() + timedelta(days=200),
        status="active",
    )
    db.session.add_all([plan, busy])
    db.session.flush()

    def checkin(n, due, status="scheduled"):
        row = CheckIn(
            plan_id=plan.id,
            student_id=student.id,
            school_id=student.school_id,
            counselor_id=old.id,
            occurrence=date(2026, 9, 1) + timedelta(days=n),
            due_at=due,
            status=status,
            outcome="doing_well" if status == "completed" else None,
        )
        db.session.add(row)
        return row

    done = checkin(0, NOW - timedelta(days=20), "completed")
    overdue = checkin(1, NOW - timedelta(days=8))  # a whole school day late, whatever day the test runs
    upcoming = checkin(2, NOW + timedelta(minutes=30))
    match = make_active_match(student, matched_on=date(2026, 9, 1), checked_on=date(2026, 8, 1))
    db.session.flush()
    waiting = Notification(
        user_id=old.id,
        kind="checkin.before.1440.s0",
        channel="email",
        subject_type="checkin",
        subject_id=upcoming.id,
        title="Check-in with GF",
        link=f"/checkins/{upcoming.id}",
        state="pending",
        send_at=NOW,
        created_at=NOW,
    )
    db.session.add(waiting)
    db_session.commit()
    assert len(unsent_to(old)) == 1
    return {
        "schools": schools,
        "student": student,
        "old": old,
        "new": new,
        "busy": new_busy,
        "plan": plan,
        "done": done,
        "overdue": overdue,
        "upcoming": upcoming,
        "match": match,
        "waiting": waiting.id,
    }


def unsent_to(user) -> list[Notification]:
    return list(
        db.session.scalars(select(Notification).where(Notification.user_id == user.id, Notification.state == "pending"))
    )


def reminded(user) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user.id, Notification.kind.startswith("checkin."))
        )
    )


def test_a_student_who_left_has_plans_reminders_and_match_ended_and_the_counselor_is_told(
    district, tmp_path, client, login_as
):
    w = district
    files = rf.district(6)
    files["users.csv"][1] = rf.student("stu-1", "Given1", "Family1", "sch-2", enabled="false")
    report = run_import(rf.write(tmp_path / "b", files))
    assert report.counts["students_deactivated"] == 1 and report.counts["checkin_plans_ended"] == 1
    assert ("Check-in plans ended (students who left)", 1) in count_rows(report.counts)

    db.session.expire_all()
    plan = db.session.get(CheckInPlan, w["plan"].id)
    assert (plan.status, plan.ended_reason) == ("ended", "student_left")
    assert db.session.get(CheckIn, w["done"].id).status == "completed"  # what happened stays
    assert db.session.get(CheckIn, w["overdue"].id).status == "cancelled"
    assert db.session.get(CheckIn, w["upcoming"].id).status == "cancelled"
    assert unsent_to(w["old"]) == []  # the unsent reminder is not sent
    assert db.session.get(Match, w["match"].id).status == "closed"
    # The sweeps find nothing more to remind the counselor of.
    assert remind_before(NOW) == 0 and remind_overdue(NOW) == 0
    assert reminded(w["old"]) == []

    login_as(w["old"])
    page = html.unescape(client.get("/").data.decode())
    assert "1 student left; their check-in plan ended." in page
    assert "Given1" not in page and "Family1" not in page  # a count, no names
    login_as(w["new"])
    assert "student left" not in client.get("/").data.decode()


def test_several_who_left_by_a_bulk_file_that_no_longer_lists_them(district, tmp_path, client, login_as):
    w = district
    files = rf.district(6)
    del files["users.csv"][1]  # stu-1 is no longer in the export (allowed: a small district)
    report = run_import(rf.write(tmp_path / "b", files), allow=True)
    assert report.counts["checkin_plans_ended"] == 1
    db.session.expire_all()
    assert db.session.get(CheckInPlan, w["plan"].id).status == "ended"


def test_a_student_who_moved_is_handed_to_the_new_schools_counselor(district, tmp_path, client, login_as):
    w = district
    moved = rf.district(6)
    moved["users.csv"][1] = rf.student("stu-1", "Given1", "Family1", "sch-1")
    report = run_import(rf.write(tmp_path / "b", moved))
    assert report.counts["students_moved_school"] == 1 and report.counts["checkin_plans_handed_over"] == 1
    assert ("Check-in plans handed to the new school's counselor", 1) in count_rows(report.counts)

    db.session.expire_all()
    new_school = w["schools"]["sch-1"].id
    plan = db.session.get(CheckInPlan, w["plan"].id)
    # Nia has the fewest active plans at the new school: the plan is hers, nothing waits for a hand-off.
    assert (plan.school_id, plan.counselor_id, plan.needs_handoff, plan.status) == (
        new_school,
        w["new"].id,
        False,
        "active",
    )
    for key in ("overdue", "upcoming"):
        checkin = db.session.get(CheckIn, w[key].id)
        assert (checkin.school_id, checkin.counselor_id, checkin.status) == (new_school, w["new"].id, "scheduled")
    done = db.session.get(CheckIn, w["done"].id)
    assert (done.school_id, done.counselor_id) == (w["schools"]["sch-2"].id, w["old"].id)  # where it happened
    assert db.session.get(Match, w["match"].id).school_id == new_school
    assert unsent_to(w["old"]) == []  # the old counselor's unsent reminder is not sent
    told = list(
        db.session.scalars(
            select(Notification).where(
                Notification.user_id == w["new"].id, Notification.kind == "checkin_plan.handed_over"
            )
        )
    )
    assert sorted(n.channel for n in told) == ["email", "in_app"]
    assert {n.title for n in told} == {"A student who moved to your school (GF): their check-in plan is now yours"}

    # The reminder sweeps now go to Nia only.
    assert remind_before(NOW) == 2 and remind_overdue(NOW) == 2
    assert [n.kind for n in reminded(w["old"])] == []
    assert {n.kind.rsplit(".", 1)[0] for n in reminded(w["new"])} >= {"checkin.before.60", "checkin.overdue"}

    # Nia can open the plan, its check-ins and the match; Olga no longer can.
    login_as(w["new"])
    assert client.get(f"/checkin-plans/{plan.id}").status_code == 200
    assert client.get(f"/checkins/{w['upcoming'].id}").status_code == 200
    assert client.get(f"/matches/{w['match'].id}").status_code == 200
    login_as(w["old"])
    assert client.get(f"/checkin-plans/{plan.id}").status_code == 404
    assert client.get(f"/matches/{w['match'].id}").status_code == 404


def test_with_no_counselor_at_the_new_school_the_plan_waits_for_a_hand_off(district, tmp_path):
    w = district
    for user in (w["new"], w["busy"]):
        db.session.merge(user).is_active = False
    db.session.commit()
    moved = rf.district(6)
    moved["users.csv"][1] = rf.student("stu-1", "Given1", "Family1", "sch-1")
    report = run_import(rf.write(tmp_path / "b", moved))
    assert report.counts["checkin_plans_marked_for_handoff"] == 1
    db.session.expire_all()
    plan = db.session.get(CheckInPlan, w["plan"].id)
    assert (plan.counselor_id, plan.needs_handoff) == (w["old"].id, True)
