"""A small demo district: three schools, about 600 students, one user per role."""

from __future__ import annotations

import random
from datetime import UTC

from sqlalchemy import func, select

from school_prevention.auth.models import User
from school_prevention.auth.services import create_user
from school_prevention.extensions import db
from school_prevention.schools.models import School
from school_prevention.students.models import Student

DEMO_PASSWORD = "lantern-harbor-meadow-42"

SCHOOLS = [
    # sourcedId, name, level, grades, students
    ("demo-maple-es", "Maple Elementary School", "elementary", ["KG", "01", "02", "03", "04", "05"], 180),
    ("demo-cedar-ms", "Cedar Middle School", "middle", ["06", "07", "08"], 200),
    ("demo-river-hs", "Riverside High School", "high", ["09", "10", "11", "12"], 220),
]

USERS = [
    # role, email, name, schools
    ("admin", "admin@demo.school", "Alex Admin", []),
    ("district", "district@demo.school", "Dana District", []),
    ("principal", "principal@demo.school", "Pat Principal", ["demo-cedar-ms"]),
    ("counselor", "counselor@demo.school", "Casey Counselor", ["demo-maple-es", "demo-cedar-ms"]),
    ("counselor", "counselor.high@demo.school", "Harper Highcounsel", ["demo-river-hs"]),
    ("staff", "staff@demo.school", "Sam Staff", ["demo-cedar-ms"]),
]

GIVEN = [
    "Aaliyah",
    "Aiden",
    "Amara",
    "Ana",
    "Ben",
    "Camila",
    "Chloe",
    "Daniel",
    "Darius",
    "Elena",
    "Eli",
    "Emma",
    "Fatima",
    "Gabriel",
    "Grace",
    "Hana",
    "Isaac",
    "Isabella",
    "Jamal",
    "Jasmine",
    "Jayden",
    "Kai",
    "Layla",
    "Leo",
    "Liam",
    "Lucia",
    "Malik",
    "Maya",
    "Mei",
    "Mia",
    "Noah",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Ryan",
    "Samir",
    "Sofia",
    "Tariq",
    "Thu",
    "Valentina",
    "Wyatt",
    "Ximena",
    "Yusuf",
    "Zoe",
]
FAMILY = [
    "Abara",
    "Adams",
    "Ahmed",
    "Alvarez",
    "Baker",
    "Brooks",
    "Chen",
    "Cruz",
    "Diaz",
    "Edwards",
    "Flores",
    "Garcia",
    "Gomez",
    "Hall",
    "Hernandez",
    "Ibrahim",
    "Jackson",
    "Johnson",
    "Kim",
    "Lee",
    "Lopez",
    "Martin",
    "Martinez",
    "Nguyen",
    "Okafor",
    "Ortiz",
    "Patel",
    "Perez",
    "Reyes",
    "Rivera",
    "Robinson",
    "Sanchez",
    "Santos",
    "Singh",
    "Smith",
    "Taylor",
    "Thomas",
    "Torres",
    "Tran",
    "Walker",
    "Washington",
    "White",
    "Williams",
    "Wilson",
    "Young",
]


