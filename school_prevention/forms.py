"""Form pieces shared by features: a checkbox list and query-string forms without CSRF."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

# The highest ?page= a list accepts; larger numbers overflow the database's OFFSET.
MAX_PAGE = 100_000


class CheckboxListField(SelectMultipleField):
    """A multiple choice shown as a list of labelled checkboxes (keyboard and screen-reader friendly)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class QueryForm(FlaskForm):
    """A GET form read from the query string: no CSRF token, values from request.args."""

    class Meta:
        csrf = False


def choices(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def apply_service_error(form, exc) -> None:
    """Show a service's refusal beside its field (or above the form when it has none)."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = list(field.errors) + [exc.message]
    else:
        form.form_errors.append(exc.message)


class WholeNumberField(IntegerField):
    """A whole number that refuses more than 18 digits as not a number: WTForms' NumberRange compares
    through float() and would raise OverflowError (a 500) on a few hundred digits."""

    def process_formdata(self, valuelist):
        if valuelist and isinstance(valuelist[0], str) and len(valuelist[0].strip()) > 18:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))
        super().process_formdata(valuelist)
