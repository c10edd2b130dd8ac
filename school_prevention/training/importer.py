"""Import training completions from a CSV file: every row checked, every refusal reported with its line.

The file has a header row with the columns `email`, `course` and `completed_on`, and optionally
`expires_on` (other columns are ignored). Dates are YYYY-MM-DD (or MM/DD/YYYY). By default the
import is all or nothing: one rejected row and nothing is saved. Asked to, it saves the good rows
and skips the rejected ones. A completion already on record is skipped, not rejected, so a file
can be imported again safely.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext
from sqlalchemy import select

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.auth.queries import normalise_email
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.i18n import number
from school_prevention.training.models import Course, TrainingCompletion
from school_prevention.training.queries import manageable_staff
from school_prevention.training.services import check_completion

REQUIRED = ("email", "course", "completed_on")
OPTIONAL = ("expires_on",)
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 10_000


class ImportFileError(Exception):
    """The file as a whole cannot be read (not CSV, not UTF-8, missing columns, too large): nothing is saved."""


@dataclass
class Rejected:
    """A row that was not saved, and why."""

    line: int
    reason: str


@dataclass
class ImportResult:
    """What an import did: rows saved, rows already on record, rows rejected."""

    rows: int = 0
    recorded: int = 0
    already: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    saved: bool = False


def parse_date(text: str) -> date | None:
    """YYYY-MM-DD or MM/DD/YYYY; None when it is neither."""
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def read_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row; ImportFileError when the file cannot be read."""
    if not data.strip():
        raise ImportFileError(gettext("The file is empty."))
    if len(data) > MAX_BYTES:
        raise ImportFileError(
            gettext("The file is larger than %(num)d MB; split it into smaller files.", num=MAX_BYTES // (1024 * 1024))
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(gettext("The file is not UTF-8 text. Save it as “CSV UTF-8” and try again.")) from None
    if "\x00" in text:
        raise ImportFileError(gettext("The file is not a CSV text file."))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ImportFileError(gettext("The file has no header row.")) from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ImportFileError(
            gettext(
                "The header row lacks the column(s) %(columns)s. The first row must name the "
                "columns: email, course, completed_on (and optionally expires_on).",
                columns=", ".join(missing),
            )
        )
    wanted = {c: names.index(c) for c in (*REQUIRED, *OPTIONAL) if c in names}
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # a blank line
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(
                    gettext("The file has more than %(num)s rows; split it into smaller files.", num=number(MAX_ROWS))
                )
            rows.append((reader.line_num, {c: values[i].strip() if i < len(values) else "" for c, i in wanted.items()}))
    except csv.Error as exc:
        raise ImportFileError(
            gettext("The file is not valid CSV near line %(line)d: %(error)s.", line=reader.line_num, error=exc)
        ) from None
    if not rows:
        raise ImportFileError(gettext("The file has a header row but no completions."))
    return rows


def import_completions(actor: User, data: bytes, *, today: date, partial: bool = False) -> ImportResult:
    """Check every row, then save all of them (or, with partial, the good ones); the caller commits.

    People are found by email among those whose training the actor records (an admin: anyone; a
    principal: the staff of their schools); courses by name, ignoring case. Six queries whatever
    the number of rows.
    """
    rows = read_rows(data)
    result = ImportResult(rows=len(rows))
    emails = {normalise_email(r["email"]) for _, r in rows if r["email"]}
    people = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(emails)))} if emails else {}
    mine = (
        set(db.session.scalars(manageable_staff(actor).where(User.email.in_(emails)).with_only_columns(User.id)))
        if emails
        else set()
    )
    courses = {c.name.strip().lower(): c for c in db.session.scalars(select(Course))}
    on_record = {
        tuple(row)
        for row in db.session.execute(
            select(TrainingCompletion.user_id, TrainingCompletion.course_id, TrainingCompletion.completed_on).where(
                TrainingCompletion.user_id.in_([u.id for u in people.values()] or [0])
            )
        )
    }
    seen: dict[tuple[int, int, date], int] = {}
    good: list[TrainingCompletion] = []
    for line, row in rows:
        problem, completion = _check_row(row, people, mine, courses, today)
        if problem is None:
            assert completion is not None  # _check_row gives a completion whenever it finds no problem
            key = (completion.user_id, completion.course_id, completion.completed_on)
            if key in seen:
                problem = gettext("the same completion as line %(line)d", line=seen[key])
            elif key in on_record:
                result.already += 1
                seen[key] = line
                continue
            else:
                seen[key] = line
                good.append(completion)
                continue
        result.rejected.append(Rejected(line, problem))
    if result.rejected and not partial:
        return result
    for completion in good:
        completion.recorded_by_id = actor.id
        db.session.add(completion)
    db.session.flush()
    result.recorded, result.saved = len(good), True
    audit.record(
        "training.imported",
        actor=actor,
        object_type="training_completion",
        detail={
            "rows": result.rows,
            "recorded": result.recorded,
            "already": result.already,
            "rejected": len(result.rejected),
            "partial": partial,
        },
    )
    return result


def _check_row(row, people, mine, courses, today) -> tuple[str | None, TrainingCompletion | None]:
    email = row.get("email", "")
    if not email:
        return gettext("no email"), None
    person = people.get(normalise_email(email))
    if person is None:
        return gettext("no account has the email %(email)s", email=email), None
    if person.id not in mine:
        return gettext("%(name)s is not on the staff of your schools", name=person.name), None
    name = row.get("course", "")
    if not name:
        return gettext("no course"), None
    course = courses.get(name.strip().lower())
    if course is None:
        return gettext("no course is called “%(name)s” (see the course list)", name=name), None
    completed_on = parse_date(row.get("completed_on", ""))
    if completed_on is None:
        return gettext("completed_on “%(value)s” is not a date (YYYY-MM-DD)", value=row.get("completed_on", "")), None
    expires_on = None
    if row.get("expires_on"):
        expires_on = parse_date(row["expires_on"])
        if expires_on is None:
            return gettext("expires_on “%(value)s” is not a date (YYYY-MM-DD)", value=row["expires_on"]), None
    try:
        expires_on = check_completion(course, completed_on, expires_on, today)
    except ServiceError as exc:
        return exc.message[0].lower() + exc.message[1:].rstrip("."), None
    return None, TrainingCompletion(
        user_id=person.id,
        course_id=course.id,
        course=course,
        completed_on=completed_on,
        expires_on=expires_on,
        source="import",
    )
