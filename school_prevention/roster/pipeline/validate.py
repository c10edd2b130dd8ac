"""Validate: every row of orgs.csv, users.csv and demographics.csv checked, streamed as typed rows.

A bad row is rejected (ImportReport.reject: file, line and a clear message in the admin's
language) and the rest go on; every rejected row is listed, not just the first. Validation needs
no database except the known schools (a student's orgSourcedIds).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from flask_babel import format_decimal
from flask_babel import gettext as _
from sqlalchemy import Column, String

from school_prevention.auth.models import User
from school_prevention.auth.queries import normalise_email
from school_prevention.disclosures.models import Guardian
from school_prevention.roster.pipeline.report import ImportReport
from school_prevention.roster.sources import Row
from school_prevention.schools.models import School
from school_prevention.students.models import Student

GRADES = {"IT", "PR", "PK", "TK", "KG", "PS", "UG", "Other"} | {f"{n:02d}" for n in range(1, 14)}
STAFF_ROLES = {"teacher", "administrator", "aide"}
GUARDIAN_ROLES = {"parent", "guardian"}  # kept, linked to their students by agentSourcedIds
OTHER_ROLES = {"proctor", "relative"}
RACE_COLUMNS = {
    "americanIndianOrAlaskaNative": "american_indian_or_alaska_native",
    "asian": "asian",
    "blackOrAfricanAmerican": "black_or_african_american",
    "nativeHawaiianOrOtherPacificIslander": "native_hawaiian_or_pacific_islander",
    "white": "white",
    "demographicRaceTwoOrMoreRaces": "two_or_more_races",
    "hispanicOrLatinoEthnicity": "hispanic_or_latino",
}
SEXES = {"male", "female", "other", "unspecified"}


def _max_length(column: Column[Any]) -> int:
    """The length of a String column: the longest value it stores."""
    assert isinstance(column.type, String) and column.type.length is not None, column
    return column.type.length


# The longest value each stored column takes (a longer one rejects its row, rather than fail the import).
SID_MAX = _max_length(Student.__table__.c.sourced_id)
NAME_MAX = _max_length(Student.__table__.c.given_name)
IDENTIFIER_MAX = _max_length(Student.__table__.c.identifier)
SCHOOL_NAME_MAX = _max_length(School.__table__.c.name)
STAFF_NAME_MAX = _max_length(User.__table__.c.name)
EMAIL_MAX = _max_length(User.__table__.c.email)
CONTACT_MAX = _max_length(Guardian.__table__.c.phone)


class RowError(Exception):
    """Why one row is rejected (already in the admin's language)."""


class SchoolRow(NamedTuple):
    line: int
    sid: str
    is_active: bool
    name: str
    identifier: str | None


class StudentRow(NamedTuple):
    """A valid student row, in the staging table's column order (stage.COLUMNS)."""

    line: int
    sid: str
    school_id: int | None
    given: str
    family: str
    grade: str | None
    identifier: str | None
    is_active: bool  # enabledUser
    is_deleted: bool  # status tobedeleted


class StaffRow(NamedTuple):
    line: int
    sid: str
    is_deleted: bool
    enabled: bool
    given: str
    family: str
    school_ids: tuple[int, ...]
    email: str


class GuardianRow(NamedTuple):
    """A parent or guardian row of users.csv, validated, kept until the file's students are written."""

    line: int
    sid: str
    status: str
    enabled: bool
    role: str
    given: str
    family: str
    email: str | None
    phone: str | None
    sms: str | None
    agents: tuple[str, ...]


class DemographicsRow(NamedTuple):
    line: int
    sid: str
    is_deleted: bool
    values: dict


def _check_lengths(*fields: tuple[str, str | None, int]) -> None:
    """RowError naming the first (column, value, limit) whose value is longer than its database column."""
    for column, value, limit in fields:
        if value and len(value) > limit:
            raise RowError(
                _(
                    "%(column)s is %(length)s characters long; at most %(limit)s can be stored",
                    column=column,
                    length=format_decimal(len(value)),
                    limit=format_decimal(limit),
                )
            )


def _bool(value: str, column: str) -> bool | None:
    value = (value or "").strip().lower()
    if value == "":
        return None
    if value in ("true", "false"):
        return value == "true"
    raise RowError(_("%(column)s must be true or false, not %(value)s", column=column, value=repr(value)))


def _enabled(v: dict) -> bool:
    enabled = _bool(v.get("enabledUser", ""), "enabledUser")
    if enabled is None:
        raise RowError(_("enabledUser is empty (true or false)"))
    return enabled


@lru_cache(maxsize=4096)  # a file holds a handful of distinct grade values, a million times
def _grade(value: str) -> str | None:
    first = (value or "").split(",")[0].strip()
    if not first:
        return None
    upper = first.upper()
    if upper == "K":
        upper = "KG"
    if upper.isdecimal() and 1 <= int(upper) <= 13:  # isdigit() is true of '²', which int() refuses
        return f"{int(upper):02d}"
    for code in GRADES:
        if code.upper() == upper:
            return code
    raise RowError(_("grade %(grade)s is not a OneRoster grade (PK, KG, 01..13, ...)", grade=repr(first)))


def _status(values: dict, mode: str) -> str:
    status = (values.get("status") or "").strip().lower()
    if mode == "delta" and status not in ("active", "tobedeleted"):
        raise RowError(_("status must be active or tobedeleted in a delta file"))
    if status and status not in ("active", "tobedeleted"):
        raise RowError(_("status %(status)s is not active or tobedeleted", status=repr(status)))
    return status or "active"


def _sid(v: dict) -> str:
    if "__error__" in v:
        raise RowError(_(v["__error__"]))  # sources.py's words, in the catalogue
    sid = (v.get("sourcedId") or "").strip()
    if not sid:
        raise RowError(_("sourcedId is empty"))
    return sid


def schools(rows: Iterator[Row], mode: str, report: ImportReport) -> Iterator[SchoolRow]:
    """orgs.csv's valid school rows (other org levels are skipped: nothing to store)."""
    seen: dict[str, int] = {}
    for row in rows:
        v = row.values
        try:
            sid = _sid(v)
            if sid in seen:
                raise RowError(_("sourcedId %(sid)s appears twice (first on line %(line)s)", sid=sid, line=seen[sid]))
            seen[sid] = row.line
            status = _status(v, mode)
            org_type = (v.get("type") or "").strip().lower()
            if not org_type:
                raise RowError(_("type is empty"))
            if org_type != "school":
                continue
            name = (v.get("name") or "").strip()
            if not name:
                raise RowError(_("name is empty"))
            identifier = (v.get("identifier") or "").strip() or None
            _check_lengths(
                ("sourcedId", sid, SID_MAX), ("name", name, SCHOOL_NAME_MAX), ("identifier", identifier, IDENTIFIER_MAX)
            )
        except RowError as exc:
            report.reject("orgs.csv", row.line, str(exc))
            continue
        yield SchoolRow(row.line, sid, status == "active", name, identifier)


def users(
    rows: Iterator[Row],
    mode: str,
    report: ImportReport,
    school_ids: dict[str, int],
    staff: list[StaffRow],
    guardians: list[GuardianRow],
) -> Iterator[StudentRow]:
    """users.csv's valid student rows, streamed; valid staff and guardian rows are appended to the lists."""
    seen: set[int] = set()  # hash(sourcedId): 1M of them in a set, not 1M strings
    counts = report.counts
    for row in rows:
        v = row.values
        try:
            sid = _sid(v)
            key = hash(sid)
            if key in seen:
                raise RowError(_("sourcedId %(sid)s appears more than once in users.csv", sid=sid))
            seen.add(key)
            status = _status(v, mode)
            role = (v.get("role") or "").strip().lower()
            if role in OTHER_ROLES:
                counts[f"ignored_{role}_rows"] += 1
                continue
            if role in GUARDIAN_ROLES:
                guardians.append(_guardian(row.line, sid, status, role, v))
                continue
            if role != "student" and role not in STAFF_ROLES:
                raise RowError(_("role %(role)s is not a OneRoster role", role=repr(role)))
            enabled, given, family, identifier, ids = _person(sid, status, v, school_ids)
            if role == "student":
                active = status == "active"
                yield StudentRow(
                    row.line,
                    sid,
                    ids[0] if ids else None,
                    given,
                    family,
                    _grade(v.get("grades", "")) if active else None,
                    identifier,
                    enabled,
                    not active,
                )
                continue
            staff.append(_staff(row.line, sid, status, v, enabled, given, family, ids))
        except RowError as exc:
            report.reject("users.csv", row.line, str(exc))


def _person(sid: str, status: str, v: dict, school_ids: dict[str, int]) -> tuple[bool, str, str, str | None, list[int]]:
    """(enabled, given, family, identifier, school ids) of a student or staff row, checked (RowError)."""
    enabled = _enabled(v)
    given, family = (v.get("givenName") or "").strip(), (v.get("familyName") or "").strip()
    if status == "active" and (not given or not family):
        raise RowError(_("givenName and familyName are required"))
    identifier = (v.get("identifier") or "").strip() or None
    if (
        len(sid) > SID_MAX
        or len(given) > NAME_MAX
        or len(family) > NAME_MAX
        or (identifier and len(identifier) > IDENTIFIER_MAX)
    ):
        _check_lengths(
            ("sourcedId", sid, SID_MAX),
            ("givenName", given, NAME_MAX),
            ("familyName", family, NAME_MAX),
            ("identifier", identifier, IDENTIFIER_MAX),
        )
    orgs = [o.strip() for o in (v.get("orgSourcedIds") or "").split(",") if o.strip()]
    ids = [school_ids[o] for o in orgs if o in school_ids]
    if status == "active" and not ids:
        raise RowError(
            _(
                "none of orgSourcedIds (%(orgs)s) is a school in orgs.csv or already known",
                orgs=", ".join(orgs) or _("empty"),
            )
        )
    return enabled, given, family, identifier, ids


def _staff(
    line: int, sid: str, status: str, v: dict, enabled: bool, given: str, family: str, ids: list[int]
) -> StaffRow:
    """A staff row with the email their account needs, checked (RowError names what is wrong)."""
    email = normalise_email(v.get("email") or "")
    if not email and "@" in (v.get("username") or ""):
        email = normalise_email(v["username"])
    if status == "active" and "@" not in email:
        raise RowError(_("a staff member needs an email (email or username) to have an account"))
    _check_lengths(("email", email, EMAIL_MAX))
    if len(given) + 1 + len(family) > STAFF_NAME_MAX:
        raise RowError(
            _(
                "givenName and familyName together are longer than the %(limit)s characters a "
                "staff account's name can hold",
                limit=STAFF_NAME_MAX,
            )
        )
    return StaffRow(line, sid, status == "tobedeleted", enabled, given, family, tuple(ids), email)


def _guardian(line: int, sid: str, status: str, role: str, v: dict) -> GuardianRow:
    """A parent or guardian row, checked like any other (RowError names what is wrong)."""
    enabled = _enabled(v)
    given, family = (v.get("givenName") or "").strip(), (v.get("familyName") or "").strip()
    agents = tuple(dict.fromkeys(a.strip() for a in (v.get("agentSourcedIds") or "").split(",") if a.strip()))
    active = status == "active" and enabled
    if active and (not given or not family):
        raise RowError(_("givenName and familyName are required"))
    if active and not agents:
        raise RowError(_("a %(role)s needs agentSourcedIds naming their student(s)", role=role))
    address = normalise_email(v.get("email") or "")
    email = address if "@" in address else None
    phone, sms = (v.get("phone") or "").strip() or None, (v.get("sms") or "").strip() or None
    _check_lengths(
        ("sourcedId", sid, SID_MAX),
        ("givenName", given, NAME_MAX),
        ("familyName", family, NAME_MAX),
        ("email", email, EMAIL_MAX),
        ("phone", phone, CONTACT_MAX),
        ("sms", sms, CONTACT_MAX),
    )
    return GuardianRow(line, sid, status, enabled, role, given, family, email, phone, sms, agents)


def demographics(rows: Iterator[Row], mode: str, report: ImportReport) -> Iterator[DemographicsRow]:
    """demographics.csv's valid rows (whether their student exists is the writer's question)."""
    seen: set[int] = set()
    for row in rows:
        v = row.values
        try:
            sid = _sid(v)
            key = hash(sid)
            if key in seen:
                raise RowError(_("sourcedId %(sid)s appears more than once in demographics.csv", sid=sid))
            seen.add(key)
            status = _status(v, mode)
            sex = (v.get("sex") or "").strip().lower() or None
            if sex and sex not in SEXES:
                raise RowError(_("sex %(sex)s is not male, female, other or unspecified", sex=repr(sex)))
            values: dict[str, str | bool | None] = {"sex": sex}
            for column, attr in RACE_COLUMNS.items():
                values[attr] = _bool(v.get(column, ""), column)
        except RowError as exc:
            report.reject("demographics.csv", row.line, str(exc))
            continue
        yield DemographicsRow(row.line, sid, status == "tobedeleted", values)
