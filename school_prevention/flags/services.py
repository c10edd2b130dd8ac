"""Create, edit and move flags; record mandated reports; read restricted notes (audited)."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext

from school_prevention import audit, crypto
from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.disclosures.services import record_mandated_report_disclosure
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from school_prevention.flags.models import REPORT_SEVERITIES, SEVERITIES, SOURCES, FlagCategory, FlagEvent, RiskFlag
from school_prevention.flags.queries import current_flags_like
from school_prevention.students.models import Student
from school_prevention.students.services import lock_student
from school_prevention.timezones import localtime

# Allowed moves: open -> monitoring -> resolved, straight to resolved, and reopening.
TRANSITIONS = {
    "open": {"monitoring", "resolved"},
    "monitoring": {"open", "resolved"},
    "resolved": {"open"},
}


def _by(event: FlagEvent | None, who: str = "another counselor", at: datetime | None = None) -> str:
    """'Casey Doe (Dec 3, 2026 10:02 AM)': who made a change to a flag, and when, from its history
    entry; who and at when there is none (rows loaded in bulk, as demo generate writes them)."""
    if event is not None:
        who, at = (event.actor.name if event.actor else "the system"), event.at
    return f"{who} ({localtime(at)})" if at else who


def _last_event(flag: RiskFlag, wanted) -> FlagEvent | None:
    """The flag's newest history entry for which wanted(event) is true."""
    return next((e for e in flag.events if wanted(e)), None)


def _event(flag: RiskFlag, actor: User, action: str, changes: dict | None = None) -> None:
    db.session.add(FlagEvent(flag=flag, actor_id=actor.id, action=action, changes=changes, at=utcnow()))


def _check(category: FlagCategory, severity: str, source: str, allow_inactive: bool = False) -> None:
    if not category.is_active and not allow_inactive:
        raise ServiceError("category", gettext("This category is no longer in use; choose another."))
    if severity not in SEVERITIES:
        raise ServiceError("severity", gettext("Choose a severity."))
    if source not in SOURCES:
        raise ServiceError("source", gettext("Choose where the concern came from."))


def create_flag(
    actor: User, student: Student, *, category: FlagCategory, severity: str, source: str, note: str | None = None
) -> RiskFlag:
    """Open a flag on a student; the note is stored encrypted.

    The same flag sent again while the first is current (a double click, a form sent twice, two
    counselors at once: same category, severity, source and note) is refused with AlreadyDone
    naming the flag that exists. Checked under the student's row lock, so two requests at the
    same moment cannot both pass the check. A flag of the same kind with other details is a
    flag of its own, as it always was.
    """
    _check(category, severity, source)
    lock_student(student)
    twin = next(
        (
            f
            for f in db.session.scalars(current_flags_like(student.id, category.id, severity, source))
            if _same_note(f.note_ciphertext, note)
        ),
        None,
    )
    if twin is not None:
        raise AlreadyDone(
            gettext(
                "This flag was already opened by %(name)s (%(when)s): %(category)s, %(severity)s "
                "severity, with the same note. Nothing more was saved.",
                name=twin.opened_by.name,
                when=localtime(twin.opened_at),
                category=category.name,
                severity=gettext(severity.capitalize()).lower(),
            ),
            next_url=f"/flags/{twin.id}",
        )
    flag = RiskFlag(
        student_id=student.id,
        student=student,
        category=category,
        category_id=category.id,
        severity=severity,
        source=source,
        status="open",
        note_ciphertext=crypto.encrypt(note),
        opened_by_id=actor.id,
        opened_at=utcnow(),
    )
    db.session.add(flag)
    db.session.flush()
    _event(
        flag,
        actor,
        "opened",
        {"category": category.name, "severity": severity, "source": SOURCES[source], "note": "added" if note else None},
    )
    audit.record(
        "flag.created",
        actor=actor,
        obj=flag,
        student=student,
        detail={"category_id": category.id, "severity": severity},
    )
    return flag


