"""Programs and mentoring under identical requests at the same moment: exactly one effect, a clear
message for the others (tests/support/concurrency.py); seats, the waitlist's order and one open match per
student hold when different requests race too. On PostgreSQL each request has its own connection;
on SQLite they take turns for the write lock."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from school_prevention.programs.mentoring import open_match
from school_prevention.programs.models import (
    Attendance,
    Enrollment,
    Match,
    MatchContact,
    Mentor,
    Program,
    ProgramSession,
)
from school_prevention.programs.services import enroll
from tests.factories import make_mentor, make_program, make_school, make_student, make_user, program_type
from tests.support.concurrency import Answer, assert_one_effect, fire_together, signed_in_clients


@dataclass
class School:
    """Ids of one school's counselors and students, committed in race_app's database."""

    id: int
    counselor: int
    counselor2: int
    students: list[int]


@pytest.fixture
def school(race_app) -> School:
    """A fresh school per test (race_app's database lives for the module)."""
    with race_app.app_context():
        s = make_school()
        counselor, counselor2 = make_user("counselor", schools=[s]), make_user("counselor", schools=[s])
        students = [make_student(s) for _ in range(8)]
        db.session.commit()
        return School(s.id, counselor.id, counselor2.id, [st.id for st in students])


def _count(app, statement) -> int:
    with app.app_context():
        return db.session.scalar(statement)


def _audits(app, action: str, object_id: int | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == str(object_id))
    return _count(app, query)


def _program(app, school: School, *, capacity: int, enrolled: int = 0, name: str | None = None) -> int:
    """A program of the school with its first `enrolled` students enrolled in order (seats, then waitlist)."""
    from school_prevention.auth.models import User
    from school_prevention.schools.models import School as SchoolRow
    from school_prevention.students.models import Student

    with app.app_context():
        counselor = db.session.get(User, school.counselor)
        program = make_program(
            db.session.get(SchoolRow, school.id), counselor, capacity=capacity, **({"name": name} if name else {})
        )
        for sid in school.students[:enrolled]:  # one at a time: the waitlist's order is the students' order
            enroll(counselor, program, [db.session.get(Student, sid)])
        db.session.commit()
        return program.id


def _statuses(app, program_id: int) -> dict[int, str]:
    with app.app_context():
        return dict(
            db.session.execute(
                select(Enrollment.student_id, Enrollment.status).where(
                    Enrollment.program_id == program_id, Enrollment.status.in_(("active", "waitlisted"))
                )
            ).all()
        )


def fire_each(app, user_id: int, method: str, requests: list[tuple[str, dict]]) -> list[Answer]:
    """Different requests by one user (url and form each), released at the same moment."""
    clients = signed_in_clients(app, user_id, len(requests))
    barrier = threading.Barrier(len(requests))
    answers: list[Answer | None] = [None] * len(requests)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                url, data = requests[i]
                response = clients[i].open(url, method=method, data=data)
                answers[i] = Answer(
                    response.status_code, response.headers.get("Location"), response.get_data(as_text=True)
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert all(a is not None and a.status < 500 for a in answers), [a and a.text[:400] for a in answers]
    return answers  # type: ignore[return-value]


# --- enrollment ------------------------------------------------------------------------------


def test_enrolling_one_student_at_once_enrolls_them_once(race_app, school):
    pid = _program(race_app, school, capacity=5)
    kid = school.students[0]
    answers = fire_together(
        race_app,
        [school.counselor] * 4 + [school.counselor2] * 4,
        "POST",
        f"/students/{kid}/programs",
        {"program_id": str(pid)},
    )
    assert_one_effect(answers, says="already in this program")
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(Enrollment)
            .where(Enrollment.program_id == pid, Enrollment.student_id == kid),
        )
        == 1
    )
    assert _audits(race_app, "enrollment.active") >= 1
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "enrollment.active", AuditEvent.student_id == kid),
        )
        == 1
    )


