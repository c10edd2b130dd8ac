"""Form pieces shared by features: a checkbox list and query-string forms without CSRF."""

from __future__ import annotations

from flask import abort
from flask_babel import gettext
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


def choices_or_prompt(pairs, blank=0, prompt: str | None = None) -> list[SelectChoice]:
    """Select options that start blank ("Choose…", which the field's DataRequired refuses), so nobody saves the
    first real option by not looking; with exactly one option there is nothing to choose, and it is selected."""
    pairs = list(pairs)
    return choices(pairs if len(pairs) == 1 else [(blank, prompt or gettext("Choose…")), *pairs])


def apply_service_error(form, exc) -> None:
    """Show a service's refusal beside its field (or above the form when it has none): every problem it carries."""
    apply_problems(form, getattr(exc, "problems", None) or [(exc.field, exc.message)])


def apply_problems(form, problems, skip_fields_with_errors: bool = False) -> None:
    """Show (field, message) problems on the form; with skip_fields_with_errors a field the form's own
    validation already refused keeps its one message (the service's checks run beside the form's)."""
    for name, message in problems:
        field = getattr(form, name, None) if name else None
        if field is not None:
            if skip_fields_with_errors and field.errors:
                continue
            field.errors = list(field.errors) + [message]
        elif message not in form.form_errors:
            form.form_errors.append(message)


class WholeNumberField(IntegerField):
    """A whole number that refuses more than 18 digits as not a number: WTForms' NumberRange compares
    through float() and would raise OverflowError (a 500) on a few hundred digits."""

    def process_formdata(self, valuelist):
        if valuelist and isinstance(valuelist[0], str) and len(valuelist[0].strip()) > 18:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))
        super().process_formdata(valuelist)


def whole_number(text, digits: int = 18) -> int | None:
    """The whole number a query string or form sent, or None: plain ASCII digits only (str.isdigit() is
    true of "²" and "١", which int() refuses or reads), and no more than `digits` of them."""
    text = (text or "").strip() if isinstance(text, str) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= digits else None


def picked_school(schools, wanted: str | None):
    """The school a `?school=` query picks among the user's schools: the first when none is asked for;
    400 for what is not a school id, 404 for a school that is not theirs."""
    if not (wanted or "").strip():
        return schools[0]
    school_id = whole_number(wanted)
    if school_id is None:
        abort(400, description=gettext("Choose one of your schools from the list."))
    school = next((s for s in schools if s.id == school_id), None)
    if school is None:
        abort(404)
    return school
