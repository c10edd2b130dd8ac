"""Flag forms: open/edit, status change, mandated report; the admin category form."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from school_prevention.flags.models import SOURCES
from school_prevention.forms import WholeNumberField, choices, choices_or_prompt

SEVERITY_CHOICES = [("low", _l("Low")), ("moderate", _l("Moderate")), ("high", _l("High")), ("urgent", _l("Urgent"))]
NOTE_HINT = _l(
    "Restricted: only counselors of this student's school can read it. It is encrypted and "
    "never appears in emails or exports. Write facts: what was seen or said, when, by whom."
)


class FlagForm(FlaskForm):
    """Open or edit a flag."""

    category = SelectField(_l("Category"), coerce=int, validators=[DataRequired(_l("Choose a category."))])
    severity = RadioField(
        _l("Severity"), choices=choices(SEVERITY_CHOICES), validators=[DataRequired(_l("Choose a severity."))]
    )
    source = SelectField(
        _l("Source"),
        choices=choices((k, _l(v)) for k, v in SOURCES.items()),
        validators=[DataRequired(_l("Choose where the concern came from."))],
    )
    note = TextAreaField(_l("Restricted note"), validators=[Optional(), Length(max=20000)], description=NOTE_HINT)
    replace_note = BooleanField(_l("Replace the restricted note with the text above"))

    def __init__(self, categories, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.category.choices = choices_or_prompt(
            (c.id, c.name + (gettext(" — mandated report if high or urgent") if c.is_suspected_abuse else ""))
            for c in categories
        )


class StatusForm(FlaskForm):
    """Move a flag to another status."""

    status = SelectField(
        _l("New status"),
        choices=choices([("open", _l("Open")), ("monitoring", _l("Monitoring")), ("resolved", _l("Resolved"))]),
        validators=[DataRequired(_l("Choose a status."))],
    )
    resolution = TextAreaField(
        _l("How was it resolved? (restricted)"),
        validators=[Optional(), Length(max=5000)],
        description=_l("Needed when resolving. Encrypted; counselors only."),
    )


class ReportForm(FlaskForm):
    """The mandated report record: agency, when, reference — or why no report was made."""

    agency = StringField(
        _l("Agency reported to"),
        validators=[Optional(), Length(max=200)],
        description=_l("For example the state child abuse hotline or the police department."),
    )
    made_at = DateTimeLocalField(_l("Date and time of the report"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    reference = StringField(_l("Reference number"), validators=[Optional(), Length(max=100)])
    not_made_reason = TextAreaField(
        _l("Or: why no report was made"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Only if no report was made. Your supervisor may review this."),
    )


class CategoryForm(FlaskForm):
    """Admin: a flag category."""

    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the category a name.")), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    is_suspected_abuse = BooleanField(
        _l("Suspected abuse or exploitation (asks for a mandated report at high or urgent severity)")
    )
    position = WholeNumberField(
        _l("Order in lists"), default=100, validators=[NumberRange(0, 10000, _l("Use a number from 0 to 10000."))]
    )
    is_active = BooleanField(_l("In use"), default=True)
