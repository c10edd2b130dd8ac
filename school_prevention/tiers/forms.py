"""Forms: change a tier, make a plan, record progress, record a review, print a summary."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, FloatField, HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from school_prevention.forms import CheckboxListField, QueryForm, choices, whole_number
from school_prevention.tiers.models import TIER_HINTS, TIERS

REVIEW_DECISIONS = [
    ("continue", _l("Continue the plan to a new review date")),
    ("met", _l("Close: goal met")),
    ("not_met", _l("Close: goal not met (plan other support)")),
    ("discontinued", _l("Close: discontinued")),
]


class TierForm(FlaskForm):
    """Move a student to another tier, with the reason."""

    tier = RadioField(_l("New tier"), coerce=int, choices=[], validators=[Optional()])
    reason = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=2000)],
        description=_l(
            "What the data or the student support team showed. Kept in the tier history "
            "with your name, for the school's counselors. Do not write restricted "
            "details here."
        ),
    )
    version = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Built per request: each tier's name and hint in the reader's language.
        self.tier.choices = choices((t, f"{gettext(label)}. {gettext(TIER_HINTS[t])}") for t, label in TIERS.items())

    def seen_version(self) -> int | None:
        """The tier version the page showed (None when the field was not sent or is not a number)."""
        return whole_number(self.version.data, digits=9)


class PlanForm(FlaskForm):
    """A new intervention plan."""

    goal = TextAreaField(
        _l("Goal"),
        validators=[Optional(), Length(max=2000)],
        description=_l(
            "What the student will do, measured how, by when. For example: "
            "attend school at least 4 days a week by the review date."
        ),
    )
    measure = StringField(
        _l("Measure"),
        validators=[Optional(), Length(max=200)],
        description=_l('What each data point counts, for example "days attended per week".'),
    )
    baseline = FloatField(_l("Baseline"), validators=[Optional()], description=_l("Where the student is now."))
    target = FloatField(
        _l("Target"),
        validators=[Optional()],
        description=_l(
            "Where the student should be at the review. Lower than the baseline for a "
            "goal to bring something down (for example office referrals)."
        ),
    )
    started_on = DateField(_l("Starts on"), validators=[Optional()])
    review_on = DateField(
        _l("Review on"),
        validators=[Optional()],
        description=_l("From this day the plan is listed as due for review, and you get a reminder in the app."),
    )
    programs = CheckboxListField(
        _l("Programs that deliver it"),
        coerce=int,
        validators=[Optional()],
        description=_l("Attendance at these programs is the plan's fidelity."),
    )

    def __init__(self, programs, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.programs.choices = choices((p.id, p.name) for p in programs)


class ProgressForm(FlaskForm):
    """One progress-monitoring data point."""

    measured_on = DateField(_l("Date measured"), validators=[Optional()])
    value = FloatField(_l("Value"), validators=[Optional()])
    note = StringField(
        _l("Note (optional)"),
        validators=[Optional(), Length(max=500)],
        description=_l("Not restricted: anyone who reads the plan sees it."),
    )


class ReviewForm(FlaskForm):
    """A plan review: continue to a new date, or close the plan."""

    decision = RadioField(_l("Decision"), choices=choices(REVIEW_DECISIONS), validators=[Optional()])
    next_review_on = DateField(
        _l("Next review on"), validators=[Optional()], description=_l("Only when the plan continues.")
    )
    note = TextAreaField(_l("Review note (optional)"), validators=[Optional(), Length(max=2000)])


class SummaryForm(QueryForm):
    """What the printed summary includes."""

    include_restricted = BooleanField(
        _l("Include restricted notes"),
        description=_l("Only if everyone at the meeting may read them. Each print is recorded in the audit trail."),
    )
