"""Forms for programs, enrollment, sessions, mentors and matches."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField, DateField, EmailField, IntegerField, RadioField, SelectField, StringField, TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from school_prevention.forms import WholeNumberField, CheckboxListField, QueryForm, choices, choices_or_prompt
from school_prevention.programs.mentoring import CONTACT_METHODS, CONTACT_WITH
from school_prevention.programs.services import END_STATUSES


class ProgramForm(FlaskForm):
    """A program of one school."""

    school_id = SelectField("School", coerce=int, validators=[DataRequired("Choose the school.")])
    type_id = SelectField("Kind of program", coerce=int, validators=[DataRequired("Choose the kind of program.")])
    name = StringField("Name", validators=[DataRequired("Give the program a name."), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)],
                                description="What happens in it and who it is for. No student names here.")
    facilitator = StringField("Facilitator", validators=[Optional(), Length(max=200)])
    capacity = WholeNumberField("Capacity (seats)", validators=[
        InputRequired("Enter how many students it can take."), NumberRange(1, 10000, "Use a number from 1 to 10000.")])
    starts_on = DateField("Starts", validators=[Optional()])
    ends_on = DateField("Ends", validators=[Optional()])
    schedule = StringField("Meeting schedule", validators=[Optional(), Length(max=200)],
                           description="For example “Tuesdays and Thursdays, 3:15–4:00 pm”.")
    location = StringField("Location", validators=[Optional(), Length(max=200)])
    session_minutes = WholeNumberField("Usual session length (minutes)", default=45,
                                   validators=[InputRequired("Enter the usual length in minutes."),
                                               NumberRange(1, 1440, "Use a number from 1 to 1440.")])
    is_active = BooleanField("Running (takes enrollments)", default=True)

    def __init__(self, schools, types, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.school_id.choices = choices((s.id, s.name) for s in schools)
        self.type_id.choices = choices((t.id, t.name) for t in types)


class ProgramTypeForm(FlaskForm):
    """Admin: a kind of prevention program."""

    name = StringField("Name", validators=[DataRequired("Give the kind of program a name."), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    position = WholeNumberField("Order in lists", default=100, validators=[NumberRange(0, 10000, "Use a number from 0 to 10000.")])
    is_active = BooleanField("In use", default=True)


class ProgramFilterForm(QueryForm):
    """Filters of the program list."""

    school = SelectField("School", coerce=int, validators=[Optional()])
    type = SelectField("Kind", coerce=int, validators=[Optional()])
    show = SelectField("Show", choices=choices([("active", "Running"), ("inactive", "Not running"), ("all", "All")]),
                       default="active", validators=[Optional()])

    def __init__(self, schools, types, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.school.choices = choices([(0, "All schools")] + [(s.id, s.name) for s in schools])
        self.type.choices = choices([(0, "All kinds")] + [(t.id, t.name) for t in types])


class EnrollForm(FlaskForm):
    """Several students at once into one program."""

    student_ids = CheckboxListField("Students to enroll", coerce=int,
                                    validators=[DataRequired("Tick at least one student.")])


class StudentEnrollForm(FlaskForm):
    """One student into one of the school's programs (from the student page)."""

    program_id = SelectField("Program", coerce=int, validators=[DataRequired("Choose a program.")])

    def __init__(self, programs, seats, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = []
        for p in programs:
            active, waiting = seats.get(p.id, (0, 0))
            free = p.capacity - active
            labels.append((p.id, f"{p.name} — {free} of {p.capacity} seats free" if free > 0
                           else f"{p.name} — full — waitlist ({waiting} waiting)"))
        self.program_id.choices = choices_or_prompt(labels)


class EndEnrollmentForm(FlaskForm):
    """Complete or withdraw, with a reason."""

    status = RadioField("Outcome", choices=choices(END_STATUSES.items()), validators=[DataRequired("Choose completed or withdrawn.")])
    reason = StringField("Reason", validators=[DataRequired("Say why."), Length(max=500)],
                         description="For example “finished the 10-week cycle” or “schedule conflict with sports”.")


class SessionForm(FlaskForm):
    """A session's date, length and topic; attendance comes as one radio group per student."""

    held_on = DateField("Date held", validators=[DataRequired("Enter the date of the session.")])
    minutes = WholeNumberField("Length (minutes)", validators=[
        InputRequired("Enter the session's length in minutes."), NumberRange(1, 1440, "Use a number from 1 to 1440.")])
    topic = StringField("Topic", validators=[Optional(), Length(max=200)],
                        description="Optional, for example “Week 3: handling online pressure”.")


class MentorForm(FlaskForm):
    """A mentor: often a community volunteer with no account."""

    school_id = SelectField("School", coerce=int, validators=[DataRequired("Choose the school.")])
    name = StringField("Name", validators=[DataRequired("Enter the mentor's name."), Length(max=200)])
    organisation = StringField("Organisation", validators=[Optional(), Length(max=200)],
                               description="For example Big Brothers Big Sisters, a faith group or a local employer.")
    email = EmailField("Email", validators=[Optional(), Email("Enter an email address like name@example.org."), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    background_check_on = DateField("Background check cleared on", validators=[Optional()],
                                    description="Leave empty until the check has cleared: an uncleared mentor cannot be matched.")
    is_active = BooleanField("Active mentor", default=True)

    def __init__(self, schools, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.school_id.choices = choices((s.id, s.name) for s in schools)


class MatchMoveForm(FlaskForm):
    """Move a match to its next status."""

    status = SelectField("New status", validators=[DataRequired("Choose the new status.")])
    mentor_id = SelectField("Mentor", coerce=int, validators=[Optional()],
                            description="Needed when matching. Only mentors with a current background check are listed as cleared.")
    on = DateField("Date", validators=[Optional()], description="Defaults to today.")
    reason = StringField("Closure reason", validators=[Optional(), Length(max=500)],
                         description="Needed when closing, for example “mentor relocated” or “goals met”.")

    def __init__(self, statuses, mentors, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = choices(statuses)
        self.mentor_id.choices = choices([(0, "— choose a mentor —")] + list(mentors))


class ContactForm(FlaskForm):
    """A monthly match-support contact."""

    contacted_on = DateField("Date of contact", validators=[DataRequired("Enter the date of the contact.")])
    method = SelectField("How", choices=choices(CONTACT_METHODS.items()), validators=[DataRequired("Choose how.")])
    with_whom = SelectField("With", choices=choices(CONTACT_WITH.items()), validators=[DataRequired("Choose with whom.")])
