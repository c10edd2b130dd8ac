"""Referral forms: the staff member's concern, and the counselor's triage decision."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from school_prevention.flags.forms import SEVERITY_CHOICES
from school_prevention.forms import CheckboxListField, QueryForm, choices
from school_prevention.referrals.models import URGENCIES


class StudentPickForm(QueryForm):
    """Find the student to refer (own school only)."""

    q = StringField(
        _l("Student's name or student number"),
        validators=[Optional(), Length(max=100, message=_l("Search text is too long."))],
    )


class ReferralForm(FlaskForm):
    """What a staff member noticed."""

    categories = CheckboxListField(
        _l("What kind of concern?"), coerce=int, description=_l("Tick all that fit. You do not need to be sure.")
    )
    observation = TextAreaField(
        _l("What did you see or hear?"),
        validators=[DataRequired(_l("Write what you saw or heard.")), Length(max=10000)],
        description=_l(
            "Facts, in the student's own words where you can, with when and where. "
            "Do not question the student; the counselor will follow up."
        ),
    )
    urgency = RadioField(
        _l("How soon should a counselor look at this?"),
        choices=choices((k, _l(v)) for k, v in URGENCIES.items()),
        default="routine",
        validators=[DataRequired(_l("Choose how soon."))],
    )

    def __init__(self, categories, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.categories.choices = choices((c.id, c.name) for c in categories)


def _blank_is_none_chosen(value):
    """A choice of only whitespace is no choice: Optional() would otherwise let it through unchecked."""
    return value.strip() if isinstance(value, str) else value


def _word(value: str) -> str:
    """A flag's severity or status ("high", "open") in the page's language, lower case as the option shows it."""
    return gettext(value.capitalize()).lower()


class AcceptForm(FlaskForm):
    """Accept a referral: open a new flag or link one of the student's current flags."""

    existing_flag = SelectField(
        _l("Link to a current flag"), coerce=str, validators=[Optional()], filters=[_blank_is_none_chosen]
    )
    category = SelectField(
        _l("Or open a new flag in category"), coerce=str, validators=[Optional()], filters=[_blank_is_none_chosen]
    )
    severity = SelectField(
        _l("Severity of the new flag"),
        choices=choices([("", "—")] + SEVERITY_CHOICES),
        validators=[Optional()],
        filters=[_blank_is_none_chosen],
    )
    note = TextAreaField(_l("Restricted note for the new flag"), validators=[Optional(), Length(max=20000)])

    def __init__(self, flags, categories, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.existing_flag.choices = choices(
            [("", gettext("— open a new flag instead —"))]
            + [(str(f.id), f"{f.category.name} ({_word(f.severity)}, {_word(f.status)})") for f in flags]
        )
        self.category.choices = choices([("", "—")] + [(str(c.id), c.name) for c in categories])
        if not flags:
            self.category.label.text = gettext("Open a new flag in category")


class CloseForm(FlaskForm):
    """Close without a flag."""

    reason = TextAreaField(
        _l("Why close without a flag?"),
        validators=[DataRequired(_l("Say why the referral is closed.")), Length(max=2000)],
    )
