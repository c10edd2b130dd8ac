"""Admin-editable reference lists (flag categories, screening instruments, ...): one set of views.

Items are never deleted, only taken out of use, so past records keep their meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Select, Table, func, select
from sqlalchemy.exc import IntegrityError

from school_prevention import audit
from school_prevention.auth.services import last_done_by
from school_prevention.errors import AlreadyDone
from school_prevention.extensions import db
from school_prevention.flags.forms import CategoryForm
from school_prevention.flags.models import FlagCategory
from school_prevention.flags.queries import all_categories
from school_prevention.i18n import N_
from school_prevention.permissions import roles
from school_prevention.programs.forms import ProgramTypeForm
from school_prevention.programs.models import ProgramType
from school_prevention.programs.queries import all_program_types
from school_prevention.roles import Role
from school_prevention.screenings.forms import InstrumentForm
from school_prevention.screenings.models import Instrument
from school_prevention.screenings.queries import all_instruments

bp = Blueprint("catalogue", __name__, url_prefix="/admin/lists")


class CatalogueItem(Protocol):
    """What every list's model has: an id and a name unique in its list (queried through its table)."""

    __table__: ClassVar[Table]
    id: int
    name: str


@dataclass(frozen=True)
class Catalogue:
    """One editable list: its model, form, listing query and the words for it (in English, marked for the
    catalogue: the pages translate them where they show them)."""

    model: type[CatalogueItem]
    form: type
    listing: Callable[[], Select[Any]]
    title: str
    singular: str
    columns: tuple[tuple[str, str], ...]


CATALOGUES: dict[str, Catalogue] = {
    "flag-categories": Catalogue(
        FlagCategory,
        CategoryForm,
        all_categories,
        N_("Flag categories"),
        N_("flag category"),
        (("name", N_("Name")), ("is_suspected_abuse", N_("Mandated report")), ("position", N_("Order"))),
    ),
    "instruments": Catalogue(
        Instrument,
        InstrumentForm,
        all_instruments,
        N_("Screening instruments"),
        N_("instrument"),
        (("name", N_("Name")), ("version", N_("Version"))),
    ),
    "program-types": Catalogue(
        ProgramType,
        ProgramTypeForm,
        all_program_types,
        N_("Program types"),
        N_("program type"),
        (("name", N_("Name")), ("position", N_("Order"))),
    ),
}


def register_catalogue(kind: str, catalogue: Catalogue) -> None:
    """Let another feature add its own admin-editable list."""
    CATALOGUES[kind] = catalogue


def _catalogue_or_404(kind: str) -> Catalogue:
    if kind not in CATALOGUES:
        abort(404)
    return CATALOGUES[kind]


@bp.route("")
@roles(Role.ADMIN)
def overview():
    """Links to every editable list."""
    return render_template("admin/catalogue_overview.html", catalogues=CATALOGUES)


@bp.route("/<kind>")
@roles(Role.ADMIN)
def index(kind: str):
    """Every item of one list, those in use first."""
    catalogue = _catalogue_or_404(kind)
    items = db.session.scalars(catalogue.listing()).all()
    return render_template("admin/catalogue_index.html", kind=kind, catalogue=catalogue, items=items)


def _same_name(catalogue: Catalogue, name: str, item_id: int | None):
    """The other item of the list with this name (ignoring case), or None."""
    columns = catalogue.model.__table__.c
    query = select(catalogue.model).where(func.lower(columns.name) == name.strip().lower())
    if item_id:
        query = query.where(columns.id != item_id)
    return db.session.scalars(query.execution_options(populate_existing=True).limit(1)).first()


def _plain(value):
    """A value as compared: text stripped, and empty text the same as none."""
    value = value.strip() if isinstance(value, str) else value
    return None if value == "" else value


def _differences(form, item) -> list[str]:
    """The form's fields whose value differs from the item's."""
    return [f.name for f in form if f.name != "csrf_token" and _plain(f.data) != _plain(getattr(item, f.name))]


def _already_saved(kind: str, catalogue: Catalogue, item, verb: str) -> AlreadyDone:
    message = (
        _("The %(item)s “%(name)s” was already saved with these details by %(who)s. Nothing more was changed.")
        if verb == "saved"
        else _("The %(item)s “%(name)s” was already added by %(who)s. Nothing more was changed.")
    )
    return AlreadyDone(
        message
        % {"item": _(str(catalogue.singular)), "name": item.name, "who": last_done_by(item, f"admin.{kind}.saved")},
        next_url=url_for("catalogue.edit", kind=kind, item_id=item.id),
    )


def _item_or_404(catalogue: Catalogue, item_id: int):
    """The item, or 404; a change locks its row, so a second identical save waits and finds it done."""
    query = select(catalogue.model).where(catalogue.model.__table__.c.id == item_id)
    if request.method not in ("GET", "HEAD"):
        query = query.with_for_update().execution_options(populate_existing=True)
    item = db.session.scalars(query).one_or_none()
    if item is None:
        abort(404)
    return item


@bp.route("/<kind>/new", methods=["GET", "POST"], defaults={"item_id": None})
@bp.route("/<kind>/<int:item_id>", methods=["GET", "POST"])
@roles(Role.ADMIN)
def edit(kind: str, item_id: int | None):
    """Create or change one item.

    A repeated identical request (a double click, two admins) changes nothing and says who did it:
    an edit that changes nothing, or a new item identical to one of the same name. A new item with
    the name of a different one is refused beside the name. The name's unique index stops the
    second of two new items racing in; it is answered the same way.
    """
    catalogue = _catalogue_or_404(kind)
    item = _item_or_404(catalogue, item_id) if item_id is not None else None
    form = catalogue.form(obj=item)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            if item is not None and not _differences(form, item):
                raise _already_saved(kind, catalogue, item, "saved")
            if _name_taken(kind, catalogue, form, item_id):
                form.name.errors = [_name_taken_message(catalogue)]
            else:
                item = item or catalogue.model()
                form.populate_obj(item)
                item.name = item.name.strip()
                try:
                    with db.session.begin_nested():
                        db.session.add(item)
                        db.session.flush()
                except IntegrityError:
                    _name_taken(kind, catalogue, form, item_id)
                    form.name.errors = [_name_taken_message(catalogue)]
                    item = None if item_id is None else _item_or_404(catalogue, item_id)
                else:
                    audit.record(f"admin.{kind}.saved", actor=current_user, obj=item)
                    flash(_("Saved %(item)s “%(name)s”.", item=_(str(catalogue.singular)), name=item.name), "success")
                    return redirect(url_for("catalogue.index", kind=kind))
    return render_template("admin/catalogue_form.html", kind=kind, catalogue=catalogue, form=form, item=item), status


def _name_taken_message(catalogue: Catalogue) -> str:
    return _("There is already a %(item)s with this name.", item=_(str(catalogue.singular)))


def _name_taken(kind: str, catalogue: Catalogue, form, item_id: int | None) -> bool:
    """True when another item has the form's name; AlreadyDone when, for a new item, that item is
    identical to the form (the same request, made a moment earlier)."""
    existing = _same_name(catalogue, form.name.data, item_id)
    if existing is not None and item_id is None and not _differences(form, existing):
        raise _already_saved(kind, catalogue, existing, "added")
    return existing is not None
