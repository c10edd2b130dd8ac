"""Staff accounts and parents/guardians from users.csv, written after the file's students.

Both are few next to students, so they are kept in memory while users.csv is read and written in
batches afterwards (a guardian is linked to students by agentSourcedIds: they must exist first).
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, insert, select, update

from school_prevention.auth import sessions
from school_prevention.auth.models import User
from school_prevention.disclosures.models import Guardian, guardian_student
from school_prevention.extensions import db
from school_prevention.roster.pipeline.report import ImportReport
from school_prevention.roster.pipeline.sql import group_by_keys, sourced_id_among
from school_prevention.roster.pipeline.validate import GuardianRow, StaffRow
from school_prevention.schools.models import School
from school_prevention.students.models import Student

GUARDIAN = Guardian.__table__


def write_staff(rows: list[StaffRow], report: ImportReport, now: datetime, batch_size: int) -> None:
    """Create, rename or deactivate staff accounts, batch by batch."""
    for start in range(0, len(rows), batch_size):
        _staff_batch(rows[start : start + batch_size], report, now)


def _staff_batch(batch: list[StaffRow], report: ImportReport, now: datetime) -> None:
    counts = report.counts
    by_sid = {
        u.sourced_id: u for u in db.session.scalars(select(User).where(User.sourced_id.in_([r.sid for r in batch])))
    }
    by_email = {
        u.email: u for u in db.session.scalars(select(User).where(User.email.in_([r.email for r in batch if r.email])))
    }
    schools = {s.id: s for s in db.session.scalars(select(School))}
    for row in batch:
        user = by_sid.get(row.sid) or by_email.get(row.email)
        if row.is_deleted or not row.enabled:
            if user is not None and user.is_active and user.sourced_id == row.sid:
                user.is_active, user.deactivated_at = False, now
                sessions.end_all_sessions(user, "deactivated")
                counts["staff_deactivated"] += 1
            continue
        name = f"{row.given} {row.family}"
        if user is None:
            # Imported staff cannot sign in until an admin sets a temporary password.
            user = User(
                email=row.email,
                name=name,
                role="staff",
                sourced_id=row.sid,
                password_hash=None,
                is_active=False,
                schools=[schools[i] for i in row.school_ids],
                created_at=now,
                updated_at=now,
            )
            db.session.add(user)
            by_email[row.email] = user
            counts["staff_created"] += 1
            continue
        if user.sourced_id not in (None, row.sid):
            report.reject(
                "users.csv",
                row.line,
                _("email %(email)s belongs to another SIS record (%(sid)s)", email=row.email, sid=user.sourced_id),
            )
            continue
        if user.sourced_id != row.sid or user.name != name:
            user.sourced_id, user.name = row.sid, name
            counts["staff_updated"] += 1
    db.session.flush()


def write_guardians(rows: list[GuardianRow], mode: str, report: ImportReport, now: datetime, batch_size: int) -> None:
    """Parents and guardians, linked to their students by agentSourcedIds.

    Batched: a batch reads its guardians, their links and their students in three queries and
    writes with executemany. A bulk file that lists guardians at all deactivates those it no
    longer lists (kept, never deleted: their consents are part of students' records).
    """
    if not rows:
        return
    seen: set[int] = set()
    for start in range(0, len(rows), batch_size):
        seen |= _guardian_batch(rows[start : start + batch_size], report, now)
    if mode == "bulk":
        gone = [
            gid
            for (gid,) in db.session.execute(select(GUARDIAN.c.id).where(GUARDIAN.c.is_active.is_(True)))
            if gid not in seen
        ]
        for start in range(0, len(gone), 5000):
            db.session.execute(
                update(GUARDIAN)
                .where(GUARDIAN.c.id.in_(gone[start : start + 5000]))
                .values(is_active=False, updated_at=now)
            )
        report.counts["guardians_deactivated"] += len(gone)


def _guardian_batch(batch: list[GuardianRow], report: ImportReport, now: datetime) -> set[int]:
    """Create, update or deactivate one batch of guardians and set their links; returns their ids."""
    existing, students, linked = _read_guardians(batch)
    seen, inserts, updates, wanted_links = _sort_guardians(batch, existing, students, linked, report, now)
    ids = _write_guardians(existing, inserts, updates)
    return seen | _write_links(wanted_links, ids, linked)


def _read_guardians(batch: list[GuardianRow]) -> tuple[dict, dict[str, int], dict[int, set[int]]]:
    """The batch's known guardians by sourcedId, its students' ids by sourcedId, and the known links."""
    g = GUARDIAN.c
    existing = {
        r.sourced_id: r
        for r in db.session.execute(
            select(g.id, g.sourced_id, g.given_name, g.family_name, g.role, g.email, g.phone, g.sms, g.is_active).where(
                sourced_id_among(g.sourced_id, [row.sid for row in batch])
            )
        )
    }
    agents = sorted({a for row in batch for a in row.agents})
    students = (
        dict(
            db.session.execute(
                select(Student.sourced_id, Student.id).where(sourced_id_among(Student.sourced_id, agents))
            ).all()
        )
        if agents
        else {}
    )
    linked: dict[int, set[int]] = {}
    if existing:
        for guardian_id, student_id in db.session.execute(
            select(guardian_student.c.guardian_id, guardian_student.c.student_id).where(
                guardian_student.c.guardian_id.in_([r.id for r in existing.values()])
            )
        ):
            linked.setdefault(guardian_id, set()).add(student_id)
    return existing, students, linked


def _sort_guardians(
    batch: list[GuardianRow],
    existing: dict,
    students: dict[str, int],
    linked: dict[int, set[int]],
    report: ImportReport,
    now: datetime,
) -> tuple[set[int], list, list, dict[str, set[int]]]:
    """What each row asks for: (ids seen, rows to insert, updates, wanted links by sourcedId); counts it."""
    counts = report.counts
    seen: set[int] = set()
    inserts, updates, wanted_links = [], [], {}
    for row in batch:
        current = existing.get(row.sid)
        if row.status == "tobedeleted" or not row.enabled:
            if current is not None:
                seen.add(current.id)
                if current.is_active:
                    updates.append({"_id": current.id, "is_active": False, "updated_at": now})
                    counts["guardians_deactivated"] += 1
            continue
        wanted = {students[a] for a in row.agents if a in students}
        if not wanted:
            report.reject(
                "users.csv",
                row.line,
                _(
                    "none of agentSourcedIds (%(agents)s) is a student in users.csv or already known",
                    agents=", ".join(row.agents),
                ),
            )
            continue
        counts["guardian_links_unknown"] += len(row.agents) - len(wanted)
        values = {
            "given_name": row.given,
            "family_name": row.family,
            "role": row.role,
            "email": row.email,
            "phone": row.phone,
            "sms": row.sms,
            "is_active": True,
        }
        if current is None:
            inserts.append({"sourced_id": row.sid, **values, "created_at": now, "updated_at": now})
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
        updates.append({"_id": current.id, **values, "updated_at": now})
        counts["guardians_updated"] += 1
    return seen, inserts, updates, wanted_links


def _write_guardians(existing: dict, inserts: list, updates: list) -> dict[str, int]:
    """Insert and update the guardian rows; returns every guardian's id by sourcedId."""
    g = GUARDIAN.c
    ids = {sid: current.id for sid, current in existing.items()}
    if inserts:
        for guardian_id, sid in db.session.execute(insert(GUARDIAN).returning(g.id, g.sourced_id), inserts):
            ids[sid] = guardian_id
    for keys, group in group_by_keys(updates):
        db.session.execute(
            update(GUARDIAN).where(g.id == bindparam("_id")).values({k: bindparam(k) for k in keys if k != "_id"}),
            group,
        )
    return ids


def _write_links(wanted_links: dict[str, set[int]], ids: dict[str, int], linked: dict[int, set[int]]) -> set[int]:
    """Add and remove guardian-student links to match the file; returns the linked guardians' ids."""
    seen: set[int] = set()
    adds, removes = [], []
    for sid, wanted in wanted_links.items():
        guardian_id = ids[sid]
        seen.add(guardian_id)
        have = linked.get(guardian_id, set())
        adds += [{"guardian_id": guardian_id, "student_id": s} for s in sorted(wanted - have)]
        removes += [{"_g": guardian_id, "_s": s} for s in sorted(have - wanted)]
    if removes:
        db.session.execute(
            delete(guardian_student).where(
                guardian_student.c.guardian_id == bindparam("_g"), guardian_student.c.student_id == bindparam("_s")
            ),
            removes,
        )
    if adds:
        db.session.execute(insert(guardian_student), adds)
    return seen
