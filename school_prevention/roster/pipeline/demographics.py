"""Demographics from demographics.csv, batch by batch, for students already written."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy import select

from school_prevention.extensions import db
from school_prevention.roster.models import StudentDemographics
from school_prevention.roster.pipeline.report import ImportReport
from school_prevention.roster.pipeline.sql import sourced_id_among
from school_prevention.roster.pipeline.validate import DemographicsRow
from school_prevention.students.models import Student


def write_demographics(rows: Iterable[DemographicsRow], report: ImportReport, batch_size: int) -> None:
    """Save, change or delete each row's demographics; a row whose student is unknown is rejected."""
    batch: list[DemographicsRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            _batch(batch, report)
            batch = []
    if batch:
        _batch(batch, report)


def _batch(batch: list[DemographicsRow], report: ImportReport) -> None:
    counts = report.counts
    ids = dict(
        db.session.execute(
            select(Student.sourced_id, Student.id).where(
                sourced_id_among(Student.sourced_id, [row.sid for row in batch])
            )
        ).all()
    )
    have = {
        d.student_id: d
        for d in db.session.scalars(
            select(StudentDemographics).where(StudentDemographics.student_id.in_(list(ids.values())))
        )
    }
    for row in batch:
        student_id = ids.get(row.sid)
        if student_id is None:
            report.reject("demographics.csv", row.line, _("no student with this sourcedId"))
            continue
        current = have.get(student_id)
        if row.is_deleted:
            if current is not None:
                db.session.delete(current)
                counts["demographics_saved"] += 1
            continue
        if current is None:
            db.session.add(StudentDemographics(student_id=student_id, **row.values))
            counts["demographics_saved"] += 1
        elif any(getattr(current, k) != value for k, value in row.values.items()):
            for k, value in row.values.items():
                setattr(current, k, value)
            counts["demographics_saved"] += 1
        else:
            counts["demographics_unchanged"] += 1
    db.session.flush()
