"""What an import did (or, for a dry run, would do): counts, rejected rows, messages, a refusal."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from flask_babel import gettext as _

from school_prevention.i18n import N_

# The report's figures in the order an admin reads them, labelled in words; rejected rows come last.
# Translated where shown (count_rows runs in the request that renders them).
COUNT_LABELS = {
    "students_created": N_("Students created"),
    "students_updated": N_("Students updated"),
    "students_unchanged": N_("Students unchanged"),
    "students_deactivated": N_("Students deactivated"),
    "students_reactivated": N_("Students reactivated"),
    "students_moved_school": N_("Students who moved school"),
    "checkin_plans_kept_by_counselor": N_("Check-in plans kept by a counselor of both schools"),
    "checkin_plans_handed_over": N_("Check-in plans handed to the new school's counselor"),
    "checkin_plans_marked_for_handoff": N_("Check-in plans marked for hand-off (no counselor at the new school)"),
    "checkin_plans_ended": N_("Check-in plans ended (students who left)"),
    "staff_created": N_("Staff accounts created"),
    "staff_updated": N_("Staff accounts updated"),
    "staff_deactivated": N_("Staff accounts deactivated"),
    "schools_created": N_("Schools created"),
    "schools_updated": N_("Schools updated"),
    "schools_deactivated": N_("Schools deactivated"),
    "demographics_saved": N_("Demographic records saved"),
    "demographics_unchanged": N_("Demographic records unchanged"),
    "guardians_created": N_("Parents and guardians created"),
    "guardians_updated": N_("Parents and guardians updated"),
    "guardians_unchanged": N_("Parents and guardians unchanged"),
    "guardians_deactivated": N_("Parents and guardians no longer listed"),
    "guardian_links_unknown": N_("Links to students not found"),
    "ignored_relative_rows": N_("Relative rows ignored"),
    "ignored_proctor_rows": N_("Proctor rows ignored"),
    "rows_rejected": N_("Rows rejected"),
}
# The counts that are changes (created, changed or deactivated records); "No changes" when all are zero.
CHANGE_KEYS = (
    "schools_created",
    "schools_updated",
    "students_created",
    "students_updated",
    "students_deactivated",
    "students_reactivated",
    "staff_created",
    "staff_updated",
    "staff_deactivated",
    "demographics_saved",
    "schools_deactivated",
    "checkin_plans_marked_for_handoff",
    "checkin_plans_handed_over",
    "checkin_plans_ended",
    "checkin_plans_kept_by_counselor",
    "guardians_created",
    "guardians_updated",
    "guardians_deactivated",
)


def count_rows(counts: dict[str, int] | None) -> list[tuple[str, int]]:
    """The report's non-zero figures as (label, value) in reading order; rows rejected always last."""
    counts = counts or {}
    if not counts:
        return []
    known = [
        (_(label), counts[key]) for key, label in COUNT_LABELS.items() if key != "rows_rejected" and counts.get(key)
    ]
    other = [
        (key.replace("_", " ").capitalize(), value)
        for key, value in sorted(counts.items())
        if key not in COUNT_LABELS and value
    ]
    return known + other + [(_(COUNT_LABELS["rows_rejected"]), counts.get("rows_rejected", 0))]


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
        """Keep one rejected row: every one is listed, with its file and line, for the admin to correct."""
        self.rejected.append({"file": file, "line": line, "reason": reason})
        self.counts["rows_rejected"] += 1

    @property
    def changes(self) -> int:
        """How many records were (or would be) created, changed or deactivated."""
        return sum(self.counts[k] for k in CHANGE_KEYS)

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "modes": self.modes,
            "counts": dict(self.counts),
            "rejected": self.rejected,
            "messages": self.messages,
            "refused": self.refused,
            "deactivation": self.deactivation,
        }
