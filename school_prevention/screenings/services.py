"""Record a screening's result and next step."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.errors import AlreadyDone, refuse
from school_prevention.extensions import db
from school_prevention.i18n import format_local
from school_prevention.screenings.models import NEXT_STEPS, RESULTS, Instrument, Screening
from school_prevention.screenings.queries import screening_on
from school_prevention.students.models import Student
from school_prevention.students.services import lock_student
from school_prevention.timezones import localtime
from school_prevention.training.services import screening_refusal


def screening_problems(
    actor: User,
    instrument: Instrument | None,
    *,
    screened_on: date | None,
    result: str | None,
    next_step: str | None,
    rescreen_on: date | None,
    outside_agency: str | None,
    today: date,
) -> list[tuple[str, str]]:
    """Every reason to refuse a screening as entered, all at once (a form shows them together)."""
    problems = []
    if instrument is not None and not instrument.is_active:
        problems.append(("instrument", gettext("This instrument is no longer in use.")))
    if result not in RESULTS:
        problems.append(("result", gettext("Choose the result level.")))
    if next_step not in NEXT_STEPS:
        problems.append(("next_step", gettext("Choose the next step.")))
    if screened_on is not None and screened_on > today:
        problems.append(("screened_on", gettext("The screening date cannot be in the future.")))
    if next_step == "rescreen" and (rescreen_on is None or (screened_on is not None and rescreen_on <= screened_on)):
        problems.append(("rescreen_on", gettext("Give a rescreen date after the screening date.")))
    if next_step == "outside_referral" and not (outside_agency or "").strip():
        problems.append(("outside_agency", gettext("Name the outside agency.")))
    if instrument is not None and (course := instrument.required_course) is not None and screened_on is not None:
        # screening by trained staff only
        refusal = screening_refusal(actor, course, instrument.name, screened_on)
        if refusal:
            problems.append(("instrument", refusal))
    return problems


def record_screening(
    actor: User,
    student: Student,
    *,
    instrument: Instrument,
    screened_on: date,
    result: str,
    next_step: str,
    rescreen_on: date | None = None,
    outside_agency: str | None = None,
    today: date,
) -> Screening:
    """Store the result level (never item responses) and what happens next.

    A student is screened with an instrument at most once a day: the same screening recorded again
    (a double click, two counselors at once) is refused with AlreadyDone naming who recorded it.
    Checked under the student's row lock; a unique index is the backstop.
    """
    refuse(
        screening_problems(
            actor,
            instrument,
            screened_on=screened_on,
            result=result,
            next_step=next_step,
            rescreen_on=rescreen_on,
            outside_agency=outside_agency,
            today=today,
        )
    )
    lock_student(student)
    earlier = db.session.scalars(screening_on(student.id, instrument.id, screened_on)).first()
    if earlier is not None:
        raise AlreadyDone(
            gettext(
                "A %(instrument)s screening of this student on %(day)s was already recorded by "
                "%(name)s (%(when)s). Nothing more was saved.",
                instrument=instrument.name,
                day=format_local(screened_on, "%b %-d, %Y"),
                name=earlier.screener.name,
                when=localtime(earlier.created_at),
            ),
            next_url=f"/students/{student.id}",
        )
    screening = Screening(
        student_id=student.id,
        instrument_id=instrument.id,
        instrument=instrument,
        screened_on=screened_on,
        screener_id=actor.id,
        result=result,
        next_step=next_step,
        rescreen_on=rescreen_on if next_step == "rescreen" else None,
        outside_agency=(outside_agency or "").strip() or None if next_step == "outside_referral" else None,
    )
    db.session.add(screening)
    db.session.flush()
    audit.record(
        "screening.created",
        actor=actor,
        obj=screening,
        student=student,
        detail={"result": result, "next_step": next_step},
    )
    return screening


def link_flag(screening: Screening, flag) -> None:
    """Remember the flag a concerning screening led to."""
    screening.flag_id = flag.id
