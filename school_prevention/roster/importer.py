"""The OneRoster 1.1 import engine: streaming, validated, batched, idempotent, all in one transaction.

The caller owns the transaction: a dry run (or a refused import) is rolled back by the caller, so
a dry run does exactly what the real import would and reports it, and a failure half-way leaves
the database as it was.
"""
from __future__ import annotations

import time
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import String, any_, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from school_prevention.auth.models import User
from school_prevention.auth.queries import normalise_email
from school_prevention.auth import sessions
from school_prevention.checkins.handoff import end_plans_of_students_who_left, hand_off
from school_prevention.db import utcnow
from school_prevention.disclosures.models import Guardian, guardian_student
from school_prevention.extensions import db
from school_prevention.roster.models import StudentDemographics, StudentSchoolChange
from school_prevention.roster.sources import RosterSource, SourceError
from school_prevention.schools.models import School
from school_prevention.students.models import Student

GRADES = {"IT", "PR", "PK", "TK", "KG", "PS", "UG", "Other"} | {f"{n:02d}" for n in range(1, 14)}
STAFF_ROLES = {"teacher", "administrator", "aide"}
GUARDIAN_ROLES = {"parent", "guardian"}  # kept, linked to their students by agentSourcedIds
OTHER_ROLES = {"proctor", "relative"}
REQUIRED = {
    "orgs.csv": ("sourcedId", "name", "type"),
    "users.csv": ("sourcedId", "enabledUser", "orgSourcedIds", "role", "username", "givenName", "familyName"),
    "demographics.csv": ("sourcedId",),
}
HANDLED = ("orgs.csv", "users.csv", "demographics.csv")
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
# The longest value each stored column takes (a longer one rejects its row, rather than fail the import).
SID_MAX = Student.__table__.c.sourced_id.type.length
NAME_MAX = Student.__table__.c.given_name.type.length
IDENTIFIER_MAX = Student.__table__.c.identifier.type.length
SCHOOL_NAME_MAX = School.__table__.c.name.type.length
STAFF_NAME_MAX = User.__table__.c.name.type.length
EMAIL_MAX = User.__table__.c.email.type.length
MASS_DEACTIVATION_SHARE = 0.05
# users.csv of this many lines or more reads the stored students once (KnownStudents) rather than
# looking each batch up: a delta of a few rows should not read a whole district.
KNOWN_STUDENTS_FROM_LINES = 10_000
# PostgreSQL advisory lock taken for the length of an import's transaction (any constant the app
# uses for nothing else; this one spells "SPRI").
IMPORT_LOCK_KEY = 0x53505249
STUDENT = Student.__table__
GUARDIAN = Guardian.__table__
CONTACT_MAX = Guardian.__table__.c.phone.type.length
# Progress goes to the admin page (polled every second) at most every PROGRESS_SECONDS; the clock
# is read only every PROGRESS_CHECK_ROWS rows, so a row costs one integer comparison.
PROGRESS_SECONDS = 0.5
PROGRESS_CHECK_ROWS = 100
# The report's figures in the order an admin reads them, labelled in words; rejected rows come last.
COUNT_LABELS = {
    "students_created": "Students created",
    "students_updated": "Students updated",
    "students_unchanged": "Students unchanged",
    "students_deactivated": "Students deactivated",
    "students_reactivated": "Students reactivated",
    "students_moved_school": "Students who moved school",
    "checkin_plans_kept_by_counselor": "Check-in plans kept by a counselor of both schools",
    "checkin_plans_handed_over": "Check-in plans handed to the new school's counselor",
    "checkin_plans_marked_for_handoff": "Check-in plans marked for hand-off (no counselor at the new school)",
    "checkin_plans_ended": "Check-in plans ended (students who left)",
    "staff_created": "Staff accounts created",
    "staff_updated": "Staff accounts updated",
    "staff_deactivated": "Staff accounts deactivated",
    "schools_created": "Schools created",
    "schools_updated": "Schools updated",
    "schools_deactivated": "Schools deactivated",
    "demographics_saved": "Demographic records saved",
    "demographics_unchanged": "Demographic records unchanged",
    "guardians_created": "Parents and guardians created",
    "guardians_updated": "Parents and guardians updated",
    "guardians_unchanged": "Parents and guardians unchanged",
    "guardians_deactivated": "Parents and guardians no longer listed",
    "guardian_links_unknown": "Links to students not found",
    "ignored_relative_rows": "Relative rows ignored",
    "ignored_proctor_rows": "Proctor rows ignored",
    "rows_rejected": "Rows rejected",
}


def count_rows(counts: dict[str, int] | None) -> list[tuple[str, int]]:
    """The report's non-zero figures as (label, value) in reading order; rows rejected always last."""
    counts = counts or {}
    if not counts:
        return []
    known = [(label, counts[key]) for key, label in COUNT_LABELS.items() if key != "rows_rejected" and counts.get(key)]
    other = [(key.replace("_", " ").capitalize(), value) for key, value in sorted(counts.items())
             if key not in COUNT_LABELS and value]
    return known + other + [(COUNT_LABELS["rows_rejected"], counts.get("rows_rejected", 0))]