def update_flag(
    actor: User,
    flag: RiskFlag,
    *,
    category: FlagCategory,
    severity: str,
    source: str,
    note: str | None = None,
    replace_note: bool = False,
) -> dict:
    """Edit a flag; every changed field goes into its history (the note only as 'changed').

    A save that changes nothing (the same edit sent twice, or a form sent back untouched) is
    refused with AlreadyDone naming who last saved these details: one history entry per change.
    """
    # A flag may keep a category that has since been retired, but not move to one.
    _check(category, severity, source, allow_inactive=category.id == flag.category_id)
    changes: dict[str, list[str] | str] = {}
    if category.id != flag.category_id:
        changes["category"] = [flag.category.name, category.name]
        flag.category, flag.category_id = category, category.id
    if severity != flag.severity:
        changes["severity"] = [flag.severity, severity]
        flag.severity = severity
    if source != flag.source:
        changes["source"] = [SOURCES[flag.source], SOURCES[source]]
        flag.source = source
    if replace_note and not _same_note(flag.note_ciphertext, note):
        changes["note"] = "changed" if note else "removed"
        flag.note_ciphertext = crypto.encrypt(note)
    if not changes:
        saved = _last_event(flag, lambda e: e.action in ("opened", "edited"))
        raise AlreadyDone(
            gettext(
                "This flag already has these details, as saved by %(who)s. Nothing more was changed.",
                who=_by(saved, flag.opened_by.name, flag.opened_at),
            ),
            next_url=f"/flags/{flag.id}",
        )
    _event(flag, actor, "edited", changes)
    audit.record("flag.updated", actor=actor, obj=flag, student=flag.student, detail={"fields": sorted(changes)})
    return changes


def _same_note(ciphertext: str | None, note: str | None) -> bool:
    """Whether the stored note already reads note, but for surrounding blanks (a note no configured
    key opens is never the same)."""
    try:
        return (crypto.decrypt(ciphertext) or "").strip() == (note or "").strip()
    except crypto.UnreadableNote:
        return False


def change_status(actor: User, flag: RiskFlag, new_status: str, resolution: str | None = None) -> None:
    """Move a flag between open, monitoring and resolved; resolving needs a resolution note.

    A move to the status the flag already has (the same click twice, two counselors at once: the
    loader locked the flag's row, so the second request sees the first one's move) is refused
    with AlreadyDone naming who made it.
    """
    if new_status == flag.status:
        raise AlreadyDone(_already_moved(flag, new_status), next_url=f"/flags/{flag.id}")
    if new_status not in TRANSITIONS.get(flag.status, set()):
        raise ServiceError(
            "status",
            gettext("A %(status)s flag cannot be moved to %(new_status)s.", status=flag.status, new_status=new_status),
        )
    if new_status == "resolved":
        resolution = (resolution or "").strip()
        if not resolution:
            raise ServiceError("resolution", gettext("Say how the concern was resolved."))
        if flag.needs_mandated_report:
            raise ServiceError("status", gettext("Record the mandated report (or why none was made) before resolving."))
        flag.resolution_ciphertext = crypto.encrypt(resolution)
        flag.resolved_at, flag.resolved_by_id = utcnow(), actor.id
    elif flag.status == "resolved":
        flag.resolved_at = flag.resolved_by_id = None
    changes: dict[str, list[str] | str] = {"status": [flag.status, new_status]}
    if new_status == "resolved":
        changes["resolution"] = "added"
    action = "reopened" if flag.status == "resolved" else new_status
    flag.status = new_status
    _event(flag, actor, action, changes)
    audit.record("flag.status", actor=actor, obj=flag, student=flag.student, detail={"status": new_status})


