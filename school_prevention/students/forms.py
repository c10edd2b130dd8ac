"""The student list's filters, read from the query string."""
from __future__ import annotations

from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import NumberRange, Optional, Length

from school_prevention.forms import WholeNumberField, QueryForm, choices
from school_prevention.students.models import GRADE_ORDER, grade_label


class StudentFilterForm(QueryForm):
    """Search by name or SIS id, narrow by school and grade, page through."""

    q = StringField("Name or SIS id", validators=[Optional(), Length(max=100, message="Search text is too long (100 characters at most).")])
    school = SelectField("School", coerce=str, validators=[Optional()])
    grade = SelectField("Grade", validators=[Optional()],
                        choices=choices([("", "All grades")] + [(g, grade_label(g)) for g in GRADE_ORDER]))
    include_inactive = BooleanField("Include students no longer enrolled")
    page = WholeNumberField("Page", validators=[Optional(), NumberRange(min=1, max=100000, message="Page must be a whole number of 1 or more.")])

    def __init__(self, schools, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.school.choices = choices([("", "All my schools")] + [(str(s.id), s.name) for s in schools])

    @property
    def school_id(self) -> int | None:
        """The chosen school's id, if any."""
        # Optional() lets a blank choice through (" " is no school): strip before reading it.
        value = (self.school.data or "").strip()
        return int(value) if value else None
