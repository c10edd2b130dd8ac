"""Proposing, approving, rejecting and withdrawing grants of access to case data.

An admin's change that would open case data to an account (a counselor, principal or district role,
a school of a counselor or principal, the student-level export or privacy-officer grant), or hand
such an account to whoever holds a new credential (a temporary password, an emailed link, a second-
factor reset, a reactivation), is not made: it becomes a pending AccessRequest. A district user who
is neither its proposer nor the account's holder approves it, and the approval makes the change in
the same transaction; until then the account has none of it. Every step is audited, and every
proposal is told to the district's users in the app and by email (no student data in either).

Each decision is one conditional UPDATE (... WHERE status = 'pending'), taken while holding the
account's row lock: of two identical clicks the second finds the request decided and is told by whom.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import Any, cast

from flask_babel import gettext
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import selectinload

from school_prevention import audit
from school_prevention.auth import sessions, tokens
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.grants.models import (
    PASSWORD,
    PRIVACY_OFFICER,
    REACTIVATE,
    RESET_LINK,
    ROLE,
    SCHOOL,
    SECOND_FACTOR,
    STUDENT_EXPORT,
    AccessRequest,
)
from school_prevention.i18n import N_
from school_prevention.notifications.locales import Compose
from school_prevention.notifications.services import notify
from school_prevention.roles import SCHOOL_SCOPED_ROLES, Role
from school_prevention.schools.models import School
from school_prevention.timezones import localtime

# Roles an admin may propose but not give: counselors and principals read case records; the
# district approves grants (an admin who could make a district account could approve their own).
APPROVAL_ROLES = frozenset({Role.COUNSELOR, Role.PRINCIPAL, Role.DISTRICT})
# Roles whose schools open case records; a staff member's school only lets them refer a concern.
CASE_SCHOOL_ROLES = frozenset({Role.COUNSELOR, Role.PRINCIPAL})
# The kinds about what the account may see, withdrawn when an admin gives it another role outright.
ACCESS_KINDS = (ROLE, SCHOOL, STUDENT_EXPORT, PRIVACY_OFFICER)
LINK = "/access-requests"


class NotYourDecision(Exception):
    """The district user may not decide this request (it is about them, or they proposed it)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def holds_case_access(user: User) -> bool:
    """Whether the account has case data now, or the district's power to approve it: a new credential
    or a reactivation of such an account is a grant too, and waits for approval."""
    return (
        user.role in {r.value for r in APPROVAL_ROLES}
        or bool(user.can_export_student_level)
        or bool(user.is_privacy_officer)
    )


def pending_of(user: User) -> list[AccessRequest]:
    """The account's pending requests, oldest first."""
    return list(
        db.session.scalars(
            select(AccessRequest)
            .where(AccessRequest.user_id == user.id, AccessRequest.status == "pending")
            .options(selectinload(AccessRequest.school), selectinload(AccessRequest.proposed_by))
            .order_by(AccessRequest.id)
            .execution_options(populate_existing=True)
        )
    )


# What each kind of request gives, in words; the page and its messages show them in the reader's
# language, while notification titles and audit details keep English (they are stored).
_KIND_WORDS = {
    STUDENT_EXPORT: N_("the student-level export grant"),
    PRIVACY_OFFICER: N_("the privacy-officer grant (any student's record of access)"),
    PASSWORD: N_("a temporary password set by an administrator"),
    RESET_LINK: N_("an emailed link to choose a new password"),
    SECOND_FACTOR: N_("removing the second sign-in factor"),
    REACTIVATE: N_("reactivating the account"),
}
_ROLE_REQUEST = N_("the %(role)s role")
_SCHOOL_REQUEST = N_("the school %(name)s")
# Role names as roles.ROLE_LABELS words them, for the request list in the reader's language.
ROLE_WORDS = [
    N_("Staff (teacher, nurse, other adult)"),
    N_("Counselor / social worker"),
    N_("Principal"),
    N_("District prevention office"),
    N_("System administrator"),
]


