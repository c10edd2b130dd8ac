"""Filters of the coverage pages, read from the query string."""
from __future__ import annotations

from wtforms import DateField, SelectField
from wtforms.validators import Optional

from school_prevention.forms import QueryForm, choices
from school_prevention.schools.models import SCHOOL_LEVELS

# Columns of the district table a user may sort by (everything else would be noise).
SORTABLE = {
    "school_name": "School", "school_level": "Level", "active_students": "Active students",
    "flagged_students": "Flagged", "share_in_program": "In a program", "share_with_plan": "With a plan",
    "flagged_uncovered": "Uncovered", "share_uncovered": "Uncovered share", "share_on_time_period": "Check-ins on time",
    "share_seats_filled": "Seats filled", "program_waitlisted": "Waitlisted",
    "students_per_counselor": "Students per counselor",
}


class SchoolPickForm(QueryForm):
    """Which of the user's schools to show."""

    school = SelectField("School", coerce=int, validators=[Optional()])

    def __init__(self, schools, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.school.choices = choices((s.id, s.name) for s in schools)


class DistrictFilterForm(QueryForm):
    """Level, date range and order of the district page (and of the export links on it)."""

    level = SelectField("School level", validators=[Optional()],
                        choices=choices([("", "All levels")] + [(lv, lv.capitalize()) for lv in SCHOOL_LEVELS]))
    # Named from/to in the URL; `from` is a Python keyword, hence start/end here.
    start = DateField("From", name="from", validators=[Optional()])
    end = DateField("To", name="to", validators=[Optional()])
    sort = SelectField("Sort by", validators=[Optional()], choices=choices(SORTABLE.items()), default="school_name")
    order = SelectField("Order", validators=[Optional()], default="asc",
                        choices=choices([("asc", "Ascending"), ("desc", "Descending")]))
