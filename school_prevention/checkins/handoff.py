"""What the roster import ends or hands over when a student leaves or moves school.

Set-based (a fixed number of statements for a whole import), called inside the import's one
transaction, so a dry run or a refused import changes nothing here either. The import's audit row
stands for these changes, as it does for the students' own rows.

- A student deactivated by the roster (left the district): their active plans end (reason
  "student_left"), every check-in still scheduled is cancelled, unsent reminder emails about them
  are dropped, an open overdue episode ends and an open mentoring match is closed. The counselor's
  home says how many of their students left (students_who_left).
- A student who moved school: their active plans, open check-ins and open mentoring match go to
  the new school. A plan whose counselor does not work at the new school is handed to the new
  school's counselor with the fewest active plans, who is told (in-app and email, initials only);
  the old counselor's unsent reminders about it are dropped, so they hear no more of the student.
  With no active counselor at the new school, the plan keeps its counselor and is marked for hand-off.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import bindparam, delete, func, select, update

from school_prevention.auth.models import User, user_school
from school_prevention.checkins.models import CheckIn, CheckInPlan, OverdueEpisode
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from school_prevention.roles import Role
from school_prevention.students.models import Student

LEFT = "student_left"
NOTE_DAYS = 14  # the counselor's home mentions students who left in the last two weeks
PLAN, CHECKIN, EPISODE, NOTE = (
    CheckInPlan.__table__,
    CheckIn.__table__,
    OverdueEpisode.__table__,
    Notification.__table__,
)


def _drop_unsent(checkin_ids) -> None:
    """Unsent emails about these check-ins are not sent any more (the sweeps make none for a closed one)."""
    db.session.execute(
        delete(NOTE).where(
            NOTE.c.subject_type == "checkin",
            NOTE.c.subject_id.in_(checkin_ids),
            NOTE.c.channel == "email",
            NOTE.c.state == "pending",
        )
    )


def end_plans_of_students_who_left(now: datetime) -> int:
    """End the active plans of students the roster deactivated; returns how many plans ended."""
    plans = select(PLAN.c.id).where(
        PLAN.c.status == "active", PLAN.c.student_id.in_(select(Student.id).where(Student.is_active.is_(False)))
    )
    plan_ids = db.session.scalars(plans).all()
    if not plan_ids:
        return 0
    for start in range(0, len(plan_ids), 5000):
        chunk = plan_ids[start : start + 5000]
        open_checkins = select(CHECKIN.c.id).where(CHECKIN.c.plan_id.in_(chunk), CHECKIN.c.status == "scheduled")
        _drop_unsent(open_checkins)
        db.session.execute(
            update(CHECKIN)
            .where(CHECKIN.c.plan_id.in_(chunk), CHECKIN.c.status == "scheduled")
            .values(status="cancelled", cancelled_by_plan=False, sequence=CHECKIN.c.sequence + 1, updated_at=now)
        )
        db.session.execute(
            update(PLAN)
            .where(PLAN.c.id.in_(chunk))
            .values(status="ended", ended_at=now, ended_reason=LEFT, updated_at=now)
        )
    gone = select(Student.id).where(Student.is_active.is_(False))
    db.session.execute(
        update(EPISODE).where(EPISODE.c.ended_at.is_(None), EPISODE.c.student_id.in_(gone)).values(ended_at=now)
    )
    _close_matches_of_students_who_left(now)
    return len(plan_ids)


def _close_matches_of_students_who_left(now: datetime) -> None:
    from school_prevention.programs.models import OPEN_MATCH, Match

    match = Match.__table__
    db.session.execute(
        update(match)
        .where(
            match.c.status.in_(OPEN_MATCH),
            match.c.student_id.in_(select(Student.id).where(Student.is_active.is_(False))),
        )
        .values(status="closed", closed_on=now.date(), closure_reason="The student left (roster import).")
    )


def _only(row: dict, *keys: str) -> dict:
    return {key: row[key] for key in keys}


def hand_off(new_school: dict[int, int], now: datetime) -> tuple[int, int, int]:
    """Plans and matches of students who moved go to their new school.

    Returns how many plans stayed with a counselor who works at both schools, were handed to a
    counselor of the new school, and wait for one (marked for hand-off).
    """
    from school_prevention.checkins.jobs import _both_channels, handed_over_title
    from school_prevention.notifications.services import enqueue
    from school_prevention.programs.models import Match

    match = Match.__table__
    # An open match (not closed; an IN list cannot be sent with executemany).
    db.session.execute(
        update(match)
        .where(match.c.student_id == bindparam("_id"), match.c.status != "closed")
        .values(school_id=bindparam("_school_id")),
        [{"_id": sid, "_school_id": school} for sid, school in new_school.items()],
    )
    plans = db.session.execute(
        select(PLAN.c.id, PLAN.c.student_id, PLAN.c.counselor_id, Student.given_name, Student.family_name)
        .join(Student, Student.id == PLAN.c.student_id)
        .where(PLAN.c.student_id.in_(list(new_school)), PLAN.c.status == "active")
    ).all()
    if not plans:
        return 0, 0, 0
    schools = set(new_school.values())
    works_at = (
        set(
            map(
                tuple,
                db.session.execute(
                    select(user_school.c.user_id, user_school.c.school_id)
                    .join(User, User.id == user_school.c.user_id)
                    .where(
                        user_school.c.school_id.in_(schools),
                        User.role == Role.COUNSELOR.value,
                        User.is_active.is_(True),
                    )
                ),
            )
        )
        if schools
        else set()
    )
    load: dict[int, int] = (
        dict(
            db.session.execute(
                select(PLAN.c.counselor_id, func.count())
                .where(PLAN.c.status == "active", PLAN.c.counselor_id.in_({u for u, _ in works_at}))
                .group_by(PLAN.c.counselor_id)
            ).all()
        )
        if works_at
        else {}
    )
    moved, handed, told = [], 0, []
    for plan_id, student_id, counselor_id, given, family in plans:
        school_id = new_school[student_id]
        keeps = (counselor_id, school_id) in works_at
        takers = sorted((load.get(u, 0), u) for u, s in works_at if s == school_id)
        new_counselor = counselor_id if keeps or not takers else takers[0][1]
        if new_counselor != counselor_id:
            load[new_counselor] = load.get(new_counselor, 0) + 1
            handed += 1
            initials = f"{given[:1]}{family[:1]}".upper()
            told += _both_channels(
                new_counselor,
                "checkin_plan.handed_over",
                "checkin_plan",
                plan_id,
                partial(handed_over_title, initials),
                f"/checkin-plans/{plan_id}",
            )
        moved.append(
            {
                "_id": plan_id,
                "_school_id": school_id,
                "_counselor_id": new_counselor,
                "_old": counselor_id,
                "_needs": not keeps and not takers,
            }
        )
    db.session.execute(
        update(PLAN)
        .where(PLAN.c.id == bindparam("_id"))
        .values(
            school_id=bindparam("_school_id"),
            counselor_id=bindparam("_counselor_id"),
            needs_handoff=bindparam("_needs"),
            updated_at=bindparam("_now"),
        ),
        [{**_only(row, "_id", "_school_id", "_counselor_id", "_needs"), "_now": now} for row in moved],
    )
    # Every check-in still open goes with the plan (an overdue one too: it was not done at the old
    # school, and the old counselor should hear no more of it); completed and missed ones stay where
    # they happened.
    db.session.execute(
        update(CHECKIN)
        .where(CHECKIN.c.plan_id == bindparam("_id"), CHECKIN.c.status == "scheduled")
        .values(
            school_id=bindparam("_school_id"), counselor_id=bindparam("_counselor_id"), sequence=CHECKIN.c.sequence + 1
        ),
        [_only(row, "_id", "_school_id", "_counselor_id") for row in moved],
    )
    handed_rows = [row for row in moved if row["_counselor_id"] != row["_old"]]
    if handed_rows:
        db.session.execute(
            delete(NOTE).where(
                NOTE.c.subject_type == "checkin",
                NOTE.c.channel == "email",
                NOTE.c.state == "pending",
                NOTE.c.user_id == bindparam("_old"),
                NOTE.c.subject_id.in_(
                    select(CHECKIN.c.id).where(CHECKIN.c.plan_id == bindparam("_id"), CHECKIN.c.status == "scheduled")
                ),
            ),
            [{"_old": row["_old"], "_id": row["_id"]} for row in handed_rows],
        )
    enqueue(told, now=now)
    waiting = sum(1 for row in moved if row["_needs"])
    return len(moved) - handed - waiting, handed, waiting


def students_who_left(counselor_id: int, now: datetime) -> tuple[int, datetime | None]:
    """How many of the counselor's students left in the last NOTE_DAYS (their plans ended), and the latest when."""
    count, latest = db.session.execute(
        select(func.count(func.distinct(CheckInPlan.student_id)), func.max(CheckInPlan.ended_at)).where(
            CheckInPlan.counselor_id == counselor_id,
            CheckInPlan.ended_reason == LEFT,
            CheckInPlan.ended_at > now - timedelta(days=NOTE_DAYS),
        )
    ).one()
    return count, latest