def seed_demo(if_empty: bool = False, rng_seed: int = 2026) -> dict | None:
    """Create the demo district; None when if_empty and users exist. The caller commits."""
    if if_empty and db.session.scalar(select(func.count()).select_from(User)):
        return None
    rng = random.Random(rng_seed)
    schools: dict[str, School] = {}
    students = 0
    created_schools = False
    for sourced_id, name, level, grades, count in SCHOOLS:
        school = db.session.scalars(select(School).where(School.sourced_id == sourced_id)).one_or_none()
        if school is None:
            school = School(sourced_id=sourced_id, name=name, level=level, identifier=sourced_id.upper())
            db.session.add(school)
            db.session.flush()
            created_schools = True
            for i in range(count):
                given, family = rng.choice(GIVEN), rng.choice(FAMILY)
                db.session.add(
                    Student(
                        sourced_id=f"{sourced_id}-stu-{i + 1:04d}",
                        identifier=f"{100000 + len(schools) * 10000 + i}",
                        school_id=school.id,
                        given_name=given,
                        family_name=family,
                        grade=grades[i % len(grades)],
                    )
                )
                students += 1
        schools[sourced_id] = school
    db.session.flush()
    users = []
    for role, email, name, school_ids in USERS:
        exists = db.session.scalars(select(User).where(User.email == email)).one_or_none()
        if exists is None:
            create_user(
                None,
                email=email,
                name=name,
                role=role,
                password=DEMO_PASSWORD,
                school_ids=[schools[s].id for s in school_ids],
                must_change_password=False,
                can_export_student_level=(role == "district"),
            )
        users.append((role, email))
    if created_schools:
        seed_agency_directory()
        from school_prevention.training.demo_data import seed_awareness, seed_training

        seed_training(schools, GIVEN, FAMILY)  # before case work: its CSE-IT screening needs the training
        seed_awareness()
        seed_casework(rng, schools)
        seed_programs(schools)
        seed_checkins(schools)
        seed_outside_work(schools)
        from school_prevention.tiers.demo_data import seed_tiers

        seed_tiers(schools)
    total = db.session.scalar(select(func.count()).select_from(Student))
    return {"schools": len(schools), "students": total, "users": users}


def _user(email: str) -> User:
    return db.session.scalars(select(User).where(User.email == email)).one()