def test_enrolling_the_same_students_at_once_seats_and_waitlists_them_once(race_app, school):
    pid = _program(race_app, school, capacity=2)
    kids = school.students[:3]
    answers = fire_together(race_app, school.counselor, "POST", f"/programs/{pid}/enroll", {"student_ids": kids})
    assert_one_effect(answers, says="already in this program")
    assert _statuses(race_app, pid) == {kids[0]: "active", kids[1]: "active", kids[2]: "waitlisted"}
    assert _count(race_app, select(func.count()).select_from(Enrollment).where(Enrollment.program_id == pid)) == 3


def test_students_enrolled_at_once_never_exceed_capacity_and_wait_in_the_order_they_came(race_app, school):
    pid = _program(race_app, school, capacity=3)
    answers = fire_each(
        race_app,
        school.counselor,
        "POST",
        [(f"/students/{kid}/programs", {"program_id": str(pid)}) for kid in school.students],
    )
    assert all(a.status == 302 for a in answers), [a.status for a in answers]
    statuses = _statuses(race_app, pid)
    assert len(statuses) == 8
    assert sorted(statuses.values()) == ["active"] * 3 + ["waitlisted"] * 5
    with race_app.app_context():
        rows = db.session.execute(
            select(Enrollment.status, Enrollment.requested_at, Enrollment.id)
            .where(Enrollment.program_id == pid)
            .order_by(Enrollment.requested_at, Enrollment.id)
        ).all()
    # Seats went to the first ones to come: in arrival order, every seated student comes before every waiting one.
    assert [r.status for r in rows] == ["active"] * 3 + ["waitlisted"] * 5


def test_withdrawing_one_student_at_once_ends_it_once_and_promotes_exactly_one(race_app, school):
    pid = _program(race_app, school, capacity=1, enrolled=3)  # one seat, two waiting
    first, second, third = school.students[:3]
    with race_app.app_context():
        eid = db.session.scalar(
            select(Enrollment.id).where(Enrollment.program_id == pid, Enrollment.student_id == first)
        )
    answers = fire_together(
        race_app,
        [school.counselor] * 4 + [school.counselor2] * 4,
        "POST",
        f"/enrollments/{eid}/end",
        {"status": "withdrawn", "reason": "Family moved"},
    )
    assert_one_effect(answers, says="was already ended (withdrawn) by")
    assert _statuses(race_app, pid) == {second: "active", third: "waitlisted"}
    assert _audits(race_app, "enrollment.withdrawn", eid) == 1
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "enrollment.promoted", AuditEvent.student_id.in_([second, third])),
        )
        == 1
    )
    # Both counselors of the school hear of the one promotion, once each.
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.kind == "enrollment.promoted",
                Notification.user_id.in_([school.counselor, school.counselor2]),
                Notification.subject_type == "enrollment",
            ),
        )
        == 2
    )


def test_seats_freed_at_once_go_to_the_waitlist_in_order(race_app, school):
    pid = _program(race_app, school, capacity=3, enrolled=7)  # three seated, four waiting
    kids = school.students
    with race_app.app_context():
        ended = db.session.scalars(
            select(Enrollment.id).where(Enrollment.program_id == pid, Enrollment.student_id.in_(kids[:3]))
        ).all()
    answers = fire_each(
        race_app,
        school.counselor,
        "POST",
        [(f"/enrollments/{eid}/end", {"status": "completed", "reason": "Finished the cycle"}) for eid in ended],
    )
    assert all(a.status == 302 for a in answers), [a.status for a in answers]
    assert _statuses(race_app, pid) == {kids[3]: "active", kids[4]: "active", kids[5]: "active", kids[6]: "waitlisted"}


# --- programs, sessions and attendance -------------------------------------------------------


def _program_form(school: School, name: str, capacity: int = 6) -> dict:
    return {
        "school_id": str(school.id),
        "name": name,
        "capacity": str(capacity),
        "session_minutes": "30",
        "starts_on": "2026-09-01",
        "ends_on": "2027-06-01",
        "is_active": "y",
        "type_id": str(program_type("Mentoring").id),
    }


