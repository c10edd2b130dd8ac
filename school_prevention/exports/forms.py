"""The student-level export form: what, in which format, for which schools and period, and why."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from school_prevention.exports.students import DATASETS
from school_prevention.forms import choices
from school_prevention.schools.models import SCHOOL_LEVELS


class StudentExportForm(FlaskForm):
    """A student-level export: always with a stated purpose, which goes into the audit log."""

    dataset = RadioField("What to export", choices=choices(DATASETS.items()), default="programs",
                         validators=[DataRequired("Choose what to export.")])
    fmt = RadioField("Format", choices=choices([("csv", "CSV"), ("xlsx", "Excel (.xlsx)")]), default="csv",
                     validators=[DataRequired("Choose a format.")])
    level = SelectField("Schools", validators=[Optional()],
                        choices=choices([("", "All levels")] + [(lv, lv.capitalize()) for lv in SCHOOL_LEVELS]))
    start = DateField("From", name="from", validators=[Optional()])
    end = DateField("To", name="to", validators=[Optional()])
    purpose = TextAreaField(
        "Purpose", validators=[DataRequired("State why you need this export."),
                               Length(min=20, max=500, message="Say in 20 to 500 characters who asked for it and why.")],
        description="Who asked for it and why, for example “State agency program evaluation, data-sharing "
                    "agreement 2026-14”. It is kept in the audit log with your name.")
