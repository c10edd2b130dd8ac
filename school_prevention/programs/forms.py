"""Forms for programs, enrollment, sessions, mentors and matches."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from school_prevention.forms import CheckboxListField, QueryForm, WholeNumberField, choices, choices_or_prompt
from school_prevention.programs.mentoring import CONTACT_METHODS, CONTACT_WITH
from school_prevention.programs.services import END_STATUSES


class ProgramForm(FlaskForm):
    """A program of one school."""

    school_id = SelectField(_l("School"), coerce=int, validators=[DataRequired(_l("Choose the school."))])
    type_id = SelectField(
        _l("Kind of program"), coerce=int, validators=[DataRequired(_l("Choose the kind of program."))]
    )
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the program a name.")), Length(max=200)])
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), Length(max=4000)],
        description=_l("What happens in it and who it is for. No student names here."),
    )
    facilitator = StringField(_l("Facilitator"), validators=[Optional(), Length(max=200)])
    capacity = WholeNumberField(
        _l("Capacity (seats)"),
        validators=[
            InputRequired(_l("Enter how many students it can take.")),
            NumberRange(1, 10000, _l("Use a number from 1 to 10000.")),
        ],
    )
    starts_on = DateField(_l("Starts"), validators=[Optional()])
    ends_on = DateField(_l("Ends"), validators=[Optional()])
    schedule = StringField(
        _l("Meeting schedule"),
        validators=[Optional(), Length(max=200)],
        description=_l("For example “Tuesdays and Thursdays, 3:15–4:00 pm”."),
    )
    location = StringField(_l("Location"), validators=[Optional(), Length(max=200)])
    session_minutes = WholeNumberField(
        _l("Usual session length (minutes)"),
        default=45,
        validators=[
            InputRequired(_l("Enter the usual length in minutes.")),
            NumberRange(1, 1440, _l("Use a number from 1 to 1440.")),
        ],
    )
    is_active = BooleanField(_l("Running (takes enrollments)"), default=True)

    def __init__(self, schools, types, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.school_id.choices = choices((s.id, s.name) for s in schools)
        self.type_id.choices = choices((t.id, t.name) for t in types)


class ProgramTypeForm(FlaskForm):
    """Admin: a kind of prevention program."""

    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the kind of program a name.")), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    position = WholeNumberField(
        _l("Order in lists"), default=100, validators=[NumberRange(0, 10000, _l("Use a number from 0 to 10000."))]
    )
    is_active = BooleanField(_l("In use"), default=True)


class ProgramFilterForm(QueryForm):
    """Filters of the program list."""

    school = SelectField(_l("School"), coerce=int, validators=[Optional()])
    type = SelectField(_l("Kind"), coerce=int, validators=[Optional()])
    show = SelectField(
        _l("Show"),
        choices=choices([("active", _l("Running")), ("inactive", _l("Not running")), ("all", _l("All"))]),
        default="active",
        validators=[Optional()],
    )

    def __init__(self, schools, types, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.school.choices = choices([(0, gettext("All schools"))] + [(s.id, s.name) for s in schools])
        self.type.choices = choices([(0, gettext("All kinds"))] + [(t.id, t.name) for t in types])


class EnrollForm(FlaskForm):
    """Several students at once into one program."""

    student_ids = CheckboxListField(
        _l("Students to enroll"), coerce=int, validators=[DataRequired(_l("Tick at least one student."))]
    )


class StudentEnrollForm(FlaskForm):
    """One student into one of the school's programs (from the student page)."""

    program_id = SelectField(_l("Program"), coerce=int, validators=[DataRequired(_l("Choose a program."))])

    def __init__(self, programs, seats, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = []
        for p in programs:
            active, waiting = seats.get(p.id, (0, 0))
            free = p.capacity - active
            labels.append(
                (
                    p.id,
                    gettext(
                        "%(name)s — %(free)s of %(capacity)s seats free", name=p.name, free=free, capacity=p.capacity
                    )
                    if free > 0
                    else gettext("%(name)s — full — waitlist (%(num)s waiting)", name=p.name, num=waiting),
                )
            )
        self.program_id.choices = choices_or_prompt(labels)


class EndEnrollmentForm(FlaskForm):
    """Complete or withdraw, with a reason."""

    status = RadioField(
        _l("Outcome"),
        choices=choices((k, _l(v)) for k, v in END_STATUSES.items()),
        validators=[DataRequired(_l("Choose completed or withdrawn."))],
    )
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(_l("Say why.")), Length(max=500)],
        description=_l("For example “finished the 10-week cycle” or “schedule conflict with sports”."),
    )


class SessionForm(FlaskForm):
    """A session's date, length and topic; attendance comes as one radio group per student."""

    held_on = DateField(_l("Date held"), validators=[DataRequired(_l("Enter the date of the session."))])
    minutes = WholeNumberField(
        _l("Length (minutes)"),
        validators=[
            InputRequired(_l("Enter the session's length in minutes.")),
            NumberRange(1, 1440, _l("Use a number from 1 to 1440.")),
        ],
    )
    topic = StringField(
        _l("Topic"),
        validators=[Optional(), Length(max=200)],
        description=_l("Optional, for example “Week 3: handling online pressure”."),
    )


class MentorForm(FlaskForm):
    """A mentor: often a community volunteer with no account."""

    school_id = SelectField(_l("School"), coerce=int, validators=[DataRequired(_l("Choose the school."))])
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the mentor's name.")), Length(max=200)])
    organisation = StringField(
        _l("Organisation"),
        validators=[Optional(), Length(max=200)],
        description=_l("For example Big Brothers Big Sisters, a faith group or a local employer."),
    )
    email = EmailField(
        _l("Email"),
        validators=[Optional(), Email(_l("Enter an email address like name@example.org.")), Length(max=254)],
    )
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    background_check_on = DateField(
        _l("Background check cleared on"),
        validators=[Optional()],
        description=_l("Leave empty until the check has cleared: an uncleared mentor cannot be matched."),
    )
    is_active = BooleanField(_l("Active mentor"), default=True)

    def __init__(self, schools, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.school_id.choices = choices((s.id, s.name) for s in schools)


class MatchMoveForm(FlaskForm):
    """Move a match to its next status."""

    status = SelectField(_l("New status"), validators=[DataRequired(_l("Choose the new status."))])
    mentor_id = SelectField(
        _l("Mentor"),
        coerce=int,
        validators=[Optional()],
        description=_l("Needed when matching. Only mentors with a current background check are listed as cleared."),
    )
    on = DateField(_l("Date"), validators=[Optional()], description=_l("Defaults to today."))
    reason = StringField(
        _l("Closure reason"),
        validators=[Optional(), Length(max=500)],
        description=_l("Needed when closing, for example “mentor relocated” or “goals met”."),
    )

    def __init__(self, statuses, mentors, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = choices(statuses)
        self.mentor_id.choices = choices([(0, gettext("— choose a mentor —"))] + list(mentors))


class ContactForm(FlaskForm):
    """A monthly match-support contact."""

    contacted_on = DateField(_l("Date of contact"), validators=[DataRequired(_l("Enter the date of the contact."))])
    method = SelectField(
        _l("How"),
        choices=choices((k, _l(v)) for k, v in CONTACT_METHODS.items()),
        validators=[DataRequired(_l("Choose how."))],
    )
    with_whom = SelectField(
        _l("With"),
        choices=choices((k, _l(v)) for k, v in CONTACT_WITH.items()),
        validators=[DataRequired(_l("Choose with whom."))],
    )
