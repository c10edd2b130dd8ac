"""check-ins: a counselor's active plans with one student never start on the same day at the same time

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 15:00:00

A double click on "Start the plan" made two identical plans (every check-in booked twice, every
reminder sent twice). The app now refuses the second under the student's row lock; this partial
unique index is the backstop. Plans made twice that way before (the same in every field the
counselor entered) are resolved here: the earliest stays, the later ones end as the app ends a
plan (upcoming check-ins cancelled, with a new calendar SEQUENCE so calendars drop them; past ones
keep their outcomes and notes). Plans that share a first meeting but differ otherwise may each
have been meant: a person must look at them, so the upgrade stops and names them instead of
choosing. No audit rows are written here: rows written outside the app carry no seal and would
break the audit chain's check; the migration's log says how many plans it ended.
"""
import logging
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from school_prevention.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

ACTIVE = "status = 'active'"  # checkins.models.ACTIVE
COLUMNS = ['student_id', 'counselor_id', 'starts_on', 'local_time']  # the index: one first meeting
FIRST_MEETING = ["{t}." + column for column in COLUMNS]
# What else a counselor enters: a plan made twice by a double click has all of it the same.
ENTRIES = ["{t}.cadence", "COALESCE({t}.rrule, '')", "{t}.duration_minutes", "{t}.until", "{t}.non_school_day",
           "COALESCE({t}.reason, '')", "COALESCE({t}.flag_id, 0)"]


def _after_one(same: list[str]) -> str:
    """An active plan (checkin_plan) that comes after an active one equal to it in these expressions."""
    equal = " AND ".join(f"{e.format(t='earlier')} = {e.format(t='checkin_plan')}" for e in same)
    return (f"checkin_plan.{ACTIVE} AND EXISTS (SELECT 1 FROM checkin_plan AS earlier "
            f"WHERE earlier.{ACTIVE} AND earlier.id < checkin_plan.id AND {equal})")


# A plan made twice: the same first meeting and entries as an earlier active plan.
LATER_TWIN = _after_one(FIRST_MEETING + ENTRIES)


def upgrade():
    connection = op.get_bind()
    # Read first: nothing is changed unless the upgrade can finish.
    differing = connection.scalars(sa.text(
        f"SELECT checkin_plan.id FROM checkin_plan WHERE {_after_one(FIRST_MEETING)} AND NOT ({LATER_TWIN}) "
        "ORDER BY checkin_plan.id")).all()
    if differing:
        listed = ", ".join(f"#{plan_id}" for plan_id in differing[:20])
        raise RuntimeError(
            f"{len(differing)} active check-in plan(s) start on the same day at the same time as an earlier active plan "
            f"of the same student and counselor but differ from it otherwise: {listed}"
            f"{' …' if len(differing) > 20 else ''}. End or edit the plans that were not meant, then run the upgrade "
            "again.")
    now = sa.bindparam("now", datetime.now(timezone.utc), type_=UTCDateTime())
    # Check-ins first: their condition looks at the plans while those are still active.
    connection.execute(sa.text(
        "UPDATE checkin SET status = 'cancelled', sequence = sequence + 1, updated_at = :now "
        "WHERE status = 'scheduled' AND due_at > :now "
        f"AND plan_id IN (SELECT checkin_plan.id FROM checkin_plan WHERE {LATER_TWIN})").bindparams(now))
    ended = connection.execute(sa.text(
        f"UPDATE checkin_plan SET status = 'ended', ended_at = :now, updated_at = :now WHERE {LATER_TWIN}")
        .bindparams(now)).rowcount
    if ended:
        logging.getLogger("alembic.runtime.migration").warning(
            "0014: ended %d check-in plan(s) made twice (the same student, counselor and details as an earlier "
            "active plan)", ended)
    op.create_index('uq_checkin_plan_active_first_meeting', 'checkin_plan', COLUMNS, unique=True,
                    postgresql_where=sa.text(ACTIVE), sqlite_where=sa.text(ACTIVE))


def downgrade():
    op.drop_index('uq_checkin_plan_active_first_meeting', table_name='checkin_plan',
                  postgresql_where=sa.text(ACTIVE), sqlite_where=sa.text(ACTIVE))
