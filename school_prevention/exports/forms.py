"""The student-level export form: what, in which format, for which schools and period, and why."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from school_prevention.exports.students import DATASETS
from school_prevention.forms import choices
from school_prevention.schools.models import SCHOOL_LEVELS

# The levels as the schools table names them (i18n.school_level: "High" is a school here, not a severity).
_NAMED = {
    "elementary": lazy_pgettext("school level", "Elementary"),
    "middle": lazy_pgettext("school level", "Middle"),
    "high": lazy_pgettext("school level", "High"),
    "other": lazy_pgettext("school level", "Other"),
}
_LEVELS = {lv: _NAMED.get(lv, lv.capitalize()) for lv in SCHOOL_LEVELS}


class StudentExportForm(FlaskForm):
    """A student-level export: always with a stated purpose, which goes into the audit log."""

    dataset = RadioField(
        _l("What to export"),
        choices=choices((k, _l(v)) for k, v in DATASETS.items()),
        default="programs",
        validators=[DataRequired(_l("Choose what to export."))],
    )
    fmt = RadioField(
        _l("Format"),
        choices=choices([("csv", "CSV"), ("xlsx", _l("Excel (.xlsx)"))]),
        default="csv",
        validators=[DataRequired(_l("Choose a format."))],
    )
    level = SelectField(
        _l("Schools"),
        validators=[Optional()],
        choices=choices([("", _l("All levels"))] + [(lv, _LEVELS[lv]) for lv in SCHOOL_LEVELS]),
    )
    start = DateField(_l("From"), name="from", validators=[Optional()])
    end = DateField(_l("To"), name="to", validators=[Optional()])
    purpose = TextAreaField(
        _l("Purpose"),
        validators=[
            DataRequired(_l("State why you need this export.")),
            Length(min=20, max=500, message=_l("Say in 20 to 500 characters who asked for it and why.")),
        ],
        description=_l(
            "Who asked for it and why, for example “State agency program evaluation, data-sharing "
            "agreement 2026-14”. It is kept in the audit log with your name."
        ),
    )
