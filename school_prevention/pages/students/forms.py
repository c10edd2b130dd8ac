"""The student list's filters, read from the query string, and the caseload's forms."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from school_prevention.checkins.forms import PlanForm

from school_prevention.flags.models import SEVERITIES
from school_prevention.forms import QueryForm, WholeNumberField, choices, whole_number
from school_prevention.pages.students.caseload import SORTS, Filters
from school_prevention.students.models import GRADE_ORDER, grade_label
from school_prevention.tiers.queries import INTERVENTION_FILTERS

FLAG_STATUSES = [("", "Any"), ("current", "Open or monitoring"), ("open", "Open"), ("monitoring", "Monitoring"),
                 ("resolved", "Resolved")]
PLAN_CHOICES = [("", "Any"), ("none", "No check-in plan"), ("kept", "Plan kept"),
                ("overdue", "Plan overdue (check-ins left open)"), ("not_kept", "No plan that is kept")]
CHECKIN_CHOICES = [("", "Any"), ("overdue", "Overdue check-ins"), ("today", "A check-in due today")]
# Filter fields kept in a saved view (not the name search, the page or a selection).
VIEW_FIELDS = ("school", "grade", "include_inactive", "category", "severity", "flag_status", "program", "plan",
               "checkins", "counselor", "tier", "intervention", "sort")
TIER_CHOICES = [("", "Any"), ("1", "Tier 1"), ("2", "Tier 2"), ("3", "Tier 3")]
INTERVENTION_CHOICES = [("", "Any")] + list(INTERVENTION_FILTERS.items())


class StudentFilterForm(QueryForm):
    """Search by name or SIS id; narrow by school, grade, flags, programs, plans, check-ins and counselor."""

    q = StringField("Name or SIS id", validators=[Optional(), Length(max=100, message="Search text is too long (100 characters at most).")])
    school = SelectField("School", coerce=str, validators=[Optional()])
    grade = SelectField("Grade", validators=[Optional()],
                        choices=choices([("", "All grades")] + [(g, grade_label(g)) for g in GRADE_ORDER]))
    include_inactive = BooleanField("Include students no longer enrolled")
    category = SelectField("Flag category", validators=[Optional()])
    severity = SelectField("Flag severity", validators=[Optional()],
                           choices=choices([("", "Any")] + [(s, s.capitalize()) for s in SEVERITIES]))
    flag_status = SelectField("Flag status", validators=[Optional()], choices=choices(FLAG_STATUSES))
    program = SelectField("Program", validators=[Optional()])
    plan = SelectField("Check-in plan", validators=[Optional()], choices=choices(PLAN_CHOICES))
    checkins = SelectField("Check-ins", validators=[Optional()], choices=choices(CHECKIN_CHOICES))
    counselor = SelectField("Counselor", validators=[Optional()])
    tier = SelectField("Tier", validators=[Optional()], choices=choices(TIER_CHOICES))
    intervention = SelectField("Intervention plan", validators=[Optional()], choices=choices(INTERVENTION_CHOICES))
    sort = SelectField("Sort by", validators=[Optional()], choices=choices(SORTS.items()))
    page = WholeNumberField("Page", validators=[Optional(), NumberRange(min=1, max=100000, message="Page must be a whole number of 1 or more.")])

    def __init__(self, schools, categories=(), programs=(), counselors=(), *, is_counselor: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.school.choices = choices([("", "All my schools")] + [(str(s.id), s.name) for s in schools])
        self.category.choices = choices([("", "Any")] + [(str(c.id), c.name) for c in categories])
        many = len(schools) > 1
        self.program.choices = choices(
            [("", "Any"), ("any", "In a running program"), ("none", "In no running program"),
             ("waitlisted", "On a waitlist")]
            + [(str(p.id), f"{p.name} ({p.school.name})" if many else p.name) for p in programs])
        self.counselor.choices = choices(
            [("", "Anyone")] + ([("me", "My caseload")] if is_counselor else []) + [("none", "No counselor assigned")]
            + [(str(c.id), c.name) for c in counselors])

    @property
    def school_id(self) -> int | None:
        """The chosen school's id, if any."""
        # Optional() lets a blank choice through (" " is no school); what is not a number is no school either
        # (the choice check refuses it with a message).
        return whole_number(self.school.data)

    def filters(self) -> Filters:
        """The validated filters."""
        # Optional() lets a blank choice through; " " means no filter, like "".
        def picked(field) -> str | None:
            return (field.data or "").strip() or None

        return Filters(q=self.q.data, school_id=self.school_id, grade=picked(self.grade),
                       include_inactive=bool(self.include_inactive.data),
                       category_id=whole_number(self.category.data),
                       severity=picked(self.severity), flag_status=picked(self.flag_status),
                       program=picked(self.program), plan=picked(self.plan),
                       checkins=picked(self.checkins), counselor=picked(self.counselor),
                       tier=picked(self.tier), intervention=picked(self.intervention),
                       sort=picked(self.sort) or "name")

    def is_filtered(self) -> bool:
        """Whether any filter beyond the name search is set."""
        return any(getattr(self, name).data for name in VIEW_FIELDS if name != "sort")


# --- bulk actions on a selection ------------------------------------------------------------------


class BulkPlanForm(FlaskForm):
    """The same check-in plan for every selected student (checkins.forms.PlanForm's fields)."""

    counselor = RadioField("Counselor", default="me", validators=[DataRequired("Choose the counselor.")],
                           choices=choices([("me", "Me"), ("assigned", "Each student’s assigned counselor "
                                                                       "(me where none is assigned)")]))
    cadence = PlanForm.cadence
    rrule = PlanForm.rrule
    starts_on = PlanForm.starts_on
    local_time = PlanForm.local_time
    duration_minutes = PlanForm.duration_minutes
    until = PlanForm.until
    non_school_day = PlanForm.non_school_day
    reason = PlanForm.reason
    link_flag = BooleanField("Link each plan to the student’s most severe open flag", default=True)
    validate_rrule = PlanForm.validate_rrule


class BulkEnrollForm(FlaskForm):
    """One program for every selected student."""

    program_id = SelectField("Program", coerce=str, validators=[DataRequired("Choose the program.")],
                             description="Seats are given in the order of the list; when the program is full, "
                                         "the rest join its waitlist in that order.")

    def __init__(self, programs, seats_taken: dict[int, int], *args, **kwargs):
        super().__init__(*args, **kwargs)
        many = len({p.school_id for p in programs}) > 1

        def label(p) -> str:
            free = p.capacity - seats_taken.get(p.id, 0)
            seats = f"{free} of {p.capacity} seats free" if free > 0 else "full: new students join the waitlist"
            return f"{p.name}" + (f", {p.school.name}" if many else "") + f" ({seats})"

        self.program_id.choices = choices([("", "Choose a program")] + [(str(p.id), label(p)) for p in programs])


class BulkAssignForm(FlaskForm):
    """One counselor for every selected student."""

    counselor_id = SelectField("Counselor", coerce=str, validators=[DataRequired("Choose the counselor.")])

    def __init__(self, counselors, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counselor_id.choices = choices([("", "Choose a counselor")] + [(str(c.id), c.name) for c in counselors])
