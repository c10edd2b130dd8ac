"""Sign-in and password forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from school_prevention.auth.passwords import password_problems
from school_prevention.forms import choices
from school_prevention.i18n import LANGUAGES


class LoginForm(FlaskForm):
    """Email and password."""

    email = StringField(
        _l("Email"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=320)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


class NewPasswordMixin:
    """Validation of a new password against the policy and the person's own name and email."""

    def user_inputs(self) -> list[str]:
        """Strings the password should not be built from."""
        return []

    def validate_new_password(self, field):
        problems = password_problems(field.data or "", self.user_inputs())
        if problems:
            raise ValidationError(problems[0])


class SetPasswordForm(NewPasswordMixin, FlaskForm):
    """Choose a password (from an invitation or reset link): the new one twice."""

    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Choose a new password."))],
        description=_l("At least 12 characters. No special characters required: a few unrelated words work well."),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Type the new password again.")),
            EqualTo("new_password", _l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._user = user

    def user_inputs(self) -> list[str]:
        return [self._user.email, self._user.name]


class ChangePasswordForm(SetPasswordForm):
    """Change one's own password: the current one, then the new one twice."""

    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )


class ForgotPasswordForm(FlaskForm):
    """Ask for a password-reset link by email."""

    email = StringField(
        _l("Your work email"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=320)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )


class SecondFactorForm(FlaskForm):
    """A six-digit code from the authenticator app, or a recovery code."""

    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Type the code from your authenticator app.")), Length(max=40)],
        description=_l("The six digits your authenticator app shows, or one of your recovery codes."),
        render_kw={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false", "autocapitalize": "off"},
    )


class EnrolForm(FlaskForm):
    """The first code from a newly added authenticator app."""

    code = StringField(
        _l("Six-digit code from the app"),
        validators=[DataRequired(_l("Type the six digits your app shows.")), Length(max=20)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"},
    )


class RenewCodesForm(SecondFactorForm):
    """A code that confirms it is the person asking for new recovery codes."""

    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Type the code from your authenticator app.")), Length(max=40)],
        description=_l("The six digits your authenticator app shows, or one of your recovery codes."),
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "off"},
    )


class LanguageForm(FlaskForm):
    """The language the person reads the app in (the footer's picker)."""

    language = SelectField(
        _l("Language"), choices=choices(LANGUAGES.items()), validators=[DataRequired(_l("Choose a language."))]
    )