def test_creating_one_program_at_once_creates_it_once(race_app, school):
    with race_app.app_context():
        form = _program_form(school, "Lunch Buddies")
    answers = fire_together(race_app, [school.counselor] * 4 + [school.counselor2] * 4, "POST", "/programs/new", form)
    winner = assert_one_effect(answers, says="was already created by")
    with race_app.app_context():
        (program,) = db.session.scalars(select(Program).where(Program.school_id == school.id)).all()
    assert winner.location == f"/programs/{program.id}"
    assert _audits(race_app, "program.created", program.id) == 1


def test_raising_the_capacity_at_once_saves_once_and_promotes_one(race_app, school):
    pid = _program(race_app, school, capacity=1, enrolled=3, name="Peer Circle")
    with race_app.app_context():
        form = _program_form(school, "Peer Circle", capacity=2)
        form["type_id"] = str(db.session.get(Program, pid).type_id)
        del form["starts_on"], form["ends_on"]
        form["session_minutes"] = "45"
    answers = fire_together(race_app, school.counselor, "POST", f"/programs/{pid}/edit", form)
    assert_one_effect(answers, says="were already saved by")
    kids = school.students
    assert _statuses(race_app, pid) == {kids[0]: "active", kids[1]: "active", kids[2]: "waitlisted"}
    assert _audits(race_app, "program.updated", pid) == 1
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "enrollment.promoted", AuditEvent.student_id.in_(kids[1:3])),
        )
        == 1
    )


def _session_form(students: list[int], held_on: str = "2026-11-02") -> dict:
    return {
        "held_on": held_on,
        "minutes": "40",
        "topic": "Week 1",
        **{f"att-{sid}": ("present" if i % 2 == 0 else "absent") for i, sid in enumerate(students)},
    }


def test_recording_one_session_at_once_records_it_and_its_attendance_once(race_app, school):
    pid = _program(race_app, school, capacity=3, enrolled=3)
    seated = school.students[:3]
    answers = fire_together(
        race_app,
        [school.counselor] * 4 + [school.counselor2] * 4,
        "POST",
        f"/programs/{pid}/sessions/new",
        _session_form(seated),
    )
    assert_one_effect(answers, says="was already recorded by")
    with race_app.app_context():
        (session_id,) = db.session.scalars(select(ProgramSession.id).where(ProgramSession.program_id == pid)).all()
        marks = db.session.scalars(select(Attendance.student_id).where(Attendance.session_id == session_id)).all()
    assert sorted(marks) == sorted(seated)
    assert _audits(race_app, "program_session.recorded", session_id) == 1


def test_correcting_a_session_at_once_saves_it_once(race_app, school):
    pid = _program(race_app, school, capacity=2, enrolled=2)
    seated = school.students[:2]
    from school_prevention.auth.models import User
    from school_prevention.programs.services import record_session

    with race_app.app_context():
        session = record_session(
            db.session.get(User, school.counselor),
            db.session.get(Program, pid),
            held_on=date(2026, 11, 2),
            minutes=40,
            topic=None,
            attendance=dict.fromkeys(seated, "absent"),
            roster_ids=set(seated),
        )
        db.session.commit()
        sid = session.id
    answers = fire_together(
        race_app, school.counselor, "POST", f"/programs/{pid}/sessions/{sid}", _session_form(seated)
    )
    assert_one_effect(answers, says="were already saved by")
    assert _audits(race_app, "program_session.updated", sid) == 1
    with race_app.app_context():
        assert db.session.get(ProgramSession, sid).topic == "Week 1"


# --- mentoring -------------------------------------------------------------------------------


def test_opening_a_match_at_once_opens_one(race_app, school):
    kid = school.students[0]
    answers = fire_together(
        race_app, [school.counselor] * 4 + [school.counselor2] * 4, "POST", f"/students/{kid}/matches"
    )
    winner = assert_one_effect(answers, says="already has an open mentoring match")
    with race_app.app_context():
        (match_id,) = db.session.scalars(select(Match.id).where(Match.student_id == kid)).all()
    assert winner.location == f"/matches/{match_id}"
    assert _audits(race_app, "match.inquiry", match_id) == 1


