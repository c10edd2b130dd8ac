"""one open mentoring match per student, one session per program and day, a support contact once

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 15:00:00

Two identical requests at the same moment (a double click, two counselors) made two rows where the
domain has one: the request now checks under a row lock, and these unique indexes are the backstop.
Copies the old race left behind are tidied first, or the indexes could not be built:
- a student's extra open matches are closed (the most advanced one stays open: matched, then
  waiting, then inquiry; the oldest of equals), with a closure reason naming the one kept;
- a second session of a program on the same day is removed when it is an exact copy (same length,
  topic and attendance); if it differs the upgrade stops and names the sessions, for a counselor to
  correct the date of one of them in the app, since only a person knows which is right;
- an exact copy of a support contact is removed.
The audit trail is left as it is (it is append-only; its rows about a removed copy stay true).
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OPEN_MATCH_WHERE = "status IN ('inquiry', 'waiting', 'matched')"
MATCH_RANK = {"matched": 0, "waiting": 1, "inquiry": 2}


def _close_extra_open_matches(bind) -> None:
    rows = bind.execute(sa.text(
        f"SELECT id, student_id, status FROM mentor_match WHERE {OPEN_MATCH_WHERE} ORDER BY student_id, id")).all()
    by_student: dict[int, list] = {}
    for row in rows:
        by_student.setdefault(row.student_id, []).append(row)
    today = datetime.now(timezone.utc).date()
    for matches in by_student.values():
        if len(matches) < 2:
            continue
        kept = min(matches, key=lambda m: (MATCH_RANK[m.status], m.id))
        for extra in matches:
            if extra.id != kept.id:
                bind.execute(sa.text(
                    "UPDATE mentor_match SET status = 'closed', closed_on = :today, closure_reason = :reason "
                    "WHERE id = :id"), {"today": today, "id": extra.id,
                                        "reason": f"Duplicate of match #{kept.id} (a repeated request opened it); "
                                                  "closed when one open match per student became a rule."})


def _remove_copied_sessions(bind) -> None:
    groups = bind.execute(sa.text(
        "SELECT program_id, held_on FROM program_session GROUP BY program_id, held_on HAVING COUNT(*) > 1")).all()
    conflicts, copies = [], []
    for program_id, held_on in groups:
        sessions = bind.execute(sa.text(
            "SELECT id, minutes, topic FROM program_session WHERE program_id = :p AND held_on = :d ORDER BY id"),
            {"p": program_id, "d": held_on}).all()

        def marks(session_id):
            return sorted(bind.execute(sa.text("SELECT student_id, status FROM attendance WHERE session_id = :s"),
                                       {"s": session_id}).all())

        first = sessions[0]
        for other in sessions[1:]:
            if (other.minutes, other.topic, marks(other.id)) == (first.minutes, first.topic, marks(first.id)):
                copies.append(other.id)
            else:
                conflicts.append(f"program {program_id}, {held_on}: sessions {first.id} and {other.id}")
    if conflicts:  # before anything is changed
        raise RuntimeError(
            "A program now has one session per day, but these programs have two different sessions on one day: "
            + "; ".join(conflicts) + ". Open each program in the app, correct the date of the wrong session "
            "(or its attendance, so the two are the same), then run `flask --app app db upgrade` again.")
    for session_id in copies:
        bind.execute(sa.text("DELETE FROM attendance WHERE session_id = :s"), {"s": session_id})
        bind.execute(sa.text("DELETE FROM program_session WHERE id = :s"), {"s": session_id})


def _remove_copied_contacts(bind) -> None:
    bind.execute(sa.text(
        "DELETE FROM match_contact WHERE id NOT IN (SELECT MIN(id) FROM match_contact "
        "GROUP BY match_id, contacted_on, method, with_whom)"))


def upgrade():
    bind = op.get_bind()
    _remove_copied_sessions(bind)  # first: it may stop the upgrade, and then nothing has changed
    _close_extra_open_matches(bind)
    _remove_copied_contacts(bind)
    op.create_index('uq_mentor_match_open', 'mentor_match', ['student_id'], unique=True,
                    postgresql_where=sa.text(OPEN_MATCH_WHERE), sqlite_where=sa.text(OPEN_MATCH_WHERE))
    op.create_index('uq_program_session_program_id_held_on', 'program_session', ['program_id', 'held_on'],
                    unique=True)
    op.create_index('uq_match_contact_once', 'match_contact', ['match_id', 'contacted_on', 'method', 'with_whom'],
                    unique=True)


def downgrade():
    op.drop_index('uq_match_contact_once', table_name='match_contact')
    op.drop_index('uq_program_session_program_id_held_on', table_name='program_session')
    op.drop_index('uq_mentor_match_open', table_name='mentor_match')
