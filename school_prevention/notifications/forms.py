"""Forms of the email outbox: the period of failed emails to queue again."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField
from wtforms.validators import Optional

from school_prevention.forms import QueryForm


class _Period:
    failed_from = DateField(
        _l("Failed on or after"),
        validators=[Optional()],
        description=_l("Leave both dates empty for every failed email."),
    )
    failed_to = DateField(_l("Failed on or before"), validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):  # type: ignore[misc]
            return False
        if self.failed_from.data and self.failed_to.data and self.failed_to.data < self.failed_from.data:
            self.failed_to.errors = list(self.failed_to.errors) + [_("This date is before the first one.")]
            return False
        return True


class PeriodForm(_Period, QueryForm):
    """Which failed emails to count (a GET: the confirmation page asks before anything changes)."""


class RequeueForm(_Period, FlaskForm):
    """The confirmed request; as_of is when the admin was shown the count."""

    as_of = HiddenField()
