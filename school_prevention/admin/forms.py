"""Forms to create and edit user accounts."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from school_prevention.auth.forms import NewPasswordMixin
from school_prevention.forms import CheckboxListField, QueryForm, choices
from school_prevention.roles import ROLE_LABELS, Role

# The role options, each label in the reader's language (read when the select is drawn).
ROLE_CHOICES = [(r.value, _l(ROLE_LABELS[r])) for r in Role]


class UserForm(NewPasswordMixin, FlaskForm):
    """An account: who, which role, which schools, which grants."""

    email = StringField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter an email address.")),
            Email(_l("Enter a valid email address, like name@school.org.")),
            Length(max=320),
        ],
    )
    name = StringField(_l("Full name"), validators=[DataRequired(_l("Enter the person's name.")), Length(max=255)])
    role = SelectField(
        _l("Role"),
        choices=choices(ROLE_CHOICES),
        validators=[DataRequired(_l("Choose a role."))],
        description=_l(
            "A counselor, principal or district role, and the grants below, open case data: "
            "they are given once a district user approves them."
        ),
    )
    schools = CheckboxListField(
        _l("Schools"),
        coerce=int,
        description=_l(
            "Staff, counselors and principals see only these schools. A counselor's "
            "or principal's school is given once the district approves it."
        ),
    )
    can_export_student_level = BooleanField(
        _l("May export student-level data (district role only; each export asks for a purpose and is audited)")
    )
    is_privacy_officer = BooleanField(
        _l("Privacy officer: may look up and download any student's record of access (district role only)")
    )
    send_invite = BooleanField(
        _l("Email an invitation link instead (the person chooses their own password; the link works once, for 7 days)"),
    )
    new_password = PasswordField(
        _l("Temporary password"),
        description=_l("The person must choose their own password when they first sign in. At least 12 characters."),
        render_kw={"autocomplete": "new-password"},
    )

    def __init__(self, schools, *args, password_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.schools.choices = choices((s.id, s.name) for s in schools)
        self._password_required = password_required

    def user_inputs(self) -> list[str]:
        return [self.email.data or "", self.name.data or ""]

    def validate_new_password(self, field):
        if not field.data:
            if self._password_required and not self.send_invite.data:
                raise ValidationError(_l("Set a temporary password for the first sign-in, or tick the invitation box."))
            return
        if self.send_invite.data:
            raise ValidationError(_l("Either email an invitation or set a temporary password, not both."))
        super().validate_new_password(field)


class UserFilterForm(QueryForm):
    """Search the user list."""

    q = StringField(_l("Name or email"), validators=[Optional(), Length(max=100)])
    role = SelectField(_l("Role"), choices=choices([("", _l("All roles")), *ROLE_CHOICES]), validators=[Optional()])