def describe(req: AccessRequest, translate=lambda text, **kw: text % kw if kw else text) -> str:
    """What the request would give, in words ("the Counselor role", "the school North Middle")."""
    if req.kind == ROLE:
        return translate(_ROLE_REQUEST, role=translate(Role(req.value).label))
    if req.kind == SCHOOL:
        return translate(_SCHOOL_REQUEST, name=req.school.name if req.school is not None else "#" + req.value)
    return translate(_KIND_WORDS[req.kind])


def describe_shown(req: AccessRequest) -> str:
    """describe(req) in the reader's language."""
    return describe(req, gettext)


def headline(req: AccessRequest) -> str:
    """describe(req) as the start of a sentence, in the reader's language."""
    text = describe_shown(req)
    return text[:1].upper() + text[1:]


def _by_whom(user: User | None, at: datetime | None) -> str:
    return gettext(
        "%(name)s (%(when)s)",
        name=user.name if user is not None else gettext("someone"),
        when=localtime(at) if at else gettext("earlier"),
    )


def _record(action: str, actor: User | None, req: AccessRequest, **detail) -> None:
    audit.record(
        action,
        actor=actor,
        object_type="user_account",
        object_id=req.user_id,
        detail={"kind": req.kind, "value": req.value, "request_id": req.id, **detail},
    )


def propose(
    actor: User,
    user: User,
    kind: str,
    value: str = "",
    *,
    school: School | None = None,
    password_hash: str | None = None,
) -> AccessRequest | None:
    """A pending request for this change to the account, or None when the same one is pending already.

    The caller holds the account's row lock, so two identical requests find each other's proposal;
    the partial unique index is the backstop.
    """
    found = db.session.scalars(
        select(AccessRequest).where(
            AccessRequest.user_id == user.id,
            AccessRequest.kind == kind,
            AccessRequest.value == value,
            AccessRequest.status == "pending",
        )
    ).first()
    if found is not None:
        return None
    req = AccessRequest(
        user_id=user.id,
        kind=kind,
        value=value,
        school_id=getattr(school, "id", None),
        password_hash=password_hash,
        proposed_by_id=actor.id,
        proposed_at=utcnow(),
    )
    db.session.add(req)
    db.session.flush()
    _record("grant.proposed", actor, req)
    return req


def supersede(actor: User, user: User, kinds: Iterable[str], *, keep_value: str | None = None) -> int:
    """Withdraw the account's pending requests of these kinds (but one with keep_value): the admin
    has decided otherwise since. Returns how many."""
    query = (
        update(AccessRequest)
        .where(AccessRequest.user_id == user.id, AccessRequest.kind.in_(list(kinds)), AccessRequest.status == "pending")
        .values(
            status="withdrawn",
            decided_by_id=actor.id,
            decided_at=utcnow(),
            password_hash=None,
            reason="Replaced by a later change of the administrator's.",
        )
        .returning(AccessRequest.id, AccessRequest.kind, AccessRequest.value)
        .execution_options(synchronize_session=False)
    )
    if keep_value is not None:
        query = query.where(AccessRequest.value != keep_value)
    rows = db.session.execute(query).all()
    for request_id, kind, value in rows:
        audit.record(
            "grant.withdrawn",
            actor=actor,
            object_type="user_account",
            object_id=user.id,
            detail={"kind": kind, "value": value, "request_id": request_id, "superseded": True},
        )
    return len(rows)


