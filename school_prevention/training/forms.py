"""Forms: a course (admin list), a completion entered by hand, a CSV of completions."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, FloatField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from school_prevention.forms import WholeNumberField, CheckboxListField, choices
from school_prevention.training.models import REQUIRABLE_ROLES, ROLE_PLURALS


class CourseForm(FlaskForm):
    """Admin: a course of the catalogue (Lists › Training courses)."""

    name = StringField("Name", validators=[DataRequired("Give the course a name."), Length(max=200)])
    provider = StringField("Provider", validators=[Optional(), Length(max=200)],
                           description="Who gives it: an agency, a training organisation, the district.")
    hours = FloatField("Hours", validators=[Optional(), NumberRange(0, 1000, "Give the hours as a number from 0 to 1000.")])
    renewal_months = WholeNumberField(
        "Renew every (months)", validators=[Optional(), NumberRange(1, 120, "Give a number of months from 1 to 120.")],
        description="A completion is valid this many months. Leave empty when the course never has to be renewed.")
    required_roles = CheckboxListField(
        "Required of", choices=choices((r.value, ROLE_PLURALS[r].capitalize()) for r in REQUIRABLE_ROLES),
        description="Everyone of these roles must hold the course; it counts in their school's training coverage.")
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    is_active = BooleanField("In use", default=True)


class CompletionForm(FlaskForm):
    """A completion entered by hand for one person."""

    course = SelectField("Course", coerce=int, validators=[DataRequired("Choose the course.")])
    completed_on = DateField("Completed on", validators=[DataRequired("Give the date it was completed (YYYY-MM-DD).")])
    expires_on = DateField("Valid until", validators=[Optional()],
                           description="Leave empty to use the course's renewal period.")

    def __init__(self, courses, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.course.choices = choices((c.id, c.name) for c in courses)


class ImportForm(FlaskForm):
    """A CSV file of completions."""

    file = FileField("CSV file", description="Columns: email, course, completed_on, and optionally expires_on. "
                                             "Dates as YYYY-MM-DD.")
    partial = BooleanField("Save the good rows even if some are rejected",
                           description="Unticked, one rejected row means nothing is saved.")


class SchoolPickForm(FlaskForm):
    """Which school's staff to show (a query-string form)."""

    class Meta:
        csrf = False

    school = SelectField("School", coerce=int)
    show = SelectField("Show", choices=choices([("all", "Everyone"), ("attention", "Not current (due, lapsed, not trained)")]),
                       default="all")

    def __init__(self, schools, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.school.choices = choices((s.id, s.name) for s in schools)