def seed_casework(rng: random.Random, schools: dict[str, School]) -> None:
    """Flags, referrals and screenings so a counselor opens a realistic caseload."""
    from datetime import timedelta

    from school_prevention.db import utcnow
    from school_prevention.flags.models import FlagCategory
    from school_prevention.flags.services import change_status, create_flag, record_mandated_report
    from school_prevention.referrals.services import start_review, submit_referral
    from school_prevention.screenings.models import Instrument
    from school_prevention.screenings.services import record_screening

    counselor, staff = _user("counselor@demo.school"), _user("staff@demo.school")
    all_categories = list(db.session.scalars(select(FlagCategory)))

    class _ByPrefix(dict):
        def __missing__(self, key):
            return next(c for c in all_categories if c.name.lower().startswith(key))

    categories = _ByPrefix()
    cse = categories["signs of commercial"]
    instruments = {i.name: i for i in db.session.scalars(select(Instrument))}
    cedar = list(
        db.session.scalars(select(Student).where(Student.school_id == schools["demo-cedar-ms"].id).order_by(Student.id))
    )
    maple = list(
        db.session.scalars(select(Student).where(Student.school_id == schools["demo-maple-es"].id).order_by(Student.id))
    )
    plan = [
        (
            cedar[0],
            "social",
            "moderate",
            "counselor_observation",
            "Eats lunch alone most days; says no one talks to them.",
        ),
        (cedar[1], "bullying — targeted", "high", "staff_referral", "Reported repeated name-calling in the bus line."),
        (cedar[2], "chronic", "moderate", "counselor_observation", None),
        (cedar[3], "housing", "high", "parent_guardian", "Family staying with relatives since October."),
        (cedar[5], "runaway", "urgent", "outside_agency", "Missing overnight twice this month; returned on her own."),
        (maple[0], "neglect", "moderate", "counselor_observation", "Often arrives without a coat or lunch."),
        (maple[2], "social", "low", "student_self_report", None),
    ]
    flags = [
        create_flag(counselor, s, category=categories[key], severity=sev, source=src, note=note)
        for s, key, sev, src, note in plan
    ]
    change_status(counselor, flags[2], "monitoring")
    # Urgent concerns raised this week with no check-in plan yet: the caseload's first job of the day.
    for student, key, note in [
        (cedar[12], "sudden", "Skipping lunch to meet an adult at the fence; will not say who."),
        (cedar[13], "runaway", "Left home after an argument; staying with a friend's older brother."),
        (cedar[14], "bullying — targeted", "Threats in a group chat to share a photo of her."),
        (maple[5], "neglect", "Said nobody was home for three nights."),
    ]:
        create_flag(counselor, student, category=categories[key], severity="urgent", source="staff_referral", note=note)
    exploitation = create_flag(
        counselor,
        cedar[4],
        category=cse,
        severity="high",
        source="screening",
        note="New phone and gifts from an older 'boyfriend' she met online.",
    )
    record_mandated_report(
        counselor,
        exploitation,
        agency="State child abuse hotline",
        made_at=utcnow() - timedelta(days=2),
        reference="HL-2026-10442",
        not_made_reason=None,
    )
    # One high-severity exploitation concern still waiting for its report record: the banner shows.
    create_flag(
        counselor,
        cedar[6],
        category=cse,
        severity="high",
        source="staff_referral",
        note="Seen being picked up by an unknown adult; talks about 'modeling work'.",
    )
    today = utcnow().date()
    record_screening(
        counselor,
        cedar[4],
        instrument=instruments["CSE-IT 2.0 (result only)"],
        screened_on=today - timedelta(days=3),
        result="clear_concern",
        next_step="mandated_report",
        today=today,
    )
    record_screening(
        counselor,
        cedar[0],
        instrument=instruments["SRSS-IE"],
        screened_on=today - timedelta(days=20),
        result="possible_concern",
        next_step="rescreen",
        rescreen_on=today + timedelta(days=40),
        today=today,
    )
    # A rescreen whose date has come: it waits on the counselor's home.
    record_screening(
        counselor,
        maple[2],
        instrument=instruments["SRSS-IE"],
        screened_on=today - timedelta(days=60),
        result="possible_concern",
        next_step="rescreen",
        rescreen_on=today - timedelta(days=3),
        today=today,
    )
    record_screening(
        counselor,
        maple[1],
        instrument=instruments["School checklist"],
        screened_on=today - timedelta(days=8),
        result="no_concern",
        next_step="none",
        today=today,
    )
    # Riverside High's counselor has a caseload too: flags (one urgent, no plan yet) and a screening.
    high = _user("counselor.high@demo.school")
    river = list(
        db.session.scalars(select(Student).where(Student.school_id == schools["demo-river-hs"].id).order_by(Student.id))
    )
    for student, key, sev, src, river_note in [
        (river[0], "social", "moderate", "counselor_observation", "New this year; eats alone and skips clubs."),
        (
            river[1],
            "sudden",
            "high",
            "staff_referral",
            "New phone and gifts; an older friend picks her up after school.",
        ),
        (river[2], "chronic", "moderate", "counselor_observation", None),
        (river[3], "runaway", "urgent", "outside_agency", "Away from home three nights last week."),
        (river[4], "bullying — targeted", "low", "student_self_report", None),
    ]:
        create_flag(high, student, category=categories[key], severity=sev, source=src, note=river_note)
    record_screening(
        high,
        river[1],
        instrument=instruments["School checklist"],
        screened_on=today - timedelta(days=6),
        result="possible_concern",
        next_step="rescreen",
        rescreen_on=today + timedelta(days=30),
        today=today,
    )
    first = submit_referral(
        staff,
        cedar[7],
        categories=[categories["sudden"]],
        urgency="soon",
        observation="Has a new expensive phone and says an older friend buys her things.",
    )
    submit_referral(
        staff,
        cedar[8],
        categories=[categories["bullying — targeted"], categories["social"]],
        urgency="routine",
        observation="Other students took his backpack again at dismissal; he was crying.",
    )
    start_review(counselor, first)


