"""Forms: an agency of the directory, a referral to one, its status, a follow-up."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from school_prevention.agencies.models import AGENCY_KINDS, OUTCOMES, STATUSES
from school_prevention.disclosures.forms import SharingFields
from school_prevention.forms import choices


class AgencyForm(FlaskForm):
    """An agency and whom to contact there (admins)."""

    name = StringField("Name", validators=[DataRequired("Give the agency's name."), Length(max=200)])
    kind = SelectField("Kind", choices=choices([("", "—")] + list(AGENCY_KINDS.items())),
                       validators=[DataRequired("Choose the kind of agency.")])
    contact_name = StringField("Contact person or desk", validators=[Optional(), Length(max=200)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    email = StringField("Email", validators=[Optional(), Length(max=254), Email("Give an email address, or leave it empty.")])
    address = StringField("Address", validators=[Optional(), Length(max=500)])
    website = StringField("Website", validators=[Optional(), Length(max=300)])
    notes = TextAreaField("How to refer", validators=[Optional(), Length(max=4000)],
                          description="Hours, intake line, what to send. Never anything about a student.")
    is_active = BooleanField("In the directory", default=True)


class ReferForm(SharingFields, FlaskForm):
    """Refer a student to an agency: what is shared, on which basis, and when to follow up."""

    agency = SelectField("Agency", coerce=str, validators=[DataRequired("Choose the agency from the directory.")])
    reason = TextAreaField("Reason for the referral (restricted)", validators=[Optional(), Length(max=10000)],
                           description="Encrypted; counselors of the student's school only. Never in emails.")
    follow_up_on = DateField("Follow up on", validators=[Optional()],
                             description="You are reminded on that day (home page, notifications and email).")

    def __init__(self, agencies, approvers, default_approver: int, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.agency.choices = choices([("", "— choose —")] + [(str(a.id), f"{a.name} ({a.kind_label})") for a in agencies])
        self.setup_sharing(approvers, default_approver)


class StatusForm(FlaskForm):
    """Move the referral on; closing records the outcome."""

    status = SelectField("New status", validators=[DataRequired("Choose the new status.")])
    agency_reference = StringField("Agency's case number", validators=[Optional(), Length(max=100)])
    outcome = SelectField("Outcome (when closing)", choices=choices([("", "—")] + list(OUTCOMES.items())),
                          validators=[Optional()])
    outcome_note = TextAreaField("Outcome note (restricted)", validators=[Optional(), Length(max=5000)])
    note = TextAreaField("Note (restricted)", validators=[Optional(), Length(max=5000)])

    def __init__(self, next_statuses, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = choices([(s, STATUSES[s]) for s in next_statuses])


class FollowUpForm(FlaskForm):
    """A follow-up with the agency, and the next one."""

    seq = HiddenField()
    note = TextAreaField("What the agency said (restricted)", validators=[Optional(), Length(max=5000)])
    next_follow_up_on = DateField("Next follow-up", validators=[Optional()])
