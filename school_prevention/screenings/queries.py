"""Queries for screenings and instruments."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Select, select

from school_prevention.screenings.models import Instrument, Screening


def active_instruments() -> Select:
    return select(Instrument).where(Instrument.is_active.is_(True)).order_by(Instrument.name)


def all_instruments() -> Select:
    return select(Instrument).order_by(Instrument.is_active.desc(), Instrument.name)


def screenings_of_student(student_id: int) -> Select:
    """Newest first. Call only for a student already loaded through the user's scope."""
    return (select(Screening).where(Screening.student_id == student_id)
            .order_by(Screening.screened_on.desc(), Screening.id.desc()))


def screening_on(student_id: int, instrument_id: int, screened_on: date) -> Select:
    """The student's screening with this instrument on this day, if any (there is at most one)."""
    return select(Screening).where(Screening.student_id == student_id, Screening.instrument_id == instrument_id,
                                   Screening.screened_on == screened_on)