def _group_by_keys(rows: list[dict]):
    """Rows grouped by their set of keys, so each group is one executemany."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return groups.items()


class RowError(Exception):
    """Why one row is rejected."""


def _check_lengths(*fields: tuple[str, str | None, int]) -> None:
    """RowError naming the first (column, value, limit) whose value is longer than its database column."""
    for column, value, limit in fields:
        if value and len(value) > limit:
            raise RowError(f"{column} is {len(value):,} characters long; at most {limit:,} can be stored")


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    dry_run: bool
    modes: dict[str, str] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    rejected: list[dict] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    refused: str | None = None
    # A bulk file refused for deactivating too many: {"students": would be deactivated, "active": active before}.
    deactivation: dict | None = None

    def reject(self, file: str, line: int, reason: str) -> None:
        self.rejected.append({"file": file, "line": line, "reason": reason})
        self.counts["rows_rejected"] += 1

    @property
    def changes(self) -> int:
        """How many records were (or would be) created, changed or deactivated."""
        keys = ("schools_created", "schools_updated", "students_created", "students_updated",
                "students_deactivated", "students_reactivated", "staff_created", "staff_updated",
                "staff_deactivated", "demographics_saved", "schools_deactivated", "checkin_plans_marked_for_handoff",
                "checkin_plans_handed_over", "checkin_plans_ended", "checkin_plans_kept_by_counselor",
                "guardians_created", "guardians_updated", "guardians_deactivated")
        return sum(self.counts[k] for k in keys)

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "modes": self.modes, "counts": dict(self.counts),
                "rejected": self.rejected, "messages": self.messages, "refused": self.refused,
                "deactivation": self.deactivation}


def _sourced_id_among(column, sids: list[str]):
    """column IN (sids) for a batch: on PostgreSQL one array parameter (= ANY), not a parameter per
    value (compiling and sending 2,000 parameters per batch took a fifth of a first import)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("sids", sids, type_=ARRAY(String)))
    return column.in_(sids)


def _bool(value: str, column: str) -> bool | None:
    value = (value or "").strip().lower()
    if value == "":
        return None
    if value in ("true", "false"):
        return value == "true"
    raise RowError(f"{column} must be true or false, not {value!r}")


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
    raise RowError(f"grade {first!r} is not a OneRoster grade (PK, KG, 01..13, ...)")


def _status(values: dict, mode: str) -> str:
    status = (values.get("status") or "").strip().lower()
    if mode == "delta" and status not in ("active", "tobedeleted"):
        raise RowError("status must be active or tobedeleted in a delta file")
    if status and status not in ("active", "tobedeleted"):
        raise RowError(f"status {status!r} is not active or tobedeleted")
    return status or "active"


def _level(name: str) -> str:
    lowered = name.lower()
    for word, level in (("elementary", "elementary"), ("primary", "elementary"), ("middle", "middle"),
                        ("junior high", "middle"), ("high", "high")):
        if word in lowered:
            return level
    return "other"


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


def _guardian_row(line: int, sid: str, status: str, role: str, v: dict) -> GuardianRow:
    """A parent or guardian row, checked like any other (RowError names what is wrong)."""
    enabled = _bool(v.get("enabledUser", ""), "enabledUser")
    if enabled is None:
        raise RowError("enabledUser is empty (true or false)")
    given, family = (v.get("givenName") or "").strip(), (v.get("familyName") or "").strip()
    agents = tuple(dict.fromkeys(a.strip() for a in (v.get("agentSourcedIds") or "").split(",") if a.strip()))
    active = status == "active" and enabled
    if active and (not given or not family):
        raise RowError("givenName and familyName are required")
    if active and not agents:
        raise RowError(f"a {role} needs agentSourcedIds naming their student(s)")
    email = normalise_email(v.get("email") or "")
    email = email if "@" in email else None
    phone, sms = (v.get("phone") or "").strip() or None, (v.get("sms") or "").strip() or None
    _check_lengths(("sourcedId", sid, SID_MAX), ("givenName", given, NAME_MAX), ("familyName", family, NAME_MAX),
                   ("email", email, EMAIL_MAX), ("phone", phone, CONTACT_MAX), ("sms", sms, CONTACT_MAX))
    return GuardianRow(line, sid, status, enabled, role, given, family, email, phone, sms, agents)


