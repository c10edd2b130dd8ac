"""Forms for check-in plans, check-ins, non-school days and reminder preferences."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from school_prevention.checkins.models import CADENCES, NON_SCHOOL_DAY_RULES, OUTCOMES
from school_prevention.forms import CheckboxListField, WholeNumberField, choices

LEAD_CHOICES = [
    (10080, _l("1 week before")),
    (2880, _l("2 days before")),
    (1440, _l("1 day before")),
    (240, _l("4 hours before")),
    (60, _l("1 hour before")),
    (15, _l("15 minutes before")),
]
NOTE_HINT = _l(
    "Restricted: only counselors of this student's school can read it. Encrypted; never in emails, "
    "calendars or exports."
)


class PlanForm(FlaskForm):
    """A check-in plan."""

    counselor_id = SelectField(_l("Counselor"), coerce=int, validators=[DataRequired(_l("Choose the counselor."))])
    cadence = RadioField(
        _l("How often"),
        choices=choices((k, _l(v)) for k, v in CADENCES.items()),
        default="weekly",
        validators=[DataRequired(_l("Choose how often."))],
    )
    rrule = StringField(
        _l("Custom rule"),
        validators=[Optional(), Length(max=500)],
        description=_l("Only for “Custom rule”: an iCalendar RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,TH."),
    )
    starts_on = DateField(_l("First check-in on"), validators=[DataRequired(_l("Enter the first day."))])
    local_time = TimeField(
        _l("Time of day"),
        validators=[DataRequired(_l("Enter the time of day."))],
        description=_l("In the district's local time; stays the same across daylight-saving changes."),
    )
    duration_minutes = WholeNumberField(
        _l("Length (minutes)"),
        default=20,
        validators=[
            InputRequired(_l("Enter the length in minutes.")),
            NumberRange(5, 240, _l("Use a length from 5 to 240 minutes.")),
        ],
    )
    until = DateField(
        _l("Until"),
        validators=[Optional()],
        description=_l("Defaults to the end of the school year. Plans may run for several years."),
    )
    non_school_day = RadioField(
        _l("When a check-in falls on a non-school day"),
        choices=choices((k, _l(v)) for k, v in NON_SCHOOL_DAY_RULES.items()),
        default="move",
        validators=[DataRequired(_l("Choose what happens on a non-school day."))],
    )
    reason = StringField(
        _l("Reason"),
        validators=[Optional(), Length(max=300)],
        description=_l(
            "Short and factual, e.g. “support after move to foster care”. "
            "Shown to the school's counselors and principal."
        ),
    )
    flag_id = SelectField(_l("Linked flag"), coerce=int, validators=[Optional()])

    def validate_rrule(self, field):
        """A custom cadence needs its rule; said together with every other missing field."""
        if self.cadence.data == "custom" and not (field.data or "").strip():
            raise ValidationError(
                gettext("Enter a rule, for example FREQ=WEEKLY;BYDAY=MO,TH, or choose another cadence.")
            )

    def __init__(self, counselors, flags, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counselor_id.choices = choices((c.id, c.name) for c in counselors)
        self.flag_id.choices = choices(
            [(0, gettext("— none —"))]
            + [
                (
                    f.id,
                    f"{f.category.name} ({gettext(f.severity.capitalize()).lower()}, {gettext(f.status.capitalize()).lower()})",
                )
                for f in flags
            ]
        )


class CompleteForm(FlaskForm):
    """Complete a check-in with its outcome."""

    outcome = RadioField(
        _l("Outcome"),
        choices=choices((k, _l(v)) for k, v in OUTCOMES.items()),
        validators=[DataRequired(_l("Choose the outcome."))],
    )
    note = TextAreaField(_l("Restricted note"), validators=[Optional(), Length(max=20000)], description=NOTE_HINT)


class RescheduleForm(FlaskForm):
    """Move one check-in."""

    when = DateTimeLocalField(
        _l("New date and time"),
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(_l("Enter the new date and time."))],
        description=_l(
            "Local school time. To record a meeting that already happened, "
            "enter when it took place (up to 14 days back)."
        ),
    )


class NonSchoolDayForm(FlaskForm):
    """Admin: a holiday or break day."""

    day = DateField(_l("Date"), validators=[DataRequired(_l("Enter the date."))])
    name = StringField(
        _l("Name"), validators=[DataRequired(_l("Name the day, for example “Thanksgiving break”.")), Length(max=120)]
    )


class RemindersForm(FlaskForm):
    """When a counselor wants to be reminded before each check-in."""

    leads = CheckboxListField(
        _l("Remind me"),
        coerce=int,
        choices=choices(LEAD_CHOICES),
        validators=[Optional()],
        description=_l("In the app and by email. Overdue check-ins are always reminded."),
    )
