"""Demo tiers and intervention plans at Cedar Middle: a tier 2 plan delivered by a program (fidelity), a tier 3
plan due for review today, and a flagged tier 2 student still without a plan."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.programs.models import Program
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from school_prevention.tiers.services import create_plan, record_progress, set_tier
from school_prevention.timezones import district_today


def seed_tiers(schools: dict[str, School]) -> None:
    """After case work and programs: they flag cedar[0], [1] and [5] and enroll cedar[1] in Stand Up Together."""
    counselor = db.session.scalars(select(User).where(User.email == "counselor@demo.school")).one()
    cedar = list(
        db.session.scalars(
            select(Student).where(Student.school_id == schools["demo-cedar-ms"].id).order_by(Student.id).limit(6)
        )
    )
    stand_up = db.session.scalars(select(Program).where(Program.name == "Stand Up Together")).one()
    today = district_today()  # as the home page's "plan reviews due" counts days
    set_tier(counselor, cedar[0], 2, "Screening showed possible concern; the team agreed on small-group support.", 0)
    set_tier(counselor, cedar[1], 2, "Repeated bullying reports; upstander group and weekly monitoring.", 0)
    bullying = create_plan(
        counselor,
        cedar[1],
        goal="Fewer than one bullying incident a week by the review",
        measure="Incidents reported per week",
        baseline=3,
        target=0,
        started_on=today - timedelta(days=42),
        review_on=today + timedelta(days=14),
        program_ids=[stand_up.id],
        today=today,
    )
    for weeks_ago, value in ((5, 3), (4, 3), (3, 2), (2, 2), (1, 1)):
        record_progress(
            counselor, bullying, measured_on=today - timedelta(weeks=weeks_ago), value=value, note=None, today=today
        )
    set_tier(counselor, cedar[5], 3, "Missing overnight twice; needs individual, intensive support.", 0)
    attendance = create_plan(
        counselor,
        cedar[5],
        goal="Attend school every day",
        measure="Days attended per week",
        baseline=3,
        target=5,
        started_on=today - timedelta(days=28),
        review_on=today,
        program_ids=[],
        today=today,
    )
    for weeks_ago, value in ((3, 3), (2, 4), (1, 4)):
        record_progress(
            counselor,
            attendance,
            measured_on=today - timedelta(weeks=weeks_ago),
            value=value,
            note="From the attendance office",
            today=today,
        )