def seed_programs(schools: dict[str, School]) -> None:
    """Programs with seats, a waitlist and attendance; mentors (one not cleared) and matches."""
    from datetime import datetime, time, timedelta

    from dateutil.relativedelta import relativedelta

    from school_prevention.db import utcnow
    from school_prevention.programs.mentoring import move_match, open_match, record_contact, save_mentor
    from school_prevention.programs.models import Enrollment, Program, ProgramType
    from school_prevention.programs.services import create_program, enroll, record_session
    from school_prevention.timezones import district_zone

    counselor, high = _user("counselor@demo.school"), _user("counselor.high@demo.school")
    types = {t.name: t for t in db.session.scalars(select(ProgramType))}
    today = utcnow().astimezone(district_zone()).date()
    term = {"starts_on": today - timedelta(days=70), "ends_on": today + timedelta(days=120)}

    def students_of(key):
        return list(
            db.session.scalars(select(Student).where(Student.school_id == schools[key].id).order_by(Student.id))
        )

    cedar, maple = students_of("demo-cedar-ms"), students_of("demo-maple-es")
    cedar_school = schools["demo-cedar-ms"]
    stand_up = create_program(
        counselor,
        cedar_school,
        types["Anti-bullying"],
        name="Stand Up Together",
        capacity=12,
        facilitator="Ms. Rivera",
        schedule="Tuesdays, 3:15–4:00 pm",
        location="Room 114",
        session_minutes=45,
        description="Weekly anti-bullying and upstander skills group.",
        **term,
    )
    coping = create_program(
        counselor,
        cedar_school,
        types["Counseling group"],
        name="Coping Skills Group",
        capacity=4,
        facilitator="Casey Counselor",
        schedule="Thursdays, lunch",
        location="Counseling office",
        session_minutes=30,
        description="Small group for stress, anger and worry.",
        **term,
    )
    create_program(
        counselor,
        cedar_school,
        types["Media literacy"],
        name="Safe Online",
        capacity=20,
        schedule="Fridays, advisory period",
        session_minutes=40,
        **term,
    )
    habits = create_program(
        counselor,
        schools["demo-maple-es"],
        types["Nutrition"],
        name="Healthy Habits Club",
        capacity=15,
        schedule="Wednesdays after school",
        session_minutes=60,
        **term,
    )
    create_program(
        high,
        schools["demo-river-hs"],
        types["Extracurricular activity"],
        name="Robotics Club",
        capacity=16,
        schedule="Mondays and Wednesdays, 3:30–5:00 pm",
        session_minutes=90,
        **term,
    )
    river = students_of("demo-river-hs")
    robotics = db.session.scalars(select(Program).where(Program.name == "Robotics Club")).one()
    enroll(counselor, stand_up, [cedar[1]] + cedar[100:108])
    # Coping skills is full with two students waiting: a freed seat goes to the first of them.
    enroll(counselor, coping, cedar[110:116])
    enroll(counselor, habits, maple[100:110])
    enroll(high, robotics, [river[0], river[2]] + river[100:108])
    # Students joined when the term began: their attendance below comes after their enrollment.
    joined = datetime.combine(term["starts_on"], time(15), district_zone()).astimezone(UTC)
    for n, enrollment in enumerate(db.session.scalars(select(Enrollment).order_by(Enrollment.id))):
        enrollment.requested_at = joined + timedelta(minutes=n)  # the waitlist keeps its order
        if enrollment.started_at is not None:
            enrollment.started_at = joined + timedelta(minutes=n)
    db.session.flush()
    for program, weekday, roster_of, weeks, minutes in (
        (stand_up, 1, [cedar[1]] + cedar[100:108], 6, 45),
        (robotics, 0, [river[0], river[2]] + river[100:108], 4, 90),
    ):
        roster = [s.id for s in roster_of]
        for week, day in enumerate(_past_school_days(today, weekday, weeks)):
            marks = {sid: ("present" if (sid + week) % 5 else "absent") for sid in roster}
            record_session(
                high if program is robotics else counselor,
                program,
                held_on=day,
                minutes=minutes,
                topic=f"Week {week + 1}",
                attendance=marks,
                roster_ids=set(roster),
            )
    cleared = save_mentor(
        counselor,
        None,
        cedar_school,
        today,
        name="Jordan Ellis",
        organisation="Big Brothers Big Sisters",
        email="jordan.ellis@example.org",
        background_check_on=today - relativedelta(months=3),
        is_active=True,
    )
    save_mentor(
        counselor,
        None,
        cedar_school,
        today,
        name="Morgan Blake",
        organisation="Riverside Rotary",
        background_check_on=today - relativedelta(months=14),
        is_active=True,
    )
    save_mentor(
        counselor, None, cedar_school, today, name="Taylor Quinn", organisation="Community volunteer", is_active=True
    )
    match = open_match(counselor, cedar[3])
    move_match(
        counselor, match, "matched", today=today, check_months=12, mentor=cleared, on=today - relativedelta(months=3)
    )
    record_contact(
        counselor,
        match,
        contacted_on=today - relativedelta(months=2) + timedelta(days=2),
        method="phone",
        with_whom="mentor",
        today=today,
    )
    open_match(counselor, cedar[0])


