"""Queries for screenings and instruments."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, and_, bindparam, exists, select
from sqlalchemy.orm import aliased, contains_eager

from school_prevention.screenings.models import Instrument, Screening
from school_prevention.students.models import Student


def active_instruments() -> Select:
    return select(Instrument).where(Instrument.is_active.is_(True)).order_by(Instrument.name)


def all_instruments() -> Select:
    return select(Instrument).order_by(Instrument.is_active.desc(), Instrument.name)


def screenings_of_student(student_id: int) -> Select:
    """Newest first. Call only for a student already loaded through the user's scope."""
    return (
        select(Screening)
        .where(Screening.student_id == student_id)
        .order_by(Screening.screened_on.desc(), Screening.id.desc())
    )


def screening_on(student_id: int, instrument_id: int, screened_on: date) -> Select:
    """The student's screening with this instrument on this day, if any (there is at most one)."""
    return select(Screening).where(
        Screening.student_id == student_id,
        Screening.instrument_id == instrument_id,
        Screening.screened_on == screened_on,
    )


def rescreens_due(students: Select, today: date) -> Select:
    """Screenings whose rescreen date has come, of active students of a scoped student query, until the
    student is screened again with the same instrument (soonest first, student loaded)."""
    later = aliased(Screening)
    scoped = students.with_only_columns(Student.id).where(Student.is_active.is_(True))
    return (
        select(Screening)
        .join(Screening.student)
        .options(contains_eager(Screening.student))
        .where(
            Screening.next_step == "rescreen",
            Screening.rescreen_on <= today,
            Screening.student_id.in_(scoped),
            ~exists().where(
                and_(
                    later.student_id == Screening.student_id,
                    later.instrument_id == Screening.instrument_id,
                    later.screened_on > Screening.screened_on,
                )
            ),
        )
        .order_by(Screening.rescreen_on, Screening.id)
    )


def student_page_section():
    """The student page's screenings (pages.students.page_queries makes it a section of the page's one
    statement): (query, named columns, order), newest first, with the instrument's name, for :student_id."""
    columns = {
        "screened_on": Screening.screened_on,
        "result": Screening.result,
        "next_step": Screening.next_step,
        "rescreen_on": Screening.rescreen_on,
        "outside_agency": Screening.outside_agency,
        "instrument": Instrument.name,
    }
    query = (
        select(Screening.id)
        .join(Instrument, Instrument.id == Screening.instrument_id)
        .where(Screening.student_id == bindparam("student_id"))
    )
    return query, columns, [Screening.screened_on.desc(), Screening.id.desc()]
