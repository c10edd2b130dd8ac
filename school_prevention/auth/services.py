"""Sign-in with throttling of failures, password changes, and creating and editing accounts
(deactivation, invitations and second factors: admin.services)."""

from __future__ import annotations

import math
import time
from datetime import datetime

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from limits import parse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from school_prevention import audit
from school_prevention.audit.models import AuditEvent
from school_prevention.auth import sessions
from school_prevention.auth.models import User
from school_prevention.auth.passwords import hash_password, needs_rehash, verify_password
from school_prevention.auth.queries import normalise_email, user_by_email
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db, limiter
from school_prevention.grants import services as grant_services
from school_prevention.grants.models import PASSWORD, PRIVACY_OFFICER, ROLE, SCHOOL, STUDENT_EXPORT, AccessRequest
from school_prevention.grants.services import APPROVAL_ROLES, CASE_SCHOOL_ROLES
from school_prevention.roles import SCHOOL_SCOPED_ROLES, Role
from school_prevention.schools.models import School
from school_prevention.timezones import localtime


def by_whom(user: User | None, at: datetime | None) -> str:
    """ "Casey Doe (Dec 3, 2026 10:02 AM)": who made a change and when, for the message that tells a
    second identical request the change was already made."""
    return f"{user.name if user is not None else 'someone'} ({localtime(at) if at else 'earlier'})"