class KnownStudents:
    """The students already in the database, in 24 bytes each, read once at the start of users.csv.

    For each: hash(sourcedId), a hash of the fields an import compares (school, names, grade,
    identifier, active) and the id, sorted by the first. A row of users.csv whose sourcedId and
    fields hash as stored is unchanged, and needs no query at all; a row whose sourcedId is not
    here is new, and needs no query either (a stored sourcedId always hashes into it). Only the
    rest (changed rows, and the odd collision) are looked up, and compared field by field.
    """

    def __init__(self, rows) -> None:
        keys, states, ids = array("q"), array("q"), array("q")
        for student_id, sourced_id, *fields in rows:
            keys.append(hash(sourced_id))
            states.append(hash(tuple(fields)))
            ids.append(student_id)
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self.keys = array("q", (keys[i] for i in order))
        self.states = array("q", (states[i] for i in order))
        self.ids = array("q", (ids[i] for i in order))

    @staticmethod
    def query():
        """The rows __init__ reads (Core, streamed): id, sourcedId, then the fields _student_batch compares."""
        s = Student.__table__.c
        return (select(s.id, s.sourced_id, s.school_id, s.given_name, s.family_name, s.grade, s.identifier, s.is_active)
                .execution_options(yield_per=20000))

    def _index(self, key: int) -> int:
        i = bisect_left(self.keys, key)
        return i if i < len(self.keys) and self.keys[i] == key else -1

    def may_have(self, sourced_id: str) -> bool:
        return self._index(hash(sourced_id)) >= 0

    def unchanged(self, sourced_id: str, fields: tuple) -> int | None:
        """The id of the stored student if this sourcedId is stored with these fields, else None."""
        key = hash(sourced_id)
        i = bisect_left(self.keys, key)
        state = hash(fields)
        while i < len(self.keys) and self.keys[i] == key:
            if self.states[i] == state:
                return self.ids[i]
            i += 1
        return None


