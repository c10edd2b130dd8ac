"""The screening form and the admin instrument form."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from school_prevention.extensions import db
from school_prevention.forms import choices
from school_prevention.screenings.models import NEXT_STEPS, RESULTS


class ScreeningForm(FlaskForm):
    """Instrument, date, result level and next step: never the instrument's questions or answers."""

    instrument = SelectField(_l("Instrument"), coerce=int, validators=[DataRequired(_l("Choose the instrument."))])
    screened_on = DateField(_l("Date of screening"), validators=[DataRequired(_l("Give the date (YYYY-MM-DD)."))])
    result = RadioField(
        _l("Result"),
        choices=choices((k, _l(v)) for k, v in RESULTS.items()),
        validators=[DataRequired(_l("Choose the result level."))],
    )
    next_step = SelectField(_l("Next step"), choices=choices((k, _l(v)) for k, v in NEXT_STEPS.items()), default="none")
    rescreen_on = DateField(_l("Rescreen on"), validators=[Optional()])
    outside_agency = StringField(_l("Outside agency"), validators=[Optional(), Length(max=200)])

    def __init__(self, instruments, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instrument.choices = choices(
            (i.id, f"{i.name}" + (f" (v{i.version})" if i.version else "")) for i in instruments
        )


class InstrumentForm(FlaskForm):
    """Admin: a screening instrument."""

    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the instrument a name.")), Length(max=120)])
    version = StringField(_l("Version"), validators=[Optional(), Length(max=40)])
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Do not paste a licensed instrument's questions here."),
    )
    required_course_id = SelectField(
        _l("Needs a current training"),
        coerce=lambda v: int(v) if v not in (None, "", "None") else None,
        description=_l("Only someone whose completion of this course was valid on the day may record a screening."),
    )
    is_active = BooleanField(_l("In use"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The admin list builds this form with no arguments (admin.catalogue_views), so it reads the courses itself.
        from school_prevention.training.queries import all_courses

        courses = db.session.scalars(all_courses()).all()
        self.required_course_id.choices = choices(
            [("", gettext("No training needed"))]
            + [(c.id, c.name + ("" if c.is_active else " " + gettext("(not in use)"))) for c in courses]
        )
