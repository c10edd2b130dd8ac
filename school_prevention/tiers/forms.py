"""Forms: change a tier, make a plan, record progress, record a review, print a summary."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, FloatField, HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from school_prevention.forms import CheckboxListField, QueryForm, choices, whole_number
from school_prevention.tiers.models import TIER_HINTS, TIERS

REVIEW_DECISIONS = [("continue", "Continue the plan to a new review date"), ("met", "Close: goal met"),
                    ("not_met", "Close: goal not met (plan other support)"), ("discontinued", "Close: discontinued")]


class TierForm(FlaskForm):
    """Move a student to another tier, with the reason."""

    tier = RadioField("New tier", coerce=int, choices=choices((t, f"{label}. {TIER_HINTS[t]}") for t, label in TIERS.items()),
                      validators=[Optional()])
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=2000)],
                           description="What the data or the student support team showed. Kept in the tier history with "
                                       "your name, for the school's counselors. Do not write restricted details here.")
    version = HiddenField()

    def seen_version(self) -> int | None:
        """The tier version the page showed (None when the field was not sent or is not a number)."""
        return whole_number(self.version.data, digits=9)


class PlanForm(FlaskForm):
    """A new intervention plan."""

    goal = TextAreaField("Goal", validators=[Optional(), Length(max=2000)],
                         description="What the student will do, measured how, by when. For example: "
                                     "attend school at least 4 days a week by the review date.")
    measure = StringField("Measure", validators=[Optional(), Length(max=200)],
                          description="What each data point counts, for example \"days attended per week\".")
    baseline = FloatField("Baseline", validators=[Optional()], description="Where the student is now.")
    target = FloatField("Target", validators=[Optional()],
                        description="Where the student should be at the review. Lower than the baseline for a goal "
                                    "to bring something down (for example office referrals).")
    started_on = DateField("Starts on", validators=[Optional()])
    review_on = DateField("Review on", validators=[Optional()],
                          description="From this day the plan is listed as due for review, and you get a reminder in the app.")
    programs = CheckboxListField("Programs that deliver it", coerce=int, validators=[Optional()],
                                 description="Attendance at these programs is the plan's fidelity.")

    def __init__(self, programs, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.programs.choices = choices((p.id, p.name) for p in programs)


class ProgressForm(FlaskForm):
    """One progress-monitoring data point."""

    measured_on = DateField("Date measured", validators=[Optional()])
    value = FloatField("Value", validators=[Optional()])
    note = StringField("Note (optional)", validators=[Optional(), Length(max=500)],
                       description="Not restricted: anyone who reads the plan sees it.")


class ReviewForm(FlaskForm):
    """A plan review: continue to a new date, or close the plan."""

    decision = RadioField("Decision", choices=choices(REVIEW_DECISIONS), validators=[Optional()])
    next_review_on = DateField("Next review on", validators=[Optional()], description="Only when the plan continues.")
    note = TextAreaField("Review note (optional)", validators=[Optional(), Length(max=2000)])


class SummaryForm(QueryForm):
    """What the printed summary includes."""

    include_restricted = BooleanField("Include restricted notes",
                                      description="Only if everyone at the meeting may read them. Each print is "
                                                  "recorded in the audit trail.")
