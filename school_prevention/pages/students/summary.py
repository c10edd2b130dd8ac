"""The one-page summary of a student for a student support team meeting (printed from the browser).

It is the student page's own reading (students.page: one statement), the latest values of the active
intervention plans, and, only when the counselor asks, the restricted notes of the current flags.
Roster demographics are left out: the meeting does not need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from school_prevention import crypto
from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.pages.students.page import StudentPage, load_student_page

SUMMARY_TIMELINE = 12  # the newest lines; the meeting has the student page for the rest


@dataclass
class FlagNote:
    """A current flag's restricted note, decrypted for a summary the counselor chose to include it in."""

    flag_id: int
    category: str
    note: str


@dataclass
class Summary:
    """What the printed summary shows."""

    page: StudentPage
    today: date
    notes: list[FlagNote] = field(default_factory=list)
    include_restricted: bool = False

    @property
    def student(self):
        return self.page.student

    @property
    def timeline(self):
        return self.page.timeline[:SUMMARY_TIMELINE]

    @property
    def active_interventions(self):
        return [p for p in self.page.interventions if p.is_active]


def load_summary(user: User, student_id: int, *, include_restricted: bool, today: date) -> Summary:
    """The summary of a student the counselor may see (404 otherwise); restricted notes of current flags
    only when include_restricted (one more query)."""
    page = load_student_page(user, student_id)
    summary = Summary(page=page, today=today, include_restricted=include_restricted)
    current = {f.id: f for f in page.current_flags if f.has_note}
    if include_restricted and current:
        for flag_id, ciphertext in db.session.execute(
            select(RiskFlag.id, RiskFlag.note_ciphertext).where(RiskFlag.id.in_(list(current)))
        ):
            text = crypto.decrypt_for_display(ciphertext)
            if text:
                summary.notes.append(FlagNote(flag_id, current[flag_id].category, text))
        summary.notes.sort(key=lambda n: list(current).index(n.flag_id))
    return summary