class RosterImporter:
    """Runs one import over a RosterSource; see import_roster() for the transaction around it."""

    def __init__(self, source: RosterSource, *, dry_run: bool, allow_mass_deactivation: bool = False,
                 progress: Callable[[int, int, str], None] | None = None, batch_size: int = 2000,
                 import_id: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.source = source
        self.report = ImportReport(dry_run=dry_run)
        self.allow_mass_deactivation = allow_mass_deactivation
        self.progress = progress or (lambda done, total, name: None)
        self.batch_size = batch_size
        self.import_id = import_id
        self.now = utcnow()
        self.schools: dict[str, int] = {}
        self.done = 0
        self.total = 0
        self.lines: dict[str, int] = {}
        self.nul_files: set[str] = set()  # files with a NUL character somewhere: their rows are checked for one
        self.clock = clock
        self._next_check = PROGRESS_CHECK_ROWS
        self._copy: tuple | None = None  # PostgreSQL: the COPY _insert_many keeps open between batches
        self._next_report = 0.0

    # --- orchestration -------------------------------------------------------------------
    def run(self) -> ImportReport:
        """Read every handled file in order and apply it; returns the report."""
        modes = self._manifest()
        self.report.modes = {name: modes.get(name, "absent") for name in HANDLED}
        if all(mode == "absent" for mode in self.report.modes.values()):
            if not any(self.source.has(name) for name in HANDLED):
                found = ", ".join(self.source.names()) or "no files at all"
                raise SourceError(f"Nothing to import: the export holds none of {', '.join(HANDLED)} (found: {found}).")
            raise SourceError(f"Nothing to import: manifest.csv lists none of {', '.join(HANDLED)} as bulk or delta.")
        for name in self.source.names():
            if name not in HANDLED and name != "manifest.csv":
                self.report.messages.append(f"{name}: not used by this app, ignored.")
        if db.session.get_bind().dialect.name == "postgresql":
            # One import at a time (a scheduled sync and an admin upload could meet): the second
            # waits here until the first commits or rolls back, then reads what it left.
            db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})
        self.lines = {n: self._count_lines(n) for n in HANDLED if self.report.modes[n] != "absent"}
        self.total = sum(self.lines.values())
        self.schools = dict(db.session.execute(select(School.sourced_id, School.id)).all())
        if self.report.modes["orgs.csv"] != "absent":
            self._file("orgs.csv", self._orgs)
        if self.report.modes["users.csv"] != "absent":
            self.max_student_before = db.session.scalar(select(func.max(Student.id))) or 0
            self.active_before = db.session.scalar(
                select(func.count()).select_from(Student).where(Student.is_active.is_(True)))
            self.seen = bytearray(self.max_student_before // 8 + 1)
            self.seen_keys: set[int] = set()
            # A small (delta) file looks its students up batch by batch; a large one reads the stored
            # students once instead.
            self.known = (KnownStudents(db.session.connection().execute(KnownStudents.query()))
                          if self.lines.get("users.csv", 0) >= KNOWN_STUDENTS_FROM_LINES else None)
            try:
                users_read = self._file("users.csv", self._users)
            finally:
                self._end_copy(failed=True)  # a no-op unless users.csv stopped half-way
            del self.known
            if self.report.modes["users.csv"] == "bulk" and not self.report.refused:
                if users_read:
                    self._deactivate_missing()
                else:
                    self.report.messages.append("users.csv was not read, so no student was deactivated.")
            if not self.report.refused:
                # Students who left: their plans, reminders and matches end (checkins.handoff).
                self._end_copy()
                self.report.counts["checkin_plans_ended"] += end_plans_of_students_who_left(self.now)
        if self.report.modes["demographics.csv"] != "absent" and not self.report.refused:
            self._file("demographics.csv", self._demographics)
        if not self.report.changes and not self.report.rejected and not self.report.refused:
            self.report.messages.append("No changes: the database already matches these files.")
        return self.report

    def _manifest(self) -> dict[str, str]:
        modes: dict[str, str] = {}
        if not self.source.has("manifest.csv"):
            self.report.messages.append("manifest.csv is missing: every file present is read as a bulk file.")
            return {name: "bulk" for name in HANDLED if self.source.has(name)}
        with self.source.open_text("manifest.csv") as fh:
            header, rows = self.source.rows(fh, "manifest.csv")
            if "propertyName" not in header or "value" not in header:
                self.report.messages.append("manifest.csv has no propertyName/value columns: files read as bulk.")
                return {name: "bulk" for name in HANDLED if self.source.has(name)}
            for row in rows:
                key = row.values.get("propertyName", "").strip()
                if key.startswith("file."):
                    modes[key[5:].lower() + ".csv"] = (row.values.get("value") or "").strip().lower()
        for name in HANDLED:
            mode = modes.get(name, "absent")
            if mode not in ("bulk", "delta", "absent"):
                self.report.messages.append(f"manifest.csv: file.{name[:-4]} is {mode!r}; expected bulk, delta or absent. File skipped.")
                modes[name] = "absent"
            elif mode == "absent" and self.source.has(name):
                self.report.messages.append(f"{name}: present but the manifest says absent, so it was not read.")
            elif mode != "absent" and not self.source.has(name):
                self.report.messages.append(f"{name}: the manifest lists it as {mode} but the file is missing.")
                modes[name] = "absent"
        return modes

    def _count_lines(self, name: str) -> int:
        if not self.source.has(name):
            return 0
        lines = 0
        with self.source.open_text(name) as fh:
            for line in fh:
                lines += 1
                if "\x00" in line:
                    self.nul_files.add(name)
        return max(0, lines - 1)

    def _file(self, name: str, handler) -> bool:
        """Read one file with handler; False when it was rejected whole (a required column missing or twice)."""
        start = self.done
        self._report(name)  # the page names the file being read from its first row
        with self.source.open_text(name) as fh:
            header, rows = self.source.rows(fh, name, check_nul=name in self.nul_files)
            problem = self._header_problem(header, REQUIRED[name])
            if problem:
                self.report.reject(name, 1, f"{problem}: the whole file was not read")
                self.report.messages.append(f"{name} was rejected: {problem}.")
            else:
                handler(name, rows, self.report.modes[name])
        # Lines, not records, were counted for the total (a quoted newline makes one record of two):
        # at the end of a file the figure is exact again.
        self.done = start + self.lines.get(name, self.done - start)
        self._report(name)
        return not problem

    @staticmethod
    def _header_problem(header: list[str], required: tuple[str, ...]) -> str | None:
        """Why a file's header cannot be read: a required column missing, or there twice (which value?)."""
        missing = [c for c in required if c not in header]
        if missing:
            problem = f"missing required column(s) {', '.join(missing)}"
            by_lower = {h.lower(): h for h in header}
            near = [by_lower[c.lower()] for c in missing if c.lower() in by_lower]
            if near:
                problem += f" (the header has {', '.join(near)}: column names are case-sensitive)"
            return problem
        twice = [c for c in required if header.count(c) > 1]
        if twice:
            return f"column(s) {', '.join(twice)} appear more than once in the header"
        return None

    def _tick(self, name: str, n: int = 1) -> None:
        self.done += n
        if self.done >= self._next_check:
            self._next_check = self.done + PROGRESS_CHECK_ROWS
            now = self.clock()
            if now >= self._next_report:
                self._report(name, now)

    def _report(self, name: str, now: float | None = None) -> None:
        self._next_report = (self.clock() if now is None else now) + PROGRESS_SECONDS
        self.progress(self.done, self.total, name)

    # --- orgs --------------------------------------------------------------------------------
    def _orgs(self, name, rows, mode) -> None:
        existing = {s.sourced_id: s for s in db.session.scalars(select(School))}
        seen: dict[str, int] = {}
        for row in rows:
            self._tick(name)
            v = row.values
            try:
                if "__error__" in v:
                    raise RowError(v["__error__"])
                sid = (v.get("sourcedId") or "").strip()
                if not sid:
                    raise RowError("sourcedId is empty")
                if sid in seen:
                    raise RowError(f"sourcedId {sid} appears twice (first on line {seen[sid]})")
                seen[sid] = row.line
                status = _status(v, mode)
                org_type = (v.get("type") or "").strip().lower()
                if not org_type:
                    raise RowError("type is empty")
                if org_type != "school":
                    continue  # the district and other org levels: nothing to store
                name_ = (v.get("name") or "").strip()
                if not name_:
                    raise RowError("name is empty")
                identifier = (v.get("identifier") or "").strip() or None
                _check_lengths(("sourcedId", sid, SID_MAX), ("name", name_, SCHOOL_NAME_MAX),
                               ("identifier", identifier, IDENTIFIER_MAX))
            except RowError as exc:
                self.report.reject(name, row.line, str(exc))
                continue
            school = existing.get(sid)
            active = status == "active"
            if school is None:
                if not active:
                    continue
                school = School(sourced_id=sid, name=name_, identifier=identifier, level=_level(name_), is_active=True,
                                created_at=self.now, updated_at=self.now)
                db.session.add(school)
                existing[sid] = school
                self.report.counts["schools_created"] += 1
            elif (school.name, school.identifier, school.is_active) != (name_, identifier, active):
                if school.is_active and not active:
                    self.report.counts["schools_deactivated"] += 1
                else:
                    self.report.counts["schools_updated"] += 1
                school.name, school.identifier, school.is_active = name_, identifier, active
        db.session.flush()
        self.schools = {sid: s.id for sid, s in existing.items()}

    # --- users -------------------------------------------------------------------------------
    def _users(self, name, rows, mode) -> None:
        students: list[tuple[int, dict]] = []
        staff: list[tuple[int, dict]] = []
        guardians: list[GuardianRow] = []
        for row in rows:
            self._tick(name)
            v = row.values
            try:
                if "__error__" in v:
                    raise RowError(v["__error__"])
                sid = (v.get("sourcedId") or "").strip()
                if not sid:
                    raise RowError("sourcedId is empty")
                key = hash(sid)
                if key in self.seen_keys:
                    raise RowError(f"sourcedId {sid} appears more than once in users.csv")
                self.seen_keys.add(key)
                status = _status(v, mode)
                role = (v.get("role") or "").strip().lower()
                if role in OTHER_ROLES:
                    self.report.counts[f"ignored_{role}_rows"] += 1
                    continue
                if role in GUARDIAN_ROLES:
                    guardians.append(_guardian_row(row.line, sid, status, role, v))
                    continue
                if role != "student" and role not in STAFF_ROLES:
                    raise RowError(f"role {role!r} is not a OneRoster role")
                enabled = _bool(v.get("enabledUser", ""), "enabledUser")
                if enabled is None:
                    raise RowError("enabledUser is empty (true or false)")
                given, family = (v.get("givenName") or "").strip(), (v.get("familyName") or "").strip()
                if status == "active" and (not given or not family):
                    raise RowError("givenName and familyName are required")
                identifier = (v.get("identifier") or "").strip() or None
                if (len(sid) > SID_MAX or len(given) > NAME_MAX or len(family) > NAME_MAX
                        or (identifier and len(identifier) > IDENTIFIER_MAX)):
                    _check_lengths(("sourcedId", sid, SID_MAX), ("givenName", given, NAME_MAX),
                                   ("familyName", family, NAME_MAX), ("identifier", identifier, IDENTIFIER_MAX))
                orgs = [o.strip() for o in (v.get("orgSourcedIds") or "").split(",") if o.strip()]
                school_ids = [self.schools[o] for o in orgs if o in self.schools]
                if status == "active" and not school_ids:
                    raise RowError(f"none of orgSourcedIds ({', '.join(orgs) or 'empty'}) is a school in orgs.csv or already known")
                record = {"sid": sid, "status": status, "enabled": enabled, "given": given, "family": family,
                          "school_ids": school_ids, "identifier": identifier}
                if role == "student":
                    record["grade"] = _grade(v.get("grades", "")) if status == "active" else None
                    students.append((row.line, record))
                else:
                    email = normalise_email(v.get("email") or "")
                    if not email and "@" in (v.get("username") or ""):
                        email = normalise_email(v["username"])
                    if status == "active" and "@" not in email:
                        raise RowError("a staff member needs an email (email or username) to have an account")
                    _check_lengths(("email", email, EMAIL_MAX))
                    if len(given) + 1 + len(family) > STAFF_NAME_MAX:
                        raise RowError(f"givenName and familyName together are longer than the {STAFF_NAME_MAX} "
                                       "characters a staff account's name can hold")
                    record["email"] = email
                    staff.append((row.line, record))
            except RowError as exc:
                self.report.reject(name, row.line, str(exc))
                continue
            if len(students) >= self.batch_size:
                self._student_batch(students)
                students = []
        if students:
            self._student_batch(students)
        self._end_copy()
        for start in range(0, len(staff), self.batch_size):
            self._staff_batch(staff[start:start + self.batch_size])
        self._guardians(guardians, mode)

    def _mark_seen(self, student_id: int) -> None:
        if student_id <= self.max_student_before:
            self.seen[student_id >> 3] |= 1 << (student_id & 7)

    def _student_batch(self, batch: list[tuple[int, dict]]) -> None:
        counts = self.report.counts
        known = self.known
        rest, lookups = [], []
        for _, rec in batch:
            if known is not None:
                if rec["status"] != "tobedeleted":
                    student_id = known.unchanged(rec["sid"], (rec["school_ids"][0], rec["given"], rec["family"],
                                                              rec["grade"], rec["identifier"], rec["enabled"]))
                    if student_id is not None:
                        self._mark_seen(student_id)
                        counts["students_unchanged"] += 1
                        continue
                if not known.may_have(rec["sid"]):
                    rest.append(rec)  # new: nothing to look up
                    continue
            lookups.append(rec["sid"])
            rest.append(rec)
        existing = {}
        if lookups:
            self._end_copy()
            existing = {r.sourced_id: r for r in db.session.execute(
                select(Student.id, Student.sourced_id, Student.school_id, Student.given_name, Student.family_name,
                       Student.grade, Student.identifier, Student.is_active)
                .where(_sourced_id_among(Student.sourced_id, lookups)))}
        inserts, updates, moves = [], [], []
        for rec in rest:
            current = existing.get(rec["sid"])
            if rec["status"] == "tobedeleted":
                if current is not None:
                    self._mark_seen(current.id)
                    if current.is_active:
                        updates.append({"_id": current.id, "is_active": False, "updated_at": self.now})
                        counts["students_deactivated"] += 1
                continue
            active = rec["enabled"]
            school_id = rec["school_ids"][0]
            if current is None:
                inserts.append({"sourced_id": rec["sid"], "identifier": rec["identifier"], "school_id": school_id,
                                "given_name": rec["given"], "family_name": rec["family"], "grade": rec["grade"],
                                "is_active": active, "created_at": self.now, "updated_at": self.now})
                counts["students_created"] += 1
                continue
            self._mark_seen(current.id)
            wanted = (school_id, rec["given"], rec["family"], rec["grade"], rec["identifier"], active)
            have = (current.school_id, current.given_name, current.family_name, current.grade, current.identifier,
                    current.is_active)
            if wanted == have:
                counts["students_unchanged"] += 1
                continue
            updates.append({"_id": current.id, "school_id": school_id, "given_name": rec["given"],
                            "family_name": rec["family"], "grade": rec["grade"], "identifier": rec["identifier"],
                            "is_active": active, "updated_at": self.now})
            if active and not current.is_active:
                counts["students_reactivated"] += 1
            elif current.is_active and not active:
                counts["students_deactivated"] += 1
            else:
                counts["students_updated"] += 1
            if school_id != current.school_id:
                counts["students_moved_school"] += 1
                moves.append({"student_id": current.id, "from_school_id": current.school_id, "to_school_id": school_id,
                              "changed_at": self.now, "import_id": self.import_id,
                              "note": "Check-in plans at the previous school need a hand-off to the new school's counselor."})
        # Core statements, executemany: no ORM bookkeeping for rows nobody holds as objects.
        if inserts:
            self._insert_many(STUDENT, inserts)
        if updates or moves:
            self._end_copy()
        if updates:
            for keys, group in _group_by_keys(updates):
                db.session.execute(update(STUDENT).where(STUDENT.c.id == bindparam("_id"))
                                   .values({k: bindparam(k) for k in keys if k != "_id"}), group)
        if moves:
            db.session.execute(StudentSchoolChange.__table__.insert(), moves)
            self._hand_off_plans({m["student_id"]: m["to_school_id"] for m in moves})

    def _insert_many(self, table, rows: list[dict]) -> None:
        """INSERT rows through the driver: COPY on PostgreSQL, executemany of plain tuples on SQLite.

        Half the time of a Core executemany goes into per-value type processing; here the one
        datetime every row shares (the import's `now`) is converted once, the rest are plain
        strings, ints and booleans the driver takes as they are.

        On PostgreSQL the COPY stays open from batch to batch, until a statement needs the
        connection (_end_copy): the server checks and indexes the rows already sent while this
        process reads the next ones, instead of each batch waiting for its own COPY to finish.
        """
        conn = db.session.connection()
        dialect = conn.dialect
        now = self.now
        columns = list(rows[0])
        quote = dialect.identifier_preparer.quote
        if dialect.name == "postgresql":
            if self._copy is not None and self._copy[0] != (table.name, columns):
                self._end_copy()
            if self._copy is None:
                # While it is open, psycopg holds the connection: any other statement, a rollback
                # included, would wait for ever rather than fail. Hence _end_copy() before each.
                cursor = conn.connection.dbapi_connection.cursor()
                try:
                    stream = cursor.copy(f"COPY {dialect.identifier_preparer.format_table(table)} "
                                         f"({', '.join(quote(c) for c in columns)}) FROM STDIN")
                    self._copy = ((table.name, columns), cursor, stream, stream.__enter__())
                except BaseException:
                    cursor.close()
                    raise
            write_row = self._copy[3].write_row
            for row in rows:
                write_row([row[c] for c in columns])
            return
        # What the UTCDateTime column binds on SQLite: naive UTC text.
        now_param = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
               f"({', '.join(quote(c) for c in columns)}) "
               f"VALUES ({', '.join([mark] * len(columns))})")
        conn.exec_driver_sql(sql, [tuple(now_param if v is now else v for v in map(row.__getitem__, columns))
                                   for row in rows])

    def _end_copy(self, failed: bool = False) -> None:
        """Finish the open COPY, if any, so the connection can take another statement. With failed,
        the server is told to abandon it (the transaction is being rolled back anyway)."""
        if self._copy is None:
            return
        _, cursor, stream, _ = self._copy
        self._copy = None
        try:
            if not failed:
                stream.__exit__(None, None, None)
                return
            try:
                stream.__exit__(RuntimeError, RuntimeError("import stopped"), None)
            except Exception:  # noqa: BLE001 - cleanup after a failure: the first error is the one to report
                pass
        finally:
            cursor.close()

    def _hand_off_plans(self, new_school: dict[int, int]) -> None:
        """Check-in plans and mentoring matches follow a student who moved (checkins.handoff.hand_off)."""
        kept, handed, waiting = hand_off(new_school, self.now)
        self.report.counts["checkin_plans_kept_by_counselor"] += kept
        self.report.counts["checkin_plans_handed_over"] += handed
        self.report.counts["checkin_plans_marked_for_handoff"] += waiting

    def _staff_batch(self, batch: list[tuple[int, dict]]) -> None:
        counts = self.report.counts
        sids = [rec["sid"] for _, rec in batch]
        emails = [rec["email"] for _, rec in batch if rec["email"]]
        by_sid = {u.sourced_id: u for u in db.session.scalars(select(User).where(User.sourced_id.in_(sids)))}
        by_email = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(emails)))}
        schools = {s.id: s for s in db.session.scalars(select(School))}
        for line, rec in batch:
            user = by_sid.get(rec["sid"]) or by_email.get(rec["email"])
            if rec["status"] == "tobedeleted" or not rec["enabled"]:
                if user is not None and user.is_active and user.sourced_id == rec["sid"]:
                    user.is_active, user.deactivated_at = False, self.now
                    sessions.end_all_sessions(user, "deactivated")
                    counts["staff_deactivated"] += 1
                continue
            if user is None:
                # Imported staff cannot sign in until an admin sets a temporary password.
                user = User(email=rec["email"], name=f"{rec['given']} {rec['family']}", role="staff",
                            sourced_id=rec["sid"], password_hash=None, is_active=False,
                            schools=[schools[i] for i in rec["school_ids"]], created_at=self.now, updated_at=self.now)
                db.session.add(user)
                by_email[rec["email"]] = user
                counts["staff_created"] += 1
                continue
            if user.sourced_id not in (None, rec["sid"]):
                self.report.reject("users.csv", line, f"email {rec['email']} belongs to another SIS record ({user.sourced_id})")
                continue
            name = f"{rec['given']} {rec['family']}"
            if user.sourced_id != rec["sid"] or user.name != name:
                user.sourced_id, user.name = rec["sid"], name
                counts["staff_updated"] += 1
        db.session.flush()

    # --- parents and guardians ------------------------------------------------------------------
    def _guardians(self, rows: list[GuardianRow], mode: str) -> None:
        """Parents and guardians after the file's students are written, linked to them by agentSourcedIds.

        Batched: a batch reads its guardians, their links and their students in three queries and
        writes with executemany. A bulk file that lists guardians at all deactivates those it no
        longer lists (kept, never deleted: their consents are part of students' records).
        """
        if not rows:
            return
        seen: set[int] = set()
        for start in range(0, len(rows), self.batch_size):
            seen |= self._guardian_batch(rows[start:start + self.batch_size])
        if mode == "bulk":
            gone = [gid for (gid,) in db.session.execute(select(GUARDIAN.c.id).where(GUARDIAN.c.is_active.is_(True)))
                    if gid not in seen]
            for start in range(0, len(gone), 5000):
                db.session.execute(update(GUARDIAN).where(GUARDIAN.c.id.in_(gone[start:start + 5000]))
                                   .values(is_active=False, updated_at=self.now))
            self.report.counts["guardians_deactivated"] += len(gone)

    def _guardian_batch(self, batch: list[GuardianRow]) -> set[int]:
        """Create, update or deactivate one batch of guardians and set their links; returns their ids."""
        counts = self.report.counts
        g = GUARDIAN.c
        existing = {r.sourced_id: r for r in db.session.execute(
            select(g.id, g.sourced_id, g.given_name, g.family_name, g.role, g.email, g.phone, g.sms, g.is_active)
            .where(_sourced_id_among(g.sourced_id, [row.sid for row in batch])))}
        agents = sorted({a for row in batch for a in row.agents})
        students = dict(db.session.execute(select(Student.sourced_id, Student.id)
                                           .where(_sourced_id_among(Student.sourced_id, agents))).all()) if agents else {}
        linked: dict[int, set[int]] = {}
        if existing:
            for guardian_id, student_id in db.session.execute(
                    select(guardian_student.c.guardian_id, guardian_student.c.student_id)
                    .where(guardian_student.c.guardian_id.in_([r.id for r in existing.values()]))):
                linked.setdefault(guardian_id, set()).add(student_id)
        seen: set[int] = set()
        inserts, updates, wanted_links = [], [], {}
        for row in batch:
            current = existing.get(row.sid)
            if row.status == "tobedeleted" or not row.enabled:
                if current is not None:
                    seen.add(current.id)
                    if current.is_active:
                        updates.append({"_id": current.id, "is_active": False, "updated_at": self.now})
                        counts["guardians_deactivated"] += 1
                continue
            wanted = {students[a] for a in row.agents if a in students}
            if not wanted:
                self.report.reject("users.csv", row.line, f"none of agentSourcedIds ({', '.join(row.agents)}) is a "
                                                          "student in users.csv or already known")
                continue
            counts["guardian_links_unknown"] += len(row.agents) - len(wanted)
            values = {"given_name": row.given, "family_name": row.family, "role": row.role, "email": row.email,
                      "phone": row.phone, "sms": row.sms, "is_active": True}
            if current is None:
                inserts.append({"sourced_id": row.sid, **values, "created_at": self.now, "updated_at": self.now})
                wanted_links[row.sid] = wanted
                counts["guardians_created"] += 1
                continue
            seen.add(current.id)
            wanted_links[row.sid] = wanted
            if tuple(getattr(current, k) for k in values) == tuple(values.values()):
                if linked.get(current.id, set()) == wanted:
                    counts["guardians_unchanged"] += 1
                else:
                    counts["guardians_updated"] += 1
                continue
            updates.append({"_id": current.id, **values, "updated_at": self.now})
            counts["guardians_updated"] += 1
        ids = {sid: current.id for sid, current in existing.items()}
        if inserts:
            for guardian_id, sid in db.session.execute(insert(GUARDIAN).returning(g.id, g.sourced_id), inserts):
                ids[sid] = guardian_id
        for keys, group in _group_by_keys(updates):
            db.session.execute(update(GUARDIAN).where(g.id == bindparam("_id"))
                               .values({k: bindparam(k) for k in keys if k != "_id"}), group)
        adds, removes = [], []
        for sid, wanted in wanted_links.items():
            guardian_id = ids[sid]
            seen.add(guardian_id)
            have = linked.get(guardian_id, set())
            adds += [{"guardian_id": guardian_id, "student_id": s} for s in sorted(wanted - have)]
            removes += [{"_g": guardian_id, "_s": s} for s in sorted(have - wanted)]
        if removes:
            db.session.execute(delete(guardian_student).where(guardian_student.c.guardian_id == bindparam("_g"),
                                                              guardian_student.c.student_id == bindparam("_s")), removes)
        if adds:
            db.session.execute(insert(guardian_student), adds)
        return seen

    def _deactivate_missing(self) -> None:
        """Bulk mode: active students the file no longer lists are deactivated, never deleted."""
        # Streamed in chunks (yield_per): the ORM would otherwise buffer a row object per active
        # student, over 100 MB for a district of a million, to keep only the few that are missing.
        missing = [sid for (sid,) in db.session.execute(
            select(Student.id).where(Student.is_active.is_(True), Student.id <= self.max_student_before)
            .execution_options(yield_per=20_000))
            if not self.seen[sid >> 3] & (1 << (sid & 7))]
        share = len(missing) / self.active_before if self.active_before else 0
        if missing and share > MASS_DEACTIVATION_SHARE and not self.allow_mass_deactivation:
            self.report.refused = (
                f"This bulk file would deactivate {len(missing):,} of {self.active_before:,} active students "
                f"({share:.0%}), more than {MASS_DEACTIVATION_SHARE:.0%}. Nothing was changed. If the SIS export is "
                "complete and this is intended, confirm the number when you apply it (on the command line, run again "
                "with --allow-mass-deactivation).")
            self.report.deactivation = {"students": len(missing), "active": self.active_before}
            return
        for start in range(0, len(missing), 5000):
            chunk = missing[start:start + 5000]
            db.session.execute(update(STUDENT).where(STUDENT.c.id.in_(chunk)).values(is_active=False, updated_at=self.now))
        self.report.counts["students_deactivated"] += len(missing)

    # --- demographics ------------------------------------------------------------------------
    def _demographics(self, name, rows, mode) -> None:
        batch: list[tuple[int, dict]] = []
        seen: set[int] = set()
        for row in rows:
            self._tick(name)
            v = row.values
            try:
                if "__error__" in v:
                    raise RowError(v["__error__"])
                sid = (v.get("sourcedId") or "").strip()
                if not sid:
                    raise RowError("sourcedId is empty")
                key = hash(sid)
                if key in seen:
                    raise RowError(f"sourcedId {sid} appears more than once in demographics.csv")
                seen.add(key)
                status = _status(v, mode)
                sex = (v.get("sex") or "").strip().lower() or None
                if sex and sex not in SEXES:
                    raise RowError(f"sex {sex!r} is not male, female, other or unspecified")
                values = {"sex": sex}
                for column, attr in RACE_COLUMNS.items():
                    values[attr] = _bool(v.get(column, ""), column)
            except RowError as exc:
                self.report.reject(name, row.line, str(exc))
                continue
            batch.append((row.line, {"sid": sid, "status": status, **values}))
            if len(batch) >= self.batch_size:
                self._demographics_batch(batch)
                batch = []
        if batch:
            self._demographics_batch(batch)

    def _demographics_batch(self, batch) -> None:
        ids = dict(db.session.execute(select(Student.sourced_id, Student.id)
                                      .where(_sourced_id_among(Student.sourced_id, [rec["sid"] for _, rec in batch]))).all())
        have = {d.student_id: d for d in db.session.scalars(
            select(StudentDemographics).where(StudentDemographics.student_id.in_(list(ids.values()))))}
        for line, rec in batch:
            student_id = ids.get(rec.pop("sid"))
            status = rec.pop("status")
            if student_id is None:
                self.report.reject("demographics.csv", line, "no student with this sourcedId")
                continue
            current = have.get(student_id)
            if status == "tobedeleted":
                if current is not None:
                    db.session.delete(current)
                    self.report.counts["demographics_saved"] += 1
                continue
            if current is None:
                db.session.add(StudentDemographics(student_id=student_id, **rec))
                self.report.counts["demographics_saved"] += 1
            elif any(getattr(current, k) != val for k, val in rec.items()):
                for k, val in rec.items():
                    setattr(current, k, val)
                self.report.counts["demographics_saved"] += 1
            else:
                self.report.counts["demographics_unchanged"] += 1
        db.session.flush()