def _holidays(year: int):
    """This school year's non-school days on the demo calendar (year: the autumn's)."""
    from datetime import date, timedelta

    thanksgiving = _nth_weekday(year, 11, 3, 4)
    days = [
        (thanksgiving, "Thanksgiving"),
        (thanksgiving + timedelta(days=1), "Thanksgiving break"),
        (_nth_weekday(year + 1, 1, 0, 3), "Martin Luther King Jr. Day"),
        (_nth_weekday(year + 1, 2, 0, 3), "Presidents' Day"),
    ]
    return days + [(date(year, 12, 21) + timedelta(days=i), "Winter break") for i in range(12)]


def _past_school_days(today, weekday: int, count: int) -> list:
    """The last `count` school days falling on `weekday` before today, oldest first (holidays skipped)."""
    from datetime import date, timedelta

    from school_prevention.checkins.services import school_year_end

    closed = {d for year in (today.year - 1, today.year) for d, _ in _holidays(year)}
    day = today - timedelta(days=(today.weekday() - weekday - 1) % 7 + 1)
    found: list[date] = []
    while len(found) < count:
        if day not in closed and school_year_end(day) == school_year_end(today):
            found.append(day)
        elif school_year_end(day) != school_year_end(today):
            break  # not back into the summer holidays
        day -= timedelta(days=7)
    return found[::-1]


