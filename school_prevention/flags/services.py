"""Create, edit and move flags; record mandated reports; read restricted notes (audited)."""
from __future__ import annotations

from datetime import datetime

from school_prevention import audit, crypto
from school_prevention.auth.models import User
from school_prevention.errors import ServiceError
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.flags.models import REPORT_SEVERITIES, SEVERITIES, SOURCES, FlagCategory, FlagEvent, RiskFlag
from school_prevention.students.models import Student

# Allowed moves: open -> monitoring -> resolved, straight to resolved, and reopening.
TRANSITIONS = {
    "open": {"monitoring", "resolved"},
    "monitoring": {"open", "resolved"},
    "resolved": {"open"},
}


def _event(flag: RiskFlag, actor: User, action: str, changes: dict | None = None) -> None:
    db.session.add(FlagEvent(flag=flag, actor_id=actor.id, action=action, changes=changes, at=utcnow()))


def _check(category: FlagCategory, severity: str, source: str, allow_inactive: bool = False) -> None:
    if not category.is_active and not allow_inactive:
        raise ServiceError("category", "This category is no longer in use; choose another.")
    if severity not in SEVERITIES:
        raise ServiceError("severity", "Choose a severity.")
    if source not in SOURCES:
        raise ServiceError("source", "Choose where the concern came from.")


def create_flag(actor: User, student: Student, *, category: FlagCategory, severity: str, source: str,
                note: str | None = None) -> RiskFlag:
    """Open a flag on a student; the note is stored encrypted."""
    _check(category, severity, source)
    flag = RiskFlag(student_id=student.id, student=student, category=category, category_id=category.id,
                    severity=severity, source=source, status="open", note_ciphertext=crypto.encrypt(note),
                    opened_by_id=actor.id, opened_at=utcnow())
    db.session.add(flag)
    db.session.flush()
    _event(flag, actor, "opened", {"category": category.name, "severity": severity,
                                   "source": SOURCES[source], "note": "added" if note else None})
    audit.record("flag.created", actor=actor, obj=flag, student=student,
                 detail={"category_id": category.id, "severity": severity})
    return flag


def update_flag(actor: User, flag: RiskFlag, *, category: FlagCategory, severity: str, source: str,
                note: str | None = None, replace_note: bool = False) -> dict:
    """Edit a flag; every changed field goes into its history (the note only as 'changed')."""
    # A flag may keep a category that has since been retired, but not move to one.
    _check(category, severity, source, allow_inactive=category.id == flag.category_id)
    changes = {}
    if category.id != flag.category_id:
        changes["category"] = [flag.category.name, category.name]
        flag.category, flag.category_id = category, category.id
    if severity != flag.severity:
        changes["severity"] = [flag.severity, severity]
        flag.severity = severity
    if source != flag.source:
        changes["source"] = [SOURCES[flag.source], SOURCES[source]]
        flag.source = source
    if replace_note:
        changes["note"] = "changed" if note else "removed"
        flag.note_ciphertext = crypto.encrypt(note)
    if changes:
        _event(flag, actor, "edited", changes)
        audit.record("flag.updated", actor=actor, obj=flag, student=flag.student,
                     detail={"fields": sorted(changes)})
    return changes


def change_status(actor: User, flag: RiskFlag, new_status: str, resolution: str | None = None) -> None:
    """Move a flag between open, monitoring and resolved; resolving needs a resolution note."""
    if new_status not in TRANSITIONS.get(flag.status, set()):
        raise ServiceError("status", f"A {flag.status} flag cannot be moved to {new_status}.")
    if new_status == "resolved":
        if not (resolution or "").strip():
            raise ServiceError("resolution", "Say how the concern was resolved.")
        if flag.needs_mandated_report:
            raise ServiceError("status", "Record the mandated report (or why none was made) before resolving.")
        flag.resolution_ciphertext = crypto.encrypt(resolution.strip())
        flag.resolved_at, flag.resolved_by_id = utcnow(), actor.id
    elif flag.status == "resolved":
        flag.resolved_at = flag.resolved_by_id = None
    changes = {"status": [flag.status, new_status]}
    if new_status == "resolved":
        changes["resolution"] = "added"
    action = "reopened" if flag.status == "resolved" else new_status
    flag.status = new_status
    _event(flag, actor, action, changes)
    audit.record("flag.status", actor=actor, obj=flag, student=flag.student, detail={"status": new_status})


def record_mandated_report(actor: User, flag: RiskFlag, *, agency: str | None, made_at: datetime | None,
                           reference: str | None, not_made_reason: str | None) -> None:
    """Record the report to the child-protection agency, or why none was made."""
    agency, reference = (agency or "").strip() or None, (reference or "").strip() or None
    reason = (not_made_reason or "").strip() or None
    if reason and (agency or made_at):
        raise ServiceError("not_made_reason", "Either record the report or say why none was made, not both.")
    if not reason:
        if not agency:
            raise ServiceError("agency", "Name the agency the report was made to.")
        if made_at is None:
            raise ServiceError("made_at", "Give the date and time of the report.")
        if made_at > utcnow():
            raise ServiceError("made_at", "The report time cannot be in the future.")
    flag.report_agency, flag.report_made_at, flag.report_reference = agency, made_at, reference
    flag.report_not_made_reason = reason
    flag.report_recorded_by_id, flag.report_recorded_at = actor.id, utcnow()
    _event(flag, actor, "report_recorded", {"report": "not made" if reason else "made", "agency": agency})
    audit.record("flag.report_recorded", actor=actor, obj=flag, student=flag.student,
                 detail={"made": not reason})


def read_note(actor: User, flag: RiskFlag) -> dict[str, str | None]:
    """The decrypted note and resolution for a counselor; each read leaves its own audit row."""
    if not flag.note_ciphertext and not flag.resolution_ciphertext:
        return {"note": None, "resolution": None}
    audit.record("flag.note.read", actor=actor, obj=flag, student=flag.student)
    return {"note": crypto.decrypt_for_display(flag.note_ciphertext),
            "resolution": crypto.decrypt_for_display(flag.resolution_ciphertext)}


def needs_report(severity: str, category: FlagCategory) -> bool:
    """Whether this combination asks for a mandated-report record."""
    return category.is_suspected_abuse and severity in REPORT_SEVERITIES
