"""Forms: a sharing recorded by hand, a guardian's consent and its withdrawal, an inspection request."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeLocalField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from school_prevention.agencies.models import AGENCY_KINDS
from school_prevention.disclosures.models import CHOOSABLE_BASES, CONSENT_SCOPES, RECORD_CATEGORIES
from school_prevention.forms import CheckboxListField, choices

PURPOSE_HINT = _l(
    "Why the recipient needs it: for an emergency, the threat to health or safety; for a court order or "
    "subpoena, the court, date and reference. Parents who inspect the record see this: no narrative."
)


def _translated(pairs) -> list:
    """(value, label) pairs with each label translated when the form is shown (the tables keep English)."""
    return [(value, _l(label)) for value, label in pairs]


class SharingFields:
    """What was shared, on which legal basis, why, and who approved it (set up by setup_sharing)."""

    categories = CheckboxListField(
        _l("What is shared"),
        choices=choices(_translated(RECORD_CATEGORIES.items())),
        description=_l("Tick every kind of record the recipient gets."),
    )
    legal_basis = RadioField(
        _l("Legal basis"),
        choices=choices(_translated(CHOOSABLE_BASES.items())),
        validators=[DataRequired(_l("Choose the legal basis for sharing."))],
    )
    purpose = TextAreaField(_l("Purpose"), validators=[Optional(), Length(max=1000)], description=PURPOSE_HINT)
    approved_by = SelectField(
        _l("Approved by"), coerce=int, validators=[DataRequired(_l("Choose who approved sharing."))]
    )

    def setup_sharing(self, approvers, default_id: int) -> None:
        self.approved_by.choices = choices((u.id, f"{u.name} ({gettext(u.role)})") for u in approvers)
        if self.approved_by.data is None:
            self.approved_by.data = default_id


class DisclosureForm(SharingFields, FlaskForm):
    """A sharing made outside the app (a phone call to a clinic, a subpoena answered): recorded here."""

    agency = SelectField(_l("Agency from the directory"), coerce=str, validators=[Optional()])
    recipient = StringField(
        _l("Or: who received it"),
        validators=[Optional(), Length(max=300)],
        description=_l("A person or office not in the directory, with their role."),
    )
    disclosed_at = DateTimeLocalField(
        _l("When it was shared"),
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(_l("Give the date and time it was shared."))],
    )

    def __init__(self, agencies, approvers, default_approver: int, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.agency.choices = choices(
            [("", gettext("— not in the directory —"))]
            + [(str(a.id), f"{a.name} ({gettext(a.kind_label)})") for a in agencies]
        )
        self.setup_sharing(approvers, default_approver)


class ConsentForm(FlaskForm):
    """A guardian's written consent to share the student's records."""

    guardian = SelectField(
        _l("Guardian who signed"), coerce=int, validators=[DataRequired(_l("Choose the guardian who signed."))]
    )
    scope = RadioField(
        _l("Sharing with"),
        choices=choices(_translated(CONSENT_SCOPES.items())),
        default="agency_kind",
        validators=[DataRequired(_l("Choose whom the consent allows sharing with."))],
    )
    agency_kind = SelectField(
        _l("Kind of agency"),
        choices=choices([("", "—")] + _translated(AGENCY_KINDS.items())),
        validators=[Optional()],
        description=_l("When the consent is for agencies of one kind."),
    )
    agency = SelectField(
        _l("Agency"), coerce=str, validators=[Optional()], description=_l("When the consent names one agency.")
    )
    categories = CheckboxListField(
        _l("Records it allows sharing"), choices=choices(_translated(RECORD_CATEGORIES.items()))
    )
    given_on = DateField(_l("Date signed"), validators=[DataRequired(_l("Give the date the guardian signed."))])
    expires_on = DateField(
        _l("Expires on"), validators=[Optional()], description=_l("Leave empty if the form gives no end date.")
    )
    purpose = StringField(_l("Purpose stated on the form"), validators=[Optional(), Length(max=500)])
    document = StringField(
        _l("Where the signed form is kept"),
        validators=[Optional(), Length(max=300)],
        description=_l("For example: scanned to the cumulative folder, Oct 3."),
    )

    def __init__(self, guardians, agencies, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.guardian.choices = choices(
            (g.id, f"{g.name} ({gettext(g.role_label).lower()})") for g in guardians if g.is_active
        )
        self.agency.choices = choices([("", "—")] + [(str(a.id), a.name) for a in agencies])


class RevokeForm(FlaskForm):
    """The guardian withdrew a consent."""

    revoked_on = DateField(_l("Withdrawn on"), validators=[DataRequired(_l("Give the date the guardian withdrew it."))])
    reason = StringField(
        _l("How it was withdrawn"),
        validators=[Optional(), Length(max=500)],
        description=_l("For example: letter from the parent, received at the front office."),
    )


class InspectionForm(FlaskForm):
    """A guardian asks to inspect the student's record."""

    guardian = SelectField(
        _l("Guardian asking"), coerce=int, validators=[DataRequired(_l("Choose the guardian who asked."))]
    )
    requested_on = DateField(
        _l("Date the request was received"), validators=[DataRequired(_l("Give the date received."))]
    )
    how_received = StringField(
        _l("How it was received"),
        validators=[Optional(), Length(max=200)],
        description=_l("For example: letter to the principal, email to the counselor."),
    )

    def __init__(self, guardians, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.guardian.choices = choices((g.id, f"{g.name} ({gettext(g.role_label).lower()})") for g in guardians)


class AnswerForm(FlaskForm):
    """Mark the request answered: the printed record was given to the guardian."""