def _nth_weekday(year: int, month: int, weekday: int, n: int):
    from datetime import date, timedelta

    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def seed_checkins(schools: dict[str, School]) -> None:
    """This school year's holidays, and check-in plans with a history: done, missed, overdue, due soon."""
    from datetime import time, timedelta

    from school_prevention.checkins.models import CheckIn, NonSchoolDay
    from school_prevention.checkins.services import complete, create_plan, mark_missed, school_year_end
    from school_prevention.db import utcnow
    from school_prevention.timezones import district_zone

    counselor, high = _user("counselor@demo.school"), _user("counselor.high@demo.school")
    now = utcnow()
    today = now.astimezone(district_zone()).date()
    year = school_year_end(today).year - 1  # the autumn of this school year
    for day, name in _holidays(year):
        if day.weekday() < 5 and not db.session.scalar(select(NonSchoolDay.id).where(NonSchoolDay.day == day)):
            db.session.add(NonSchoolDay(day=day, name=name))
    db.session.flush()

    def students_of(key):
        return list(
            db.session.scalars(select(Student).where(Student.school_id == schools[key].id).order_by(Student.id))
        )

    cedar, maple, river = students_of("demo-cedar-ms"), students_of("demo-maple-es"), students_of("demo-river-hs")
    six_weeks_ago = now - timedelta(weeks=6)
    plans = [  # who, counselor, cadence, local time, reason
        (cedar[1], counselor, "weekly", time(9, 30), "Targeted bullying: weekly check-in while the group runs"),
        (cedar[3], counselor, "biweekly", time(13, 0), "Housing instability: family staying with relatives"),
        (cedar[5], counselor, "weekly", time(8, 15), "Runaway episodes: safety plan review"),
        (cedar[4], counselor, "weekly", time(11, 0), "Exploitation concern: trusted-adult check-in"),
        (maple[0], counselor, "monthly", time(10, 0), "Basic needs: coat and lunch follow-up"),
        (river[0], high, "biweekly", time(14, 0), "New student, isolated: connect to clubs"),
    ]
    created = []
    for student, owner, cadence, at, reason in plans:
        created.append(
            create_plan(
                owner,
                student,
                owner,
                now=six_weeks_ago,
                cadence=cadence,
                rrule=None,
                starts_on=six_weeks_ago.astimezone(district_zone()).date(),
                local_time=at,
                duration_minutes=20,
                non_school_day="move",
                reason=reason,
            )
        )
    outcomes = ["doing_well", "some_concerns", "doing_well", "needs_follow_up"]
    for n, plan in enumerate(created):
        past = db.session.scalars(
            select(CheckIn).where(CheckIn.plan_id == plan.id, CheckIn.due_at < now).order_by(CheckIn.due_at)
        ).all()
        for i, checkin in enumerate(past):
            if n == 2 and i >= len(past) - 2:
                continue  # the runaway plan: the last two are overdue, so escalation has something to show
            if (n + i) % 5 == 4:
                mark_missed(plan.counselor, checkin, now=checkin.due_at + timedelta(hours=2))
            else:
                complete(
                    plan.counselor,
                    checkin,
                    outcome=outcomes[(n + i) % len(outcomes)],
                    note=None,
                    now=checkin.due_at + timedelta(minutes=25),
                )
    # Something due within hours for the demo counselor, so "My check-ins" and the reminders have work.
    # Within school hours (8 am to 3 pm), never in the night: today when the day allows it, else the next morning.
    hour = now.astimezone(district_zone()).hour
    soon = hour + 2 if 6 <= hour <= 13 else None
    create_plan(
        counselor,
        cedar[0],
        counselor,
        now=now,
        cadence="weekly",
        rrule=None,
        starts_on=today if hour < 6 or soon else today + timedelta(days=1),
        local_time=time(max(soon or 9, 8)),
        duration_minutes=15,
        non_school_day="move",
        reason="Isolation: lunch-time check-in",
    )


AGENCIES = [
    # name, kind, contact, phone, email, notes
    (
        "State Child Abuse Hotline",
        "child_welfare",
        "24-hour intake",
        "555-0140",
        None,
        "Mandated reports of suspected abuse or exploitation, any hour. Have the reference number written down.",
    ),
    (
        "County Children's Services",
        "child_welfare",
        "School liaison: R. Okafor",
        "555-0141",
        "liaison@ccs.example.org",
        "Voluntary family services and prevention casework; referral form by email.",
    ),
    (
        "Riverside Police Department, Youth Services",
        "law_enforcement",
        "Sgt. M. Torres",
        "555-0150",
        None,
        "Immediate danger: call 911 first.",
    ),
    (
        "County Juvenile Court Services",
        "juvenile_justice",
        "Intake officer",
        "555-0160",
        None,
        "Diversion programs; court orders and subpoenas come from here.",
    ),
    (
        "Lakeside Community Mental Health",
        "health",
        "Youth intake",
        "555-0170",
        "youth@lakeside.example.org",
        "Counseling and psychiatric care for ages 5–21; sliding-scale fees.",
    ),
    (
        "Harbor House Youth Shelter",
        "runaway_homeless",
        "Street outreach team",
        "555-0180",
        None,
        "Emergency shelter and a 24-hour crisis line for runaway and homeless youth.",
    ),
    (
        "Boys & Girls Club of Riverside",
        "community",
        "Program director",
        "555-0190",
        "info@bgc-riverside.example.org",
        "After-school programs and mentoring; free for students on the school meal program.",
    ),
]


def seed_agency_directory() -> None:
    """The outside agencies the demo counselors work with (before case work, so the mandated report's
    disclosure names its agency)."""
    from school_prevention.agencies.models import Agency

    for name, kind, contact, phone, email, notes in AGENCIES:
        db.session.add(Agency(name=name, kind=kind, contact_name=contact, phone=phone, email=email, notes=notes))
    db.session.flush()


