"""Saved views of the student list: a user's named filters, listed as quick links, deletable."""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import Select, select

from school_prevention import audit
from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.students.models import SavedView

MAX_VIEWS = 25
NAME_LENGTH = 80


def views_of(user: User) -> Select:
    """The user's saved views by name."""
    return select(SavedView).where(SavedView.user_id == user.id).order_by(SavedView.name, SavedView.id)


def _lock_user(user: User) -> None:
    """Saves of one user take turns (a double click): the second sees the first one's view."""
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())


def save_view(user: User, name: str | None, query: str) -> SavedView:
    """Keep the list's filters (a query string the caller validated) under a name of the user's choice."""
    name = " ".join((name or "").split())
    if not name:
        raise ServiceError("name", gettext("Name the view, for example “My watchlist”."))
    if len(name) > NAME_LENGTH:
        raise ServiceError("name", gettext("Use a name of at most %(num)s characters.", num=NAME_LENGTH))
    if not query:
        raise ServiceError(None, gettext("Choose at least one filter before saving a view."))
    _lock_user(user)
    mine = db.session.scalars(views_of(user)).all()
    same = next((v for v in mine if v.name.lower() == name.lower()), None)
    if same is not None and same.query == query:
        raise AlreadyDone(
            gettext("This view was already saved as “%(name)s”. Nothing more was changed.", name=same.name),
            next_url=f"/students?{same.query}",
        )
    if same is not None:
        raise ServiceError(
            "name",
            gettext(
                "You already have a view named “%(name)s”. Choose another name, or delete that view first.",
                name=same.name,
            ),
        )
    if len(mine) >= MAX_VIEWS:
        raise ServiceError(
            "name", gettext("You can keep %(num)s views. Delete one you no longer use first.", num=MAX_VIEWS)
        )
    view = SavedView(user_id=user.id, name=name, query=query)
    db.session.add(view)
    db.session.flush()
    audit.record("saved_view.saved", actor=user, obj=view)
    return view


def delete_view(user: User, view_id: int) -> SavedView | None:
    """Delete one of the user's views (locked first). None when the user has no such view; AlreadyDone
    when they deleted it a moment ago (a double click)."""
    view = db.session.scalars(
        select(SavedView)
        .where(SavedView.id == view_id, SavedView.user_id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if view is None:
        gone = db.session.scalar(
            select(AuditEvent.id)
            .where(
                AuditEvent.action == "saved_view.deleted",
                AuditEvent.object_type == "saved_view",
                AuditEvent.object_id == str(view_id),
                AuditEvent.actor_id == user.id,
            )
            .limit(1)
        )
        if gone is not None:
            raise AlreadyDone(gettext("That view was already deleted. Nothing more was changed."), next_url="/students")
        return None
    audit.record("saved_view.deleted", actor=user, obj=view)
    db.session.delete(view)
    db.session.flush()
    return view