def _match(app, school: School, *, matched: bool = False) -> tuple[int, int]:
    """(match id, cleared mentor id) for the school's first student."""
    from school_prevention.auth.models import User
    from school_prevention.programs.mentoring import move_match
    from school_prevention.schools.models import School as SchoolRow
    from school_prevention.students.models import Student

    with app.app_context():
        counselor = db.session.get(User, school.counselor)
        today = date.today()
        mentor = make_mentor(db.session.get(SchoolRow, school.id), counselor, checked_on=today - timedelta(days=30))
        match = open_match(counselor, db.session.get(Student, school.students[0]))
        if matched:
            move_match(
                counselor, match, "matched", today=today, check_months=12, mentor=mentor, on=today - timedelta(days=20)
            )
        db.session.commit()
        return match.id, mentor.id


def test_matching_at_once_moves_the_match_once(race_app, school):
    match_id, mentor_id = _match(race_app, school)
    answers = fire_together(
        race_app,
        [school.counselor] * 4 + [school.counselor2] * 4,
        "POST",
        f"/matches/{match_id}/status",
        {"status": "matched", "mentor_id": str(mentor_id)},
    )
    assert_one_effect(answers, says="was already moved to “matched” by")
    assert _audits(race_app, "match.matched", match_id) == 1


def test_closing_a_match_at_once_closes_it_once(race_app, school):
    match_id, _ = _match(race_app, school, matched=True)
    answers = fire_together(
        race_app,
        school.counselor,
        "POST",
        f"/matches/{match_id}/status",
        {"status": "closed", "reason": "Mentor relocated", "mentor_id": "0"},
    )
    assert_one_effect(answers, says="was already moved to “closed” by")
    assert _audits(race_app, "match.closed", match_id) == 1
    with race_app.app_context():
        assert db.session.get(Match, match_id).closure_reason == "Mentor relocated"


def test_logging_one_contact_at_once_records_it_once(race_app, school):
    match_id, _ = _match(race_app, school, matched=True)
    form = {"contacted_on": (date.today() - timedelta(days=1)).isoformat(), "method": "phone", "with_whom": "mentor"}
    answers = fire_together(
        race_app, [school.counselor] * 4 + [school.counselor2] * 4, "POST", f"/matches/{match_id}/contacts", form
    )
    assert_one_effect(answers, says="was already recorded by")
    assert (
        _count(race_app, select(func.count()).select_from(MatchContact).where(MatchContact.match_id == match_id)) == 1
    )
    assert _audits(race_app, "match.contact", match_id) == 1


def _mentor_form(school: School, name: str) -> dict:
    return {
        "school_id": str(school.id),
        "name": name,
        "organisation": "Riverside Rotary",
        "email": "ana.mentor@example.org",
        "background_check_on": (date.today() - timedelta(days=10)).isoformat(),
        "is_active": "y",
    }


def test_registering_one_mentor_at_once_registers_them_once(race_app, school):
    answers = fire_together(
        race_app,
        [school.counselor] * 4 + [school.counselor2] * 4,
        "POST",
        "/mentors/new",
        _mentor_form(school, "Ana Mentor"),
    )
    assert_one_effect(answers, says="was already registered as a mentor by")
    with race_app.app_context():
        (mentor_id,) = db.session.scalars(select(Mentor.id).where(Mentor.school_id == school.id)).all()
    assert _audits(race_app, "mentor.created", mentor_id) == 1


def test_renewing_a_mentor_check_at_once_saves_it_once(race_app, school):
    _, mentor_id = _match(race_app, school)
    form = _mentor_form(school, "Renewed Mentor")
    answers = fire_together(race_app, school.counselor, "POST", f"/mentors/{mentor_id}", form)
    assert_one_effect(answers, says="were already saved by")
    assert _audits(race_app, "mentor.updated", mentor_id) == 1