def seed_outside_work(schools: dict[str, School]) -> None:
    """Parents and guardians (as a roster import brings them), consents, an agency referral and a
    sharing recorded by hand, and a parent's request to inspect the record waiting for an answer."""
    from datetime import timedelta

    from school_prevention.agencies.models import Agency
    from school_prevention.agencies.services import change_status, refer_student
    from school_prevention.db import utcnow
    from school_prevention.disclosures.models import Guardian
    from school_prevention.disclosures.services import log_inspection_request, record_consent, record_disclosure
    from school_prevention.timezones import district_zone

    counselor, principal = _user("counselor@demo.school"), _user("principal@demo.school")
    today = utcnow().astimezone(district_zone()).date()
    given = ["Maria", "James", "Aisha", "Wei", "Olga", "Samuel", "Grace", "Luis", "Fatou", "Daniel"]
    guardians: dict[int, Guardian] = {}
    for n, student in enumerate(db.session.scalars(select(Student).order_by(Student.id))):
        guardian = Guardian(
            sourced_id=student.sourced_id.replace("-stu-", "-par-"),
            given_name=given[n % len(given)],
            family_name=student.family_name,
            role="guardian" if n % 9 == 4 else "parent",
            email=f"family{n + 1}@home.example",
            phone=f"555-{2000 + n:04d}",
            students=[student],
        )
        db.session.add(guardian)
        guardians[student.id] = guardian
    db.session.flush()
    agencies = {a.name: a for a in db.session.scalars(select(Agency))}
    cedar = list(
        db.session.scalars(select(Student).where(Student.school_id == schools["demo-cedar-ms"].id).order_by(Student.id))
    )
    # Housing instability (cedar[3]): the family agreed to sharing with shelter services; referred, accepted.
    record_consent(
        counselor,
        cedar[3],
        guardian=guardians[cedar[3].id],
        scope="agency_kind",
        agency_kind="runaway_homeless",
        agency=None,
        categories=["identity", "enrollment", "concerns"],
        given_on=today - timedelta(days=20),
        expires_on=today + timedelta(days=345),
        purpose="Housing support for the family",
        document="Signed form in the counseling office file",
        today=today,
    )
    shelter = refer_student(
        counselor,
        cedar[3],
        agency=agencies["Harbor House Youth Shelter"],
        categories=["identity", "enrollment", "concerns"],
        legal_basis="parental_consent",
        purpose="Housing support and family shelter placement",
        approved_by=principal,
        reason="Family staying with relatives since October; mother asked for shelter options.",
        follow_up_on=today,
        today=today,
    )
    change_status(counselor, shelter, "accepted", agency_reference="HH-2291")
    # An older consent that has expired: sharing on it is refused.
    record_consent(
        counselor,
        cedar[7],
        guardian=guardians[cedar[7].id],
        scope="any_agency",
        agency_kind=None,
        agency=None,
        categories=["identity", "enrollment"],
        given_on=today - timedelta(days=400),
        expires_on=today - timedelta(days=35),
        purpose="Community program sign-up",
        document=None,
        today=today,
    )
    # Runaway episodes (cedar[5]): the police youth unit was told during a night missing: an emergency.
    record_disclosure(
        counselor,
        cedar[5],
        agency=agencies["Riverside Police Department, Youth Services"],
        categories=["identity", "concerns"],
        legal_basis="health_safety_emergency",
        purpose="Student missing overnight; police searching asked for her photo and known contacts.",
        approved_by=principal,
        disclosed_at=utcnow() - timedelta(days=9),
    )
    # A parent asked to see the record ten days ago: due in 35 days.
    log_inspection_request(
        counselor,
        cedar[1],
        guardian=guardians[cedar[1].id],
        requested_on=today - timedelta(days=10),
        how_received="Letter to the principal",
        today=today,
    )
