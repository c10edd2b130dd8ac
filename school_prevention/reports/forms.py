"""Filters of the coverage pages, read from the query string."""
from __future__ import annotations

from wtforms import DateField, SelectField
from wtforms.validators import Optional

from school_prevention.forms import QueryForm, choices

# Columns of the district table a user may sort by (everything else would be noise).
SORTABLE = {
    "school_name": "School", "school_level": "Level", "active_students": "Active students",
    "flagged_students": "Flagged", "share_in_program": "In a program", "share_with_plan": "With a plan",
    "flagged_uncovered": "Uncovered", "share_uncovered": "Uncovered share", "share_outside_support": "Supported outside",
    "share_on_time_period": "Check-ins on time",
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
    """Reporting period, school level and order of the district page (and of the export links on it).

    The period and the level are checked against what the district is offered (reports.periods
    and reports.groups), which knows why a choice is refused; the form only reads them.
    `from` and `to` are still read, for links made before the period list: they must be the
    first and last day of a whole period.
    """

    period = SelectField("Reporting period", validators=[Optional()], validate_choice=False,
                         description="Whole months, terms and school years that are over.")
    level = SelectField("School level", validators=[Optional()], validate_choice=False)
    # Named from/to in the URL; `from` is a Python keyword, hence start/end here.
    start = DateField("From", name="from", validators=[Optional()])
    end = DateField("To", name="to", validators=[Optional()])
    sort = SelectField("Sort by", validators=[Optional()], choices=choices(SORTABLE.items()), default="school_name")
    order = SelectField("Order", validators=[Optional()], default="asc",
                        choices=choices([("asc", "Ascending"), ("desc", "Descending")]))

    def offer(self, periods, groups) -> None:
        """The periods (grouped by kind) and the levels to list."""
        kinds = {"month": "Months", "term": "Terms", "year": "School years"}
        self.period.choices = {title: [(p.key, f"{p.label}: {p.span}") for p in periods if p.kind == kind]
                               for kind, title in kinds.items() if any(p.kind == kind for p in periods)}
        self.level.choices = choices([("", "All levels")] + [(g.key, g.label) for g in groups])
