"""Filters of the coverage pages, read from the query string."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from school_prevention.forms import QueryForm, choices

# Columns of the district table a user may sort by (everything else would be noise).
SORTABLE = {
    "school_name": _l("School"),
    "school_level": _l("Level"),
    "active_students": _l("Active students"),
    "flagged_students": _l("Flagged"),
    "share_in_program": _l("In a program"),
    "share_with_plan": _l("With a plan"),
    "flagged_uncovered": _l("Uncovered"),
    "share_uncovered": _l("Uncovered share"),
    "share_outside_support": _l("Supported outside"),
    "share_on_time_period": _l("Check-ins on time"),
    "share_seats_filled": _l("Seats filled"),
    "program_waitlisted": _l("Waitlisted"),
    "students_per_counselor": _l("Students per counselor"),
}


class SchoolPickForm(QueryForm):
    """Which of the user's schools to show."""

    school = SelectField(_l("School"), coerce=int, validators=[Optional()])

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

    period = SelectField(
        _l("Reporting period"),
        validators=[Optional()],
        validate_choice=False,
        description=_l("Whole months, terms and school years that are over."),
    )
    level = SelectField(_l("School level"), validators=[Optional()], validate_choice=False)
    # Named from/to in the URL; `from` is a Python keyword, hence start/end here.
    start = DateField(_l("From"), name="from", validators=[Optional()])
    end = DateField(_l("To"), name="to", validators=[Optional()])
    sort = SelectField(_l("Sort by"), validators=[Optional()], choices=choices(SORTABLE.items()), default="school_name")
    order = SelectField(
        _l("Order"),
        validators=[Optional()],
        default="asc",
        choices=choices([("asc", _l("Ascending")), ("desc", _l("Descending"))]),
    )

    def offer(self, periods, groups) -> None:
        """The periods (grouped by kind) and the levels to list."""
        kinds = {"month": _("Months"), "term": _("Terms"), "year": _("School years")}
        self.period.choices = {
            title: [(p.key, f"{p.label}: {p.span}") for p in periods if p.kind == kind]
            for kind, title in kinds.items()
            if any(p.kind == kind for p in periods)
        }
        self.level.choices = choices([("", _("All levels"))] + [(g.key, g.label) for g in groups])
