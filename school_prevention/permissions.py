"""Who may do what: declared endpoint policies, the scoped queries, and 404/403 loaders.

Every endpoint declares a policy with one of the decorators below; enforce_policy() runs
before every request and refuses (403) any endpoint that declared none, so a new route is
closed until someone decides who may use it. Objects outside a user's scope answer 404 (they
do not exist for that user); an action the role may not take on an object in scope answers 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from flask import Flask, abort, current_app, has_request_context, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import Select, bindparam, false, select

from school_prevention.auth.models import User, user_school
from school_prevention.extensions import db, login_manager
from school_prevention.roles import Role
from school_prevention.schools.models import School
from school_prevention.students.models import Student

# Roles that work with individual students' records (DESIGN.md role table).
CASE_ROLES = frozenset({Role.COUNSELOR, Role.PRINCIPAL})


@dataclass(frozen=True)
class Policy:
    """Who may call an endpoint: anyone, any signed-in user, or the listed roles."""

    public: bool = False
    roles: frozenset[Role] | None = None  # None with public=False: any signed-in user

    def allows(self, user) -> bool:
        """True when user may call the endpoint (anonymous users only for public ones)."""
        if self.public:
            return True
        if not user.is_authenticated:
            return False
        return self.roles is None or Role(user.role) in self.roles

    def describe(self) -> str:
        """A short human description, for the permission test's messages."""
        if self.public:
            return "public"
        if self.roles is None:
            return "any signed-in user"
        return ", ".join(sorted(self.roles))


def _declare(policy: Policy):
    def decorator(view):
        view.sp_policy = policy
        return view

    return decorator


public = _declare(Policy(public=True))
signed_in = _declare(Policy())


def roles(*allowed: Role):
    """Declare that only users with one of these roles may call the endpoint."""
    return _declare(Policy(roles=frozenset(allowed)))


def read_only(view):
    """Declare that an endpoint saves nothing and names no student (a progress poll, a health check):
    its transaction is a plain read (no write lock on SQLite) and is rolled back, not committed."""
    view.sp_read_only = True
    return view


def is_read_only(app: Flask, endpoint: str | None) -> bool:
    """Whether the endpoint was declared read_only."""
    view = app.view_functions.get(endpoint) if endpoint else None
    return getattr(view, "sp_read_only", False)


# Endpoints Flask registers itself.
BUILTIN_POLICIES = {"static": Policy(public=True)}
# Endpoints a user who must change a temporary password may still reach.
PASSWORD_CHANGE_EXEMPT = {"account.password", "auth.logout", "auth.login", "static", "healthz"}


def policy_for(app: Flask, endpoint: str) -> Policy | None:
    """The declared policy of an endpoint, or None when it has none."""
    if endpoint in BUILTIN_POLICIES:
        return BUILTIN_POLICIES[endpoint]
    view = app.view_functions.get(endpoint)
    return getattr(view, "sp_policy", None)


def enforce_policy():
    """before_request: apply the endpoint's declared policy; no policy means no access."""
    endpoint = request.endpoint
    if endpoint is None:  # routing already failed: let the 404/405 through
        return None
    policy = policy_for(current_app, endpoint)
    if policy is None:
        current_app.logger.error("endpoint %s has no declared policy; refused", endpoint)
        abort(403)
    if policy.public:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.must_change_password and endpoint not in PASSWORD_CHANGE_EXEMPT:
        return redirect(url_for("account.password"))
    if not policy.allows(current_user):
        abort(403)
    return None


# --- scoped queries -----------------------------------------------------------------------


def assigned_school_ids(user: User):
    """A subquery of the ids of the schools assigned to user (no round trip)."""
    return _assigned_to(user.id)


def _assigned_to(user_id):
    """A subquery of the ids of the schools assigned to a user id (a value or a bind parameter)."""
    return select(user_school.c.school_id).where(user_school.c.user_id == user_id)


def visible_schools(user: User) -> Select:
    """Schools the user works with: their assigned schools, or all for district and admin."""
    query = select(School).order_by(School.name)
    if user.has_role(Role.DISTRICT, Role.ADMIN):
        return query
    return query.where(School.id.in_(assigned_school_ids(user)))


def visible_students(user: User) -> Select:
    """Students whose records the user may open: counselors and principals, own schools only.

    Staff route concerns but do not browse records; district and admin see no student rows.
    """
    return select(Student).where(_students_of(student_scope(user).kind, user.id))


def _students_of(kind: str, user_id):
    """The WHERE clause of a kind of student scope for a user id (a value or a bind parameter)."""
    if kind != "own_schools":
        return false()
    return Student.school_id.in_(_assigned_to(user_id))


class StudentScope(NamedTuple):
    """visible_students(user) for statements built once and run for any user.

    The kind of scope decides the statement (the same for every user of a kind); the user's id
    is only ever a bind value.
    """

    kind: str  # "own_schools" (counselors, principals) or "none"
    user_id: int

    def params(self) -> dict[str, int]:
        """The value of the bind parameter of visible_students_condition()."""
        return {"scope_user_id": self.user_id}


def student_scope(user: User) -> StudentScope:
    """The user's StudentScope: the same students as visible_students(user)."""
    return StudentScope("own_schools" if user.role_enum in CASE_ROLES else "none", user.id)


def visible_students_condition(kind: str):
    """visible_students()'s WHERE clause for a kind of scope, the user's id left as :scope_user_id.

    For statements cached per kind: a user's id in a cached statement would show every later
    user the first one's students.
    """
    return _students_of(kind, bindparam("scope_user_id"))


def scoped_or_404(query: Select, model, object_id: int):
    """The one object of model with this id in the scoped query, or 404.

    A request that changes something (any method but GET and HEAD) locks the row until it commits
    (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the request already holds the database's write
    lock). Two identical requests at the same moment, a double click or two counselors, then act
    one after the other, and the second sees what the first did: the service's check of the
    record's state refuses it (errors.AlreadyDone) instead of doing it twice.
    """
    query = query.where(model.id == object_id)
    if has_request_context() and request.method not in ("GET", "HEAD"):
        query = query.with_for_update(of=model).execution_options(populate_existing=True)
    found = db.session.scalars(query).one_or_none()
    if found is None:
        abort(404)
    return found


def get_student_or_404(user: User, student_id: int) -> Student:
    """The student with this id if the user may see them; 404 otherwise (locked for a change)."""
    return scoped_or_404(visible_students(user), Student, student_id)


# --- case work ------------------------------------------------------------


def can_read_restricted_notes(user: User) -> bool:
    """Restricted narrative notes are for counselors of the student's school only."""
    return user.role_enum == Role.COUNSELOR


def referable_students(user: User) -> Select:
    """Students a staff member may refer: the active students of their own schools."""
    return select(Student).where(Student.school_id.in_(assigned_school_ids(user)), Student.is_active.is_(True))