def last_done_by(obj, *actions: str, default: str | None = "someone (earlier)") -> str | None:
    """by_whom() of the latest audit row of one of these actions on obj (the trail records every
    change); default when there is none."""
    row = db.session.execute(
        select(User, AuditEvent.at)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(
            AuditEvent.object_type == obj.__tablename__,
            AuditEvent.object_id == str(obj.id),
            AuditEvent.action.in_(actions),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    return by_whom(*row) if row else default


class AccountExists(ServiceError):
    """The email already has an account (`user`). `same` is True when that account has exactly the
    details asked for: the same request, made a moment earlier (a double click on "Create account")."""

    def __init__(self, user: User, same: bool):
        super().__init__("email", gettext("An account with this email already exists."))
        self.user, self.same = user, same

    def already_done(self) -> AlreadyDone:
        """The answer to a repeated identical request: the account is there, nothing more was made."""
        return AlreadyDone(
            gettext(
                "The account for %(email)s was already created by %(who)s. Nothing more was changed.",
                email=self.user.email,
                who=last_done_by(self.user, "user.created"),
            ),
            next_url=f"/admin/users/{self.user.id}",
        )


def _needs_school(role: str) -> str:
    """The refusal of a school-scoped role with no school (the role's name from i18n.ROLE_NAMES)."""
    return gettext("A %(role)s must be assigned to at least one school.", role=gettext(role))


class SignInThrottled(Exception):
    """Too many failed sign-ins for this account or address; retry after some seconds."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


def _failure_keys(email: str, ip: str | None) -> list[tuple[str, str]]:
    return [("signin-fail-account", normalise_email(email)), ("signin-fail-ip", ip or "unknown")]


def _failure_limit():
    return parse(current_app.config["SIGNIN_FAILURE_LIMIT"])


def check_not_throttled(email: str, ip: str | None) -> None:
    """Raise SignInThrottled when the account or the address has failed too often lately.

    Throttling, not lock-out: the window slides, so the owner can sign in a minute later and an
    attacker cannot lock a counselor out of her caseload for good.
    """
    limit = _failure_limit()
    strategy = limiter.limiter
    for key in _failure_keys(email, ip):
        if not strategy.test(limit, *key):
            reset_at = strategy.get_window_stats(limit, *key).reset_time
            raise SignInThrottled(max(1, math.ceil(reset_at - time.time())))


def attempt_sign_in(email: str, password: str, *, ip: str | None) -> User | None:
    """The user when email and password match an active account; None otherwise.

    Raises SignInThrottled before checking anything when failures are over the limit.
    """
    check_not_throttled(email, ip)
    user = db.session.scalars(user_by_email(email)).one_or_none()
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        limit = _failure_limit()
        for key in _failure_keys(email, ip):
            limiter.limiter.hit(limit, *key)
        reason = "unknown_account" if user is None else ("inactive" if ok else "bad_password")
        audit.record("auth.signin_failed", actor=user, ip=ip, detail={"reason": reason})
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_sign_in_at = utcnow()
    audit.record("auth.signin", actor=user, ip=ip)
    return user


def sign_out(user: User, token: str | None) -> None:
    """End this browser's session on the server and record it."""
    sessions.end_session(token, "signed_out")
    audit.record("auth.signout", actor=user)


def change_password(user: User, current: str, new: str, *, keep_token: str | None) -> None:
    """Set a new password after checking the current one; ends the user's other sessions."""
    if not verify_password(user.password_hash, current):
        raise ServiceError("current_password", gettext("That is not your current password."))
    if verify_password(user.password_hash, new):
        raise ServiceError("new_password", gettext("Choose a password different from the current one."))
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    ended = sessions.end_all_sessions(user, "password_changed", keep_token=keep_token)
    audit.record("user.password_changed", actor=user, obj=user, detail={"sessions_ended": ended})


def _schools_by_ids(school_ids) -> list[School]:
    ids = sorted({int(i) for i in school_ids or []})
    if not ids:
        return []
    schools = list(db.session.scalars(select(School).where(School.id.in_(ids))))
    if len(schools) != len(ids):
        raise ServiceError("schools", gettext("One of the chosen schools does not exist."))
    return schools


def _check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ServiceError("role", gettext("Choose one of the listed roles.")) from None


def _check_role_and_schools(role: str, schools: list[School]) -> None:
    role_enum = _check_role(role)
    if role_enum in SCHOOL_SCOPED_ROLES and not schools:
        raise ServiceError("schools", _needs_school(role_enum.value))


def create_user(
    actor: User | None,
    *,
    email: str,
    name: str,
    role: str,
    password: str | None,
    school_ids=(),
    must_change_password: bool = True,
    can_export_student_level: bool = False,
    is_privacy_officer: bool = False,
) -> User:
    """Create an account; a password set by someone else must be changed at first sign-in.

    actor None is the operator on the server (`flask users create`, the demo seed): what is asked
    is given at once, and the audit row says so. An admin (actor) gets an account with no case data:
    a counselor, principal or district role, its schools and the district's grants are proposed
    (grants.services) and wait for a district user's approval; meanwhile the account is a staff
    account with no school, which sees no student.

    An email that already has an account raises AccountExists. Two identical requests at the same
    moment both find no account; the unique index on the email makes the second wait for the first
    and refuse its copy, and it is answered as if it had found the account.
    """
    email = normalise_email(email)
    schools = _schools_by_ids(school_ids)
    role_enum = _check_role(role)
    district = role_enum == Role.DISTRICT
    grants = (can_export_student_level and district, is_privacy_officer and district)
    _refuse_existing(email, name, role, schools, grants)
    _check_role_and_schools(role, schools)
    operator = actor is None
    proposed = not operator and role_enum in APPROVAL_ROLES
    held_schools = schools if operator or role_enum == Role.STAFF else []
    user = User(
        email=email,
        name=name.strip(),
        role=Role.STAFF.value if proposed else role,
        password_hash=hash_password(password) if password else None,
        password_changed_at=utcnow() if password else None,
        must_change_password=must_change_password,
        can_export_student_level=grants[0] and operator,
        is_privacy_officer=grants[1] and operator,
        schools=held_schools,
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        _refuse_existing(email, name, role, schools, grants)
        raise
    detail = {
        "role": user.role,
        "school_ids": [s.id for s in held_schools],
        "temporary_password": bool(password) and must_change_password,
    }
    if operator and (role_enum in APPROVAL_ROLES or any(grants)):
        # No second person: the operator has the server's shell, which no approval could hold back.
        detail["approval"] = "operator"
        detail["grants"] = [g for g, on in zip(("student_export", "privacy_officer"), grants) if on]
    audit.record("user.created", actor=actor, obj=user, detail=detail)
    if proposed:
        assert actor is not None  # proposed only when an admin acts; the operator is given what they ask
        requests = [grant_services.propose(actor, user, ROLE, role)]
        requests += [
            grant_services.propose(actor, user, SCHOOL, str(s.id), school=s)
            for s in schools
            if role_enum in CASE_SCHOOL_ROLES
        ]
        requests += [
            grant_services.propose(actor, user, kind)
            for kind, on in zip((STUDENT_EXPORT, PRIVACY_OFFICER), grants)
            if on
        ]
        grant_services.announce(user, [r for r in requests if r is not None])
    return user


def _intended(user: User) -> tuple:
    """(role, school ids, export grant, privacy-officer grant) the account has or waits for."""
    pending = grant_services.pending_of(user)
    role = next((r.value for r in pending if r.kind == ROLE), user.role)
    school_ids = set(user.school_ids) | {int(r.value) for r in pending if r.kind == SCHOOL}
    return (
        role,
        sorted(school_ids) if Role(role) in SCHOOL_SCOPED_ROLES else [],
        user.can_export_student_level or any(r.kind == STUDENT_EXPORT for r in pending),
        user.is_privacy_officer or any(r.kind == PRIVACY_OFFICER for r in pending),
    )


def _refuse_existing(email: str, name: str, role: str, schools: list[School], grants: tuple[bool, bool]) -> None:
    existing = db.session.scalars(user_by_email(email).execution_options(populate_existing=True)).first()
    if existing is not None:
        asked = (role, sorted(s.id for s in schools) if Role(role) in SCHOOL_SCOPED_ROLES else [], *grants)
        same = existing.name == name.strip() and _intended(existing) == asked
        raise AccountExists(existing, same)


def update_user(
    actor: User,
    user: User,
    *,
    name: str,
    role: str,
    school_ids,
    can_export_student_level: bool,
    is_privacy_officer: bool = False,
    new_password: str | None = None,
) -> list[AccessRequest]:
    """Change a user's name, role, schools or grants (and optionally set a temporary password).

    What takes access away, and what opens no case data, is done at once. What opens case data is
    proposed instead (grants.services) and waits for a district user's approval: a counselor,
    principal or district role; a school of a counselor or principal (or of an account waiting for
    such a role); the student-level export and privacy-officer grants; and a temporary password on
    an account that holds case data. A box left unticked takes away only what the account has, never
    a pending proposal (the admin withdraws those on the account's page). Returns the new proposals.
    """
    role_enum = _check_role(role)
    schools = _schools_by_ids(school_ids)
    if user.id == actor.id and role != user.role:
        raise ServiceError("role", gettext("You cannot change your own role."))
    pending = grant_services.pending_of(user)
    role_change = role != user.role
    role_now = role_change and role_enum not in APPROVAL_ROLES  # given at once; pending access withdrawn
    survivors = [] if role_now else [r for r in pending if r.kind in grant_services.ACCESS_KINDS]
    pending_role = (
        Role(role) if role_change and not role_now else next((Role(r.value) for r in survivors if r.kind == ROLE), None)
    )
    wanted = {s.id for s in schools} if role_enum in SCHOOL_SCOPED_ROLES else set()
    waiting_schools = {int(r.value) for r in survivors if r.kind == SCHOOL}
    if role_enum in SCHOOL_SCOPED_ROLES and not wanted | waiting_schools:
        raise ServiceError("schools", _needs_school(role_enum.value))
    current = set(user.school_ids)
    # A school opens case records to a counselor or principal, and to an account waiting to become one.
    schools_need_approval = role_enum in CASE_SCHOOL_ROLES or pending_role in CASE_SCHOOL_ROLES
    district = role_enum == Role.DISTRICT
    wanted_grants = {
        STUDENT_EXPORT: can_export_student_level and district,
        PRIVACY_OFFICER: is_privacy_officer and district,
    }
    held_grants = {STUDENT_EXPORT: user.can_export_student_level, PRIVACY_OFFICER: user.is_privacy_officer}
    password_needs_approval = bool(new_password) and grant_services.holds_case_access(user)
    before = {
        "role": user.role,
        "school_ids": sorted(current),
        "can_export_student_level": user.can_export_student_level,
        "is_privacy_officer": user.is_privacy_officer,
    }

    # What is done at once.
    after_role = role if role_now else user.role
    after_schools = (current & wanted) | (set() if schools_need_approval else wanted - current)
    if Role(after_role) not in SCHOOL_SCOPED_ROLES:
        after_schools = set()
    after_export = held_grants[STUDENT_EXPORT] and wanted_grants[STUDENT_EXPORT]
    after_privacy = held_grants[PRIVACY_OFFICER] and wanted_grants[PRIVACY_OFFICER]
    after = {
        "role": after_role,
        "school_ids": sorted(after_schools),
        "can_export_student_level": after_export,
        "is_privacy_officer": after_privacy,
    }
    same_password = (
        not new_password
        or password_needs_approval
        or (user.must_change_password and verify_password(user.password_hash, new_password))
    )

    # What is proposed.
    asks = _asks(
        role, role_change and not role_now, schools, wanted - current, schools_need_approval, wanted_grants, held_grants
    )
    pending_keys = {(r.kind, r.value) for r in survivors}
    new_asks = [a for a in asks if (a[0], a[1]) not in pending_keys]
    password_waits = next((r for r in pending if r.kind == PASSWORD), None)
    # The typed password that waits for approval (None: nothing to propose, or the same one already waits).
    password_ask = (
        new_password
        if new_password
        and password_needs_approval
        and not (password_waits is not None and verify_password(password_waits.password_hash, new_password))
        else None
    )

    if before == after and user.name == name.strip() and same_password and not new_asks and password_ask is None:
        # The loader locked the account: a repeated identical save (a double click) finds it done.
        raise AlreadyDone(
            gettext(
                "These details of %(name)s were already saved by %(who)s. Nothing more was changed.",
                name=user.name,
                who=last_done_by(user, "user.updated", "user.created", "grant.proposed"),
            ),
            next_url=f"/admin/users/{user.id}",
        )
    if role_now:
        grant_services.supersede(actor, user, grant_services.ACCESS_KINDS)
    elif role_change:
        grant_services.supersede(actor, user, [ROLE], keep_value=role)
    changed = before != after or user.name != name.strip() or not same_password
    user.name = name.strip()
    user.role = after_role
    if after_schools != current:
        user.schools = [s for s in user.schools if s.id in after_schools] + [
            s for s in schools if s.id in after_schools - current
        ]
    user.can_export_student_level = after_export
    user.is_privacy_officer = after_privacy
    if new_password and not password_needs_approval:
        _set_temporary_password(user, hash_password(new_password))
    # A change of role or schools changes what the person may see: end their sessions so the
    # new scope applies at once, not at their next sign-in.
    if before != after:
        sessions.end_all_sessions(user, "access_changed")
    if changed:
        audit.record(
            "user.updated",
            actor=actor,
            obj=user,
            detail={
                "before": before,
                "after": after,
                "password_reset": bool(new_password) and not password_needs_approval,
            },
        )
    made = _propose(actor, user, new_asks, password_ask, password_waits)
    grant_services.announce(user, made)
    return made


def _asks(
    role: str,
    ask_role: bool,
    schools: list[School],
    new_school_ids: set[int],
    schools_need_approval: bool,
    wanted_grants: dict[str, bool],
    held_grants: dict[str, bool],
) -> list[tuple]:
    """(kind, value, school) of each asked change that waits for a district user's approval."""
    asks: list[tuple] = []
    if ask_role:
        asks.append((ROLE, role, None))
    if schools_need_approval:
        by_id = {s.id: s for s in schools}
        asks += [(SCHOOL, str(i), by_id[i]) for i in sorted(new_school_ids)]
    asks += [(kind, "", None) for kind, on in wanted_grants.items() if on and not held_grants[kind]]
    return asks


def _set_temporary_password(user: User, password_hash: str) -> None:
    """Give the account a temporary password it must change, and end its sessions."""
    # An account the roster import created has never been active: its first temporary
    # password is what activates it. An account an admin deactivated stays deactivated.
    if user.password_hash is None and not user.is_active and user.deactivated_at is None:
        user.is_active = True
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    user.must_change_password = True
    sessions.end_all_sessions(user, "password_reset_by_admin")


def _propose(
    actor: User, user: User, asks: list[tuple], password: str | None, password_waits: AccessRequest | None
) -> list[AccessRequest]:
    """Propose the new asks, and the typed password (in place of one already waiting); returns the proposals."""
    proposals = [grant_services.propose(actor, user, kind, value, school=school) for kind, value, school in asks]
    if password is not None:
        if password_waits is not None:
            grant_services.supersede(actor, user, [PASSWORD])
        proposals.append(grant_services.propose(actor, user, PASSWORD, password_hash=hash_password(password)))
    return [r for r in proposals if r is not None]


def set_language(user: User, code: str) -> None:
    """Keep the language the person chose (i18n.LANGUAGES); every page after this one is in it."""
    from school_prevention.i18n import LANGUAGES

    if code not in LANGUAGES:
        raise ServiceError("language", _l("Choose one of the languages offered."))
    user.locale = code
    db.session.flush()
