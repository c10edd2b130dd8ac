"""Forms: a course (admin list), a completion entered by hand, a CSV of completions."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, FloatField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from school_prevention.forms import CheckboxListField, WholeNumberField, choices
from school_prevention.training.models import REQUIRABLE_ROLES, ROLE_PLURALS_TITLE


class CourseForm(FlaskForm):
    """Admin: a course of the catalogue (Lists › Training courses)."""

    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the course a name.")), Length(max=200)])
    provider = StringField(
        _l("Provider"),
        validators=[Optional(), Length(max=200)],
        description=_l("Who gives it: an agency, a training organisation, the district."),
    )
    hours = FloatField(
        _l("Hours"), validators=[Optional(), NumberRange(0, 1000, _l("Give the hours as a number from 0 to 1000."))]
    )
    renewal_months = WholeNumberField(
        _l("Renew every (months)"),
        validators=[Optional(), NumberRange(1, 120, _l("Give a number of months from 1 to 120."))],
        description=_l("A completion is valid this many months. Leave empty when the course never has to be renewed."),
    )
    required_roles = CheckboxListField(
        _l("Required of"),
        choices=choices((r.value, _l(ROLE_PLURALS_TITLE[r])) for r in REQUIRABLE_ROLES),
        description=_l("Everyone of these roles must hold the course; it counts in their school's training coverage."),
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    is_active = BooleanField(_l("In use"), default=True)


class CompletionForm(FlaskForm):
    """A completion entered by hand for one person."""

    course = SelectField(_l("Course"), coerce=int, validators=[DataRequired(_l("Choose the course."))])
    completed_on = DateField(
        _l("Completed on"), validators=[DataRequired(_l("Give the date it was completed (YYYY-MM-DD)."))]
    )
    expires_on = DateField(
        _l("Valid until"), validators=[Optional()], description=_l("Leave empty to use the course's renewal period.")
    )

    def __init__(self, courses, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.course.choices = choices((c.id, c.name) for c in courses)


class ImportForm(FlaskForm):
    """A CSV file of completions."""

    file = FileField(
        _l("CSV file"),
        description=_l("Columns: email, course, completed_on, and optionally expires_on. Dates as YYYY-MM-DD."),
    )
    partial = BooleanField(
        _l("Save the good rows even if some are rejected"),
        description=_l("Unticked, one rejected row means nothing is saved."),
    )


class SchoolPickForm(FlaskForm):
    """Which school's staff to show (a query-string form)."""

    class Meta:
        csrf = False

    school = SelectField(_l("School"), coerce=int)
    show = SelectField(
        _l("Show"),
        choices=choices([("all", _l("Everyone")), ("attention", _l("Not current (due, lapsed, not trained)"))]),
        default="all",
    )

    def __init__(self, schools, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.school.choices = choices((s.id, s.name) for s in schools)
