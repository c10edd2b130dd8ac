"""The student list's filters, read from the query string, and the caseload's forms."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from school_prevention.checkins.forms import PlanForm
from school_prevention.flags.models import SEVERITIES
from school_prevention.forms import QueryForm, WholeNumberField, choices, whole_number
from school_prevention.pages.students.caseload import SORTS, Filters
from school_prevention.students.models import GRADE_ORDER, grade_label
from school_prevention.tiers.queries import INTERVENTION_FILTERS

FLAG_STATUSES = [
    ("", _l("Any")),
    ("current", _l("Open or monitoring")),
    ("open", _l("Open")),
    ("monitoring", _l("Monitoring")),
    ("resolved", _l("Resolved")),
]
PLAN_CHOICES = [
    ("", _l("Any")),
    ("none", _l("No check-in plan")),
    ("kept", _l("Plan kept")),
    ("overdue", _l("Plan overdue (check-ins left open)")),
    ("not_kept", _l("No plan that is kept")),
]
CHECKIN_CHOICES = [("", _l("Any")), ("overdue", _l("Overdue check-ins")), ("today", _l("A check-in due today"))]
# Filter fields kept in a saved view (not the name search, the page or a selection).
VIEW_FIELDS = (
    "school",
    "grade",
    "include_inactive",
    "category",
    "severity",
    "flag_status",
    "program",
    "plan",
    "checkins",
    "counselor",
    "tier",
    "intervention",
    "sort",
)
TIER_CHOICES = [("", _l("Any")), ("1", _l("Tier 1")), ("2", _l("Tier 2")), ("3", _l("Tier 3"))]
INTERVENTION_CHOICES = [("", _l("Any"))] + list(INTERVENTION_FILTERS.items())


class StudentFilterForm(QueryForm):
    """Search by name or SIS id; narrow by school, grade, flags, programs, plans, check-ins and counselor."""

    q = StringField(
        _l("Name or SIS id"),
        validators=[Optional(), Length(max=100, message=_l("Search text is too long (100 characters at most)."))],
    )
    school = SelectField(_l("School"), coerce=str, validators=[Optional()])
    grade = SelectField(
        _l("Grade"),
        validators=[Optional()],
        choices=choices([("", _l("All grades"))] + [(g, grade_label(g)) for g in GRADE_ORDER]),
    )
    include_inactive = BooleanField(_l("Include students no longer enrolled"))
    category = SelectField(_l("Flag category"), validators=[Optional()])
    severity = SelectField(
        _l("Flag severity"),
        validators=[Optional()],
        choices=choices([("", _l("Any"))] + [(s, _l(s.capitalize())) for s in SEVERITIES]),
    )
    flag_status = SelectField(_l("Flag status"), validators=[Optional()], choices=choices(FLAG_STATUSES))
    program = SelectField(_l("Program"), validators=[Optional()])
    plan = SelectField(_l("Check-in plan"), validators=[Optional()], choices=choices(PLAN_CHOICES))
    checkins = SelectField(_l("Check-ins"), validators=[Optional()], choices=choices(CHECKIN_CHOICES))
    counselor = SelectField(_l("Counselor"), validators=[Optional()])
    tier = SelectField(_l("Tier"), validators=[Optional()], choices=choices(TIER_CHOICES))
    intervention = SelectField(_l("Intervention plan"), validators=[Optional()], choices=choices(INTERVENTION_CHOICES))
    sort = SelectField(_l("Sort by"), validators=[Optional()], choices=choices(SORTS.items()))
    page = WholeNumberField(
        _l("Page"),
        validators=[
            Optional(),
            NumberRange(min=1, max=100000, message=_l("Page must be a whole number of 1 or more.")),
        ],
    )

    def __init__(self, schools, categories=(), programs=(), counselors=(), *, is_counselor: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.school.choices = choices([("", gettext("All my schools"))] + [(str(s.id), s.name) for s in schools])
        self.category.choices = choices([("", _l("Any"))] + [(str(c.id), c.name) for c in categories])
        many = len(schools) > 1
        self.program.choices = choices(
            [
                ("", _l("Any")),
                ("any", _l("In a running program")),
                ("none", _l("In no running program")),
                ("waitlisted", _l("On a waitlist")),
            ]
            + [(str(p.id), f"{p.name} ({p.school.name})" if many else p.name) for p in programs]
        )
        self.counselor.choices = choices(
            [("", _l("Anyone"))]
            + ([("me", _l("My caseload"))] if is_counselor else [])
            + [("none", _l("No counselor assigned"))]
            + [(str(c.id), c.name) for c in counselors]
        )

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

        return Filters(
            q=self.q.data,
            school_id=self.school_id,
            grade=picked(self.grade),
            include_inactive=bool(self.include_inactive.data),
            category_id=whole_number(self.category.data),
            severity=picked(self.severity),
            flag_status=picked(self.flag_status),
            program=picked(self.program),
            plan=picked(self.plan),
            checkins=picked(self.checkins),
            counselor=picked(self.counselor),
            tier=picked(self.tier),
            intervention=picked(self.intervention),
            sort=picked(self.sort) or "name",
        )

    def is_filtered(self) -> bool:
        """Whether any filter beyond the name search is set."""
        return any(getattr(self, name).data for name in VIEW_FIELDS if name != "sort")


# --- bulk actions on a selection ------------------------------------------------------------------


class BulkPlanForm(FlaskForm):
    """The same check-in plan for every selected student (checkins.forms.PlanForm's fields)."""

    counselor = RadioField(
        _l("Counselor"),
        default="me",
        validators=[DataRequired(_l("Choose the counselor."))],
        choices=choices(
            [("me", _l("Me")), ("assigned", _l("Each student’s assigned counselor (me where none is assigned)"))]
        ),
    )
    cadence = PlanForm.cadence
    rrule = PlanForm.rrule
    starts_on = PlanForm.starts_on
    local_time = PlanForm.local_time
    duration_minutes = PlanForm.duration_minutes
    until = PlanForm.until
    non_school_day = PlanForm.non_school_day
    reason = PlanForm.reason
    link_flag = BooleanField(_l("Link each plan to the student’s most severe open flag"), default=True)
    validate_rrule = PlanForm.validate_rrule


class BulkEnrollForm(FlaskForm):
    """One program for every selected student."""

    program_id = SelectField(
        _l("Program"),
        coerce=str,
        validators=[DataRequired(_l("Choose the program."))],
        description=_l(
            "Seats are given in the order of the list; when the program is full, the rest "
            "join its waitlist in that order."
        ),
    )

    def __init__(self, programs, seats_taken: dict[int, int], *args, **kwargs):
        super().__init__(*args, **kwargs)
        many = len({p.school_id for p in programs}) > 1

        def label(p) -> str:
            free = p.capacity - seats_taken.get(p.id, 0)
            seats = (
                gettext("%(free)s of %(capacity)s seats free", free=free, capacity=p.capacity)
                if free > 0
                else gettext("full: new students join the waitlist")
            )
            return f"{p.name}" + (f", {p.school.name}" if many else "") + f" ({seats})"

        self.program_id.choices = choices(
            [("", gettext("Choose a program"))] + [(str(p.id), label(p)) for p in programs]
        )


class BulkAssignForm(FlaskForm):
    """One counselor for every selected student."""

    counselor_id = SelectField(_l("Counselor"), coerce=str, validators=[DataRequired(_l("Choose the counselor."))])

    def __init__(self, counselors, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counselor_id.choices = choices(
            [("", gettext("Choose a counselor"))] + [(str(c.id), c.name) for c in counselors]
        )