def approvers(user: User) -> list[User]:
    """Who may decide requests about this account: every active district user but its holder."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.role == Role.DISTRICT.value, User.is_active.is_(True), User.id != user.id)
            .order_by(User.id)
        )
    )


def announce(user: User, requests: list[AccessRequest]) -> int:
    """Tell every district user who may decide them, in the app and by email, that requests about the
    account wait for them; returns how many people were told (0: nobody can approve yet)."""
    if not requests:
        return 0
    people = approvers(user)
    title = partial(_approval_title, user.name[:80])
    for channel in ("in_app", "email"):
        notify(
            people,
            kind="grant.proposed",
            subject_type="access_request",
            subject_id=requests[0].id,
            title=title,
            link=LINK,
            channel=channel,
        )
    return len(people)


def _check_decider(decider: User, req: AccessRequest) -> None:
    if req.user_id == decider.id:
        raise NotYourDecision(gettext("This request is about your own account: another district user must decide it."))
    if req.proposed_by_id == decider.id:
        raise NotYourDecision(gettext("You proposed this change: another person must decide it."))


def _lock_user(user_id: int) -> User:
    return db.session.scalars(
        select(User).where(User.id == user_id).with_for_update(of=User).execution_options(populate_existing=True)
    ).one()


def _decide(decider: User, req: AccessRequest, status: str, reason: str | None = None) -> str | None:
    """Mark the request decided if it is still pending (one conditional UPDATE); AlreadyDone when it
    is not. Returns the password hash it held (PASSWORD), which the request no longer keeps."""
    held = req.password_hash
    decided = cast(
        CursorResult[Any],
        db.session.execute(
            update(AccessRequest)
            .where(AccessRequest.id == req.id, AccessRequest.status == "pending")
            .values(status=status, decided_by_id=decider.id, decided_at=utcnow(), reason=reason, password_hash=None)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    db.session.refresh(req)
    if decided != 1:
        said = {
            "approved": N_(
                "This request (%(what)s for %(name)s) was already approved by %(by)s. Nothing more was changed."
            ),
            "rejected": N_(
                "This request (%(what)s for %(name)s) was already rejected by %(by)s. Nothing more was changed."
            ),
            "withdrawn": N_(
                "This request (%(what)s for %(name)s) was already withdrawn by %(by)s. Nothing more was changed."
            ),
        }
        raise AlreadyDone(
            gettext(
                said.get(req.status, said["withdrawn"]),
                what=describe_shown(req),
                name=req.user.name,
                by=_by_whom(req.decided_by, req.decided_at),
            ),
            next_url=LINK,
        )
    return held


def _access(user: User) -> dict:
    return {
        "role": user.role,
        "school_ids": sorted(user.school_ids),
        "can_export_student_level": user.can_export_student_level,
        "is_privacy_officer": user.is_privacy_officer,
        "is_active": user.is_active,
    }


def approve(approver: User, req: AccessRequest) -> User:
    """Approve the request and make its change now, in the same transaction; returns the account."""
    _check_decider(approver, req)
    user = _lock_user(req.user_id)  # the admin's edits of the account wait for the decision, and it for them
    held = _decide(approver, req, "approved")
    before = _access(user)
    _apply(approver, req, user, held)
    _record("grant.approved", approver, req, proposed_by_id=req.proposed_by_id, before=before, after=_access(user))
    _tell_proposer(req, partial(_decided_title, True, approver.name, req, user.name))
    return user


def reject(decider: User, req: AccessRequest, reason: str) -> None:
    """Refuse the request, with the reason the proposer is shown; nothing changes on the account."""
    _check_decider(decider, req)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("reason", gettext("Say why, for the administrator who proposed it."))
    _decide(decider, req, "rejected", reason)
    _record("grant.rejected", decider, req, proposed_by_id=req.proposed_by_id)
    _tell_proposer(req, partial(_decided_title, False, decider.name, req, req.user.name))


def withdraw(actor: User, req: AccessRequest) -> None:
    """The administrators take back a pending proposal."""
    _decide(actor, req, "withdrawn", "Withdrawn by an administrator.")
    _record("grant.withdrawn", actor, req)


# Titles composed in the recipient's language (notifications.locales).
def _approval_title(name: str) -> str:
    return gettext("Approval needed: access to case data for %(name)s", name=name)


def _decided_title(approved: bool, decider: str, req: AccessRequest, name: str) -> str:
    if approved:
        text = gettext(
            "Approved by %(decider)s: %(what)s for %(name)s", decider=decider, what=describe_shown(req), name=name
        )
    else:
        text = gettext(
            "Not approved by %(decider)s: %(what)s for %(name)s", decider=decider, what=describe_shown(req), name=name
        )
    return text[:200]


def _tell_proposer(req: AccessRequest, title: Compose) -> None:
    if req.proposed_by is not None and req.proposed_by.is_active:
        notify(
            [req.proposed_by],
            kind="grant.decided",
            subject_type="access_request",
            subject_id=req.id,
            title=title,
            link=f"/admin/users/{req.user_id}",
        )


def _apply(approver: User, req: AccessRequest, user: User, held_hash: str | None) -> None:
    """Make the approved change; a request the account no longer fits is refused (ServiceError)."""
    apply = _APPLY.get(req.kind)
    if apply is not None:
        apply(approver, req, user, held_hash)


def _apply_role(approver: User, req: AccessRequest, user: User, held_hash: str | None) -> None:
    role = Role(req.value)
    user.role = role.value
    if role not in SCHOOL_SCOPED_ROLES:
        user.schools = []
    if role != Role.DISTRICT:
        user.can_export_student_level = user.is_privacy_officer = False
    sessions.end_all_sessions(user, "access_changed")


def _apply_school(approver: User, req: AccessRequest, user: User, held_hash: str | None) -> None:
    if user.role_enum not in SCHOOL_SCOPED_ROLES:
        raise ServiceError(
            None,
            gettext(
                "%(name)s is now %(role)s, a role without schools. Reject this request instead.",
                name=user.name,
                role=gettext(user.role_enum.label),
            ),
        )
    if req.school is not None and req.school.id not in user.school_ids:
        user.schools = [*user.schools, req.school]


def _apply_district_grant(approver: User, req: AccessRequest, user: User, held_hash: str | None) -> None:
    if user.role_enum != Role.DISTRICT:
        raise ServiceError(
            None,
            gettext(
                "%(name)s is not a district user: approve the district role first, or reject this request.",
                name=user.name,
            ),
        )
    if req.kind == STUDENT_EXPORT:
        user.can_export_student_level = True
    else:
        user.is_privacy_officer = True


def _apply_password(approver: User, req: AccessRequest, user: User, held_hash: str | None) -> None:
    # An account the roster import created has never been active: its first temporary
    # password is what activates it. An account an admin deactivated stays deactivated.
    if user.password_hash is None and not user.is_active and user.deactivated_at is None:
        user.is_active = True
    user.password_hash = held_hash
    user.password_changed_at = utcnow()
    user.must_change_password = True
    sessions.end_all_sessions(user, "password_reset_by_admin")


def _apply_reset_link(approver: User, req: AccessRequest, user: User, held_hash: str | None) -> None:
    if not tokens.can_invite(user):
        raise ServiceError(None, gettext("%(name)s's account is deactivated: reject this request.", name=user.name))
    tokens.issue(user, tokens.INVITE, actor=approver)


def _apply_second_factor(approver: User, req: AccessRequest, user: User, held_hash: str | None) -> None:
    user.mfa_secret = None
    sessions.end_all_sessions(user, "second_factor_reset")


def _apply_reactivate(approver: User, req: AccessRequest, user: User, held_hash: str | None) -> None:
    user.is_active, user.deactivated_at = True, None


# What approving each kind of request does (a kind not listed changes nothing).
_APPLY = {
    ROLE: _apply_role,
    SCHOOL: _apply_school,
    STUDENT_EXPORT: _apply_district_grant,
    PRIVACY_OFFICER: _apply_district_grant,
    PASSWORD: _apply_password,
    RESET_LINK: _apply_reset_link,
    SECOND_FACTOR: _apply_second_factor,
    REACTIVATE: _apply_reactivate,
}
