"""Save a page (a new version when its text changes) and confirm that one has read it."""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import func, select

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.awareness.models import AwarenessConfirmation, AwarenessPage, AwarenessPageVersion
from school_prevention.awareness.queries import confirmation_of
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.roles import Role
from school_prevention.timezones import localtime


def save_page(
    actor: User,
    page: AwarenessPage | None,
    *,
    title: str,
    body: str,
    audience,
    position: int = 0,
    is_published: bool = True,
) -> AwarenessPage:
    """Create a page or change one. A change of title or text is a new version, which the audience is
    asked to confirm again; a change of audience, order or publication is not.

    A save that changes nothing (a double click on Save) is refused with AlreadyDone naming who saved it.
    """
    title, body = (title or "").strip(), (body or "").replace("\r\n", "\n").strip()
    roles = [r.value for r in Role if r.value in set(audience or ())]
    if not title:
        raise ServiceError("title", gettext("Give the page a title."))
    if not body:
        raise ServiceError("body", gettext("Write the page's text."))
    if not roles:
        raise ServiceError("audience", gettext("Choose at least one role the page is for."))
    same_title = db.session.scalars(
        select(AwarenessPage).where(func.lower(AwarenessPage.title) == title.lower())
    ).first()
    if same_title is not None and same_title is not page:
        if page is None and same_title.body == body:
            raise _already(same_title, added=True)
        raise ServiceError("title", gettext("There is already a page with this title."))
    audience_text = ",".join(roles)
    if page is None:
        page = AwarenessPage(
            title=title,
            body=body,
            audience=audience_text,
            position=position,
            is_published=is_published,
            version=1,
            updated_by_id=actor.id,
            updated_at=utcnow(),
        )
        db.session.add(page)
        db.session.flush()
        changed_text = True
    else:
        changed_text = (title, body) != (page.title, page.body)
        if not changed_text and (audience_text, position, is_published) == (
            page.audience,
            page.position,
            page.is_published,
        ):
            raise _already(page, added=False)
        if changed_text:
            page.version += 1
        page.title, page.body, page.audience = title, body, audience_text
        page.position, page.is_published = position, is_published
        page.updated_by_id, page.updated_at = actor.id, utcnow()
    if changed_text:
        db.session.add(
            AwarenessPageVersion(page_id=page.id, version=page.version, title=title, body=body, created_by_id=actor.id)
        )
    db.session.flush()
    audit.record(
        "awareness.page.saved",
        actor=actor,
        obj=page,
        detail={"version": page.version, "new_version": changed_text, "audience": roles},
    )
    return page


def _already(page: AwarenessPage, *, added: bool) -> AlreadyDone:
    who = page.updated_by.name if page.updated_by else gettext("someone")
    values = {"title": page.title, "name": who, "when": localtime(page.updated_at)}
    message = (
        gettext("The page “%(title)s” was already added by %(name)s (%(when)s). Nothing more was changed.", **values)
        if added
        else gettext(
            "The page “%(title)s” was already saved with this text by %(name)s (%(when)s). Nothing more was changed.",
            **values,
        )
    )
    return AlreadyDone(message, next_url=f"/awareness/{page.id}")


def confirm_read(actor: User, page: AwarenessPage, version: int) -> AwarenessConfirmation:
    """Record that the actor read this version of the page.

    The version is the one the person was shown: if the page changed meanwhile, they are asked to
    read the new text first. Confirming again (a double click) is refused with AlreadyDone.
    """
    if not page.is_for(actor):
        raise ServiceError(None, gettext("This page is not addressed to your role, so there is nothing to confirm."))
    if version != page.version:
        raise ServiceError(
            None, gettext("The page was changed while you were reading it. Read the new version below, then confirm.")
        )
    earlier = db.session.scalars(confirmation_of(actor.id, page.id, version)).first()
    if earlier is not None:
        raise AlreadyDone(
            gettext(
                "You already confirmed that you read “%(title)s” (%(when)s).",
                title=page.title,
                when=localtime(earlier.confirmed_at),
            ),
            next_url=f"/awareness/{page.id}",
        )
    confirmation = AwarenessConfirmation(page_id=page.id, version=version, user_id=actor.id)
    db.session.add(confirmation)
    db.session.flush()
    audit.record("awareness.confirmed", actor=actor, obj=page, detail={"version": version})
    return confirmation
