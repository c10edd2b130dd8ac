"""Bulk actions on a selection of the caseload: start check-in plans, enroll, assign a counselor.

Each runs in the request's one transaction over students locked in id order (two identical
requests take turns and the second sees what the first did), calls the feature's own service for
each student, and says per student what happened. A refusal that concerns one student (no longer
enrolled, of another school) is that student's result; one that concerns the shared values (a bad
time of day) is raised, and the caller rolls everything back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext
from sqlalchemy import Select, select

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckInPlan
from school_prevention.checkins.services import PLAN_FIELDS, create_plan
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.i18n import is_english
from school_prevention.pages.students.caseload import SEVERITY_RANK
from school_prevention.programs.models import Program
from school_prevention.programs.services import enroll
from school_prevention.students.models import CounselorAssignment, Student

MAX_SELECTED = 100  # two pages of the list; more is a job for the roster or a program's own page
# Refusals of create_plan that concern the values shared by every plan of the request.
SHARED_FIELDS = set(PLAN_FIELDS) | {None}


@dataclass(frozen=True)
class Outcome:
    """What happened to one student: done or not, in words, with a link to what was made or found."""

    student: Student
    done: bool
    message: str
    link: str | None = None


def lock_selected(scoped: Select, ids: list[int]) -> list[Student]:
    """The selected students the user may see, locked until the commit, in id order (no deadlock
    between two requests over overlapping selections); read afresh after any wait."""
    return list(
        db.session.scalars(
            scoped.where(Student.id.in_(ids))
            .order_by(Student.id)
            .with_for_update(of=Student)
            .execution_options(populate_existing=True)
        )
    )


def _active_plans(student_ids: list[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(CheckInPlan.student_id, CheckInPlan.id)
        .where(CheckInPlan.student_id.in_(student_ids), CheckInPlan.status == "active")
        .order_by(CheckInPlan.id)
    )
    return dict(rows.tuples().all())


def _most_severe_flags(student_ids: list[int]) -> dict[int, RiskFlag]:
    flags = db.session.scalars(
        select(RiskFlag)
        .where(RiskFlag.student_id.in_(student_ids), RiskFlag.status.in_(("open", "monitoring")))
        .order_by(RiskFlag.opened_at, RiskFlag.id)
    ).all()
    out: dict[int, RiskFlag] = {}
    for flag in flags:  # the most severe; of equals, the oldest
        held = out.get(flag.student_id)
        if held is None or SEVERITY_RANK[flag.severity] > SEVERITY_RANK[held.severity]:
            out[flag.student_id] = flag
    return out


def _assigned_counselors(student_ids: list[int]) -> dict[int, User]:
    rows = db.session.execute(
        select(CounselorAssignment.student_id, User)
        .join(User, User.id == CounselorAssignment.counselor_id)
        .where(CounselorAssignment.student_id.in_(student_ids))
    )
    return dict(rows.tuples().all())


def _category(name: str) -> str:
    """A flag category inside a sentence: lower case in English, as the admin wrote it otherwise (a category
    is the district's words, which another language's sentence quotes as they are)."""
    return name.lower() if is_english() else name


def start_plans(
    actor: User, students: list[Student], *, now: datetime, values: dict, assigned_counselor: bool, link_flag: bool
) -> list[Outcome]:
    """A check-in plan with the same values for each student who has no active plan.

    The counselor is the actor, or (assigned_counselor) the student's assigned counselor where
    there is one. Students with an active plan are skipped and named.
    """
    ids = [s.id for s in students]
    existing = _active_plans(ids)
    flags = _most_severe_flags(ids) if link_flag else {}
    counselors = _assigned_counselors(ids) if assigned_counselor else {}
    out = []
    for student in students:
        if student.id in existing:
            out.append(
                Outcome(
                    student,
                    False,
                    gettext("Skipped: already has a check-in plan."),
                    f"/checkin-plans/{existing[student.id]}",
                )
            )
            continue
        counselor = counselors.get(student.id, actor)
        try:
            with db.session.begin_nested():
                plan = create_plan(actor, student, counselor, now=now, flag=flags.get(student.id), **values)
        except AlreadyDone as exc:
            out.append(Outcome(student, False, gettext("Skipped: %(reason)s", reason=exc.message), exc.next_url))
        except ServiceError as exc:
            if exc.field in SHARED_FIELDS and student.is_active:
                raise  # the shared values are refused: the same for every student
            out.append(Outcome(student, False, gettext("Not planned: %(reason)s", reason=exc.message)))
        else:
            flag = flags.get(student.id)
            text = (
                gettext(
                    "Plan started with %(name)s, linked to the %(severity)s %(category)s flag.",
                    name=counselor.name,
                    severity=gettext(flag.severity.capitalize()).lower(),
                    category=_category(flag.category.name),
                )
                if flag
                else gettext("Plan started with %(name)s.", name=counselor.name)
            )
            out.append(Outcome(student, True, text, f"/checkin-plans/{plan.id}"))
    return out


def enroll_selected(actor: User, program: Program, students: list[Student]) -> list[Outcome]:
    """programs.services.enroll for the selection: seats while they last, then the waitlist, in list order."""
    try:
        result = enroll(actor, program, students)
    except AlreadyDone:  # every one of them already holds or waits for a seat
        return [Outcome(s, False, gettext("Skipped: already in this program or on its waitlist.")) for s in students]
    seated = {s.id for s in result.active}
    waiting = {s.id for s in result.waitlisted}
    skipped = {s.id: reason for s, reason in result.skipped}
    out = []
    for student in students:
        if student.id in seated:
            out.append(
                Outcome(
                    student, True, gettext("Enrolled in %(program)s.", program=program.name), f"/programs/{program.id}"
                )
            )
        elif student.id in waiting:
            out.append(
                Outcome(
                    student,
                    True,
                    gettext("%(program)s is full: added to its waitlist.", program=program.name),
                    f"/programs/{program.id}",
                )
            )
        else:
            out.append(
                Outcome(
                    student,
                    False,
                    gettext("Not enrolled: %(reason)s.", reason=skipped.get(student.id, gettext("skipped"))),
                )
            )
    return out


def assign_counselor(actor: User, students: list[Student], counselor: User) -> list[Outcome]:
    """Put each student on the counselor's caseload (replacing another counselor's), if the counselor
    works at the student's school; one audit row per student moved."""
    if counselor.role != "counselor" or not counselor.is_active:
        raise ServiceError("counselor_id", gettext("Choose an active counselor."))
    current = {
        a.student_id: a
        for a in db.session.scalars(
            select(CounselorAssignment).where(CounselorAssignment.student_id.in_([s.id for s in students]))
        )
    }
    schools = set(counselor.school_ids)
    out = []
    for student in students:
        held = current.get(student.id)
        if student.school_id not in schools:
            out.append(
                Outcome(
                    student,
                    False,
                    gettext(
                        "Not assigned: %(name)s does not work at %(school)s.",
                        name=counselor.name,
                        school=student.school.name,
                    ),
                )
            )
            continue
        if held is not None and held.counselor_id == counselor.id:
            out.append(
                Outcome(student, False, gettext("Skipped: already on %(name)s’s caseload.", name=counselor.name))
            )
            continue
        previous = held.counselor_id if held is not None else None
        if held is None:
            db.session.add(
                CounselorAssignment(student_id=student.id, counselor_id=counselor.id, assigned_by_id=actor.id)
            )
        else:
            held.counselor_id, held.assigned_by_id = counselor.id, actor.id
            held.assigned_at = utcnow()
        audit.record(
            "student.counselor.assigned",
            actor=actor,
            object_type="student",
            object_id=student.id,
            student=student,
            detail={"counselor_id": counselor.id, "previous_counselor_id": previous},
        )
        out.append(Outcome(student, True, gettext("Assigned to %(name)s.", name=counselor.name)))
    db.session.flush()
    return out
