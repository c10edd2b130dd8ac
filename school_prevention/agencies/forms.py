"""Forms: an agency of the directory, a referral to one, its status, a follow-up."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from school_prevention.agencies.models import AGENCY_KINDS, OUTCOMES, STATUSES
from school_prevention.disclosures.forms import SharingFields
from school_prevention.forms import choices


class AgencyForm(FlaskForm):
    """An agency and whom to contact there (admins)."""

    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the agency's name.")), Length(max=200)])
    kind = SelectField(
        _l("Kind"),
        choices=choices([("", "—")] + [(k, _l(v)) for k, v in AGENCY_KINDS.items()]),
        validators=[DataRequired(_l("Choose the kind of agency."))],
    )
    contact_name = StringField(_l("Contact person or desk"), validators=[Optional(), Length(max=200)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    email = StringField(
        _l("Email"), validators=[Optional(), Length(max=254), Email(_l("Give an email address, or leave it empty."))]
    )
    address = StringField(_l("Address"), validators=[Optional(), Length(max=500)])
    website = StringField(_l("Website"), validators=[Optional(), Length(max=300)])
    notes = TextAreaField(
        _l("How to refer"),
        validators=[Optional(), Length(max=4000)],
        description=_l("Hours, intake line, what to send. Never anything about a student."),
    )
    is_active = BooleanField(_l("In the directory"), default=True)


class ReferForm(SharingFields, FlaskForm):
    """Refer a student to an agency: what is shared, on which basis, and when to follow up."""

    agency = SelectField(
        _l("Agency"), coerce=str, validators=[DataRequired(_l("Choose the agency from the directory."))]
    )
    reason = TextAreaField(
        _l("Reason for the referral (restricted)"),
        validators=[Optional(), Length(max=10000)],
        description=_l("Encrypted; counselors of the student's school only. Never in emails."),
    )
    follow_up_on = DateField(
        _l("Follow up on"),
        validators=[Optional()],
        description=_l("You are reminded on that day (home page, notifications and email)."),
    )

    def __init__(self, agencies, approvers, default_approver: int, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.agency.choices = choices(
            [("", gettext("— choose —"))] + [(str(a.id), f"{a.name} ({gettext(a.kind_label)})") for a in agencies]
        )
        self.setup_sharing(approvers, default_approver)


class StatusForm(FlaskForm):
    """Move the referral on; closing records the outcome."""

    status = SelectField(_l("New status"), validators=[DataRequired(_l("Choose the new status."))])
    agency_reference = StringField(_l("Agency's case number"), validators=[Optional(), Length(max=100)])
    outcome = SelectField(
        _l("Outcome (when closing)"),
        choices=choices([("", "—")] + [(k, _l(v)) for k, v in OUTCOMES.items()]),
        validators=[Optional()],
    )
    outcome_note = TextAreaField(_l("Outcome note (restricted)"), validators=[Optional(), Length(max=5000)])
    note = TextAreaField(_l("Note (restricted)"), validators=[Optional(), Length(max=5000)])

    def __init__(self, next_statuses, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = choices([(s, gettext(STATUSES[s])) for s in next_statuses])


class FollowUpForm(FlaskForm):
    """A follow-up with the agency, and the next one."""

    seq = HiddenField()
    note = TextAreaField(_l("What the agency said (restricted)"), validators=[Optional(), Length(max=5000)])
    next_follow_up_on = DateField(_l("Next follow-up"), validators=[Optional()])