def _already_moved(flag: RiskFlag, status: str) -> str:
    """'This flag was already resolved by Casey Doe (Dec 3, 2026 10:02 AM). …'"""
    moved = _last_event(flag, lambda e: (e.changes or {}).get("status", [None, None])[-1] == status)
    if moved is None and status == "open":  # open since it was opened
        opened = _last_event(flag, lambda e: e.action == "opened")
        return gettext(
            "This flag is already open (opened by %(who)s). Nothing more was changed.",
            who=_by(opened, flag.opened_by.name, flag.opened_at),
        )
    if moved is None:  # no history entry for the move (rows loaded in bulk)
        return gettext(
            "This flag is already %(status)s. Nothing more was changed.", status=gettext(status.capitalize()).lower()
        )
    who = _by(moved)
    if status == "resolved":
        return gettext("This flag was already resolved by %(who)s. Nothing more was changed.", who=who)
    if status == "monitoring":
        return gettext("This flag was already moved to monitoring by %(who)s. Nothing more was changed.", who=who)
    if moved.action == "reopened":
        return gettext("This flag was already reopened by %(who)s. Nothing more was changed.", who=who)
    return gettext("This flag was already moved back to open by %(who)s. Nothing more was changed.", who=who)


def record_mandated_report(
    actor: User,
    flag: RiskFlag,
    *,
    agency: str | None,
    made_at: datetime | None,
    reference: str | None,
    not_made_reason: str | None,
) -> None:
    """Record the report to the child-protection agency, or why none was made.

    The same record sent again (a double click, two counselors at once: the loader locked the
    flag's row) is refused with AlreadyDone; a corrected record replaces it, in the history too.
    """
    agency, reference = (agency or "").strip() or None, (reference or "").strip() or None
    reason = (not_made_reason or "").strip() or None
    if reason and (agency or made_at):
        raise ServiceError("not_made_reason", gettext("Either record the report or say why none was made, not both."))
    if not reason:
        if not agency:
            raise ServiceError("agency", gettext("Name the agency the report was made to."))
        if made_at is None:
            raise ServiceError("made_at", gettext("Give the date and time of the report."))
        if made_at > utcnow():
            raise ServiceError("made_at", gettext("The report time cannot be in the future."))
    if flag.report_recorded_at is not None and (
        flag.report_agency,
        flag.report_made_at,
        flag.report_reference,
        flag.report_not_made_reason,
    ) == (agency, made_at, reference, reason):
        recorded = _last_event(flag, lambda e: e.action == "report_recorded")
        raise AlreadyDone(
            gettext(
                "This mandated report was already recorded by %(who)s, with these details. Nothing more was changed.",
                who=_by(recorded, at=flag.report_recorded_at),
            ),
            next_url=f"/flags/{flag.id}",
        )
    flag.report_agency, flag.report_made_at, flag.report_reference = agency, made_at, reference
    flag.report_not_made_reason = reason
    flag.report_recorded_by_id, flag.report_recorded_at = actor.id, utcnow()
    _event(flag, actor, "report_recorded", {"report": "not made" if reason else "made", "agency": agency})
    audit.record("flag.report_recorded", actor=actor, obj=flag, student=flag.student, detail={"made": not reason})
    # A report made shares the student's records with the agency: it is recorded as a disclosure.
    record_mandated_report_disclosure(actor, flag)


def read_note(actor: User, flag: RiskFlag) -> dict[str, str | None]:
    """The decrypted note and resolution for a counselor; each read leaves its own audit row."""
    if not flag.note_ciphertext and not flag.resolution_ciphertext:
        return {"note": None, "resolution": None}
    audit.record("flag.note.read", actor=actor, obj=flag, student=flag.student)
    return {
        "note": crypto.decrypt_for_display(flag.note_ciphertext),
        "resolution": crypto.decrypt_for_display(flag.resolution_ciphertext),
    }


def needs_report(severity: str, category: FlagCategory) -> bool:
    """Whether this combination asks for a mandated-report record."""
    return category.is_suspected_abuse and severity in REPORT_SEVERITIES
