"""`demo generate`: a large synthetic district for benchmarks, written with bulk inserts.

Proportions follow what districts report, roughly: 60% elementary, 20% middle and 20% high
schools (high schools about twice as large as elementary ones); about one counselor per 400
students; 6.5% of students with a current flag (a fifth of them with two) and 3% with only
resolved ones; 45% of flagged students seated in a program and 40% with a check-in plan (more
at high and urgent severity); programs 60-95% full, with waitlists where they overflow;
check-ins mostly completed on time, some late, missed, cancelled or left open.

Rows are written straight to the tables (COPY on PostgreSQL, executemany on SQLite) in batches,
school by school, so a million students take seconds of database time and little memory. No
restricted note is generated: synthetic notes would only slow the run and prove nothing.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select, text

from school_prevention.checkins.models import OUTCOMES
from school_prevention.checkins.services import school_year_end
from school_prevention.db import utcnow
from school_prevention.demo import DEMO_PASSWORD, FAMILY, GIVEN
from school_prevention.extensions import db
from school_prevention.flags.models import SOURCES, FlagCategory
from school_prevention.programs.models import ProgramType
from school_prevention.timezones import district_zone

PREFIX = "gen-"
LEVELS = [
    ("elementary", ["KG", "01", "02", "03", "04", "05"], 1.0),
    ("middle", ["06", "07", "08"], 1.6),
    ("high", ["09", "10", "11", "12"], 2.2),
]
SEVERITIES = (("low", 30), ("moderate", 40), ("high", 22), ("urgent", 8))
CADENCES = (("weekly", 45), ("biweekly", 40), ("monthly", 15))
STEP = {"weekly": 7, "biweekly": 14, "monthly": 30}

COLUMNS = {
    "school": ("id", "sourced_id", "name", "identifier", "level", "is_active", "created_at", "updated_at"),
    "user_account": (
        "id",
        "email",
        "name",
        "role",
        "password_hash",
        "must_change_password",
        "is_active",
        "can_export_student_level",
        "reminder_leads",
        "created_at",
        "updated_at",
    ),
    "user_school": ("user_id", "school_id"),
    "program": (
        "id",
        "school_id",
        "type_id",
        "name",
        "facilitator",
        "capacity",
        "starts_on",
        "ends_on",
        "schedule",
        "session_minutes",
        "is_active",
        "created_by_id",
        "created_at",
        "seat_version",
    ),
    "student": (
        "id",
        "sourced_id",
        "identifier",
        "school_id",
        "given_name",
        "family_name",
        "grade",
        "is_active",
        "created_at",
        "updated_at",
    ),
    "risk_flag": (
        "id",
        "student_id",
        "category_id",
        "severity",
        "source",
        "status",
        "opened_by_id",
        "opened_at",
        "updated_at",
        "resolved_by_id",
        "resolved_at",
        "report_agency",
        "report_made_at",
        "report_recorded_by_id",
        "report_recorded_at",
    ),
    "enrollment": (
        "id",
        "program_id",
        "student_id",
        "status",
        "requested_at",
        "started_at",
        "ended_at",
        "end_reason",
        "enrolled_by_id",
        "ended_by_id",
    ),
    "checkin_plan": (
        "id",
        "student_id",
        "school_id",
        "counselor_id",
        "cadence",
        "local_time",
        "duration_minutes",
        "starts_on",
        "until",
        "reason",
        "flag_id",
        "non_school_day",
        "status",
        "needs_handoff",
        "created_by_id",
        "created_at",
        "updated_at",
        "ended_at",
    ),
    "checkin": (
        "id",
        "plan_id",
        "student_id",
        "school_id",
        "counselor_id",
        "occurrence",
        "due_at",
        "duration_minutes",
        "status",
        "outcome",
        "is_rescheduled",
        "sequence",
        "completed_at",
        "completed_by_id",
        "updated_at",
    ),
}
ORDER = list(COLUMNS)  # foreign keys point only to tables earlier in this list


class BulkWriter:
    """Buffers rows per table and writes them in foreign-key order, by COPY or executemany."""

    def __init__(self, batch: int = 50_000) -> None:
        self.rows: dict[str, list[tuple]] = {name: [] for name in ORDER}
        self.batch = batch
        self.pending = 0
        self.written: dict[str, int] = dict.fromkeys(ORDER, 0)
        self.connection = db.session.connection()
        self.dialect = self.connection.dialect.name

    def add(self, table: str, row: tuple) -> None:
        self.rows[table].append(row)
        self.pending += 1
        if self.pending >= self.batch:
            self.flush()

    def flush(self) -> None:
        raw = self.connection.connection.driver_connection
        assert raw is not None  # the session's open connection has its driver's
        for table in ORDER:
            rows = self.rows[table]
            if not rows:
                continue
            columns = COLUMNS[table]
            if self.dialect == "postgresql":
                with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)
                raw.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    [tuple(_sqlite(v) for v in row) for row in rows],
                )
            self.written[table] += len(rows)
            rows.clear()
        self.pending = 0


def _sqlite(value):
    """A value as SQLAlchemy stores it in SQLite (naive UTC text for timestamps)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, (date, time)):
        return value.isoformat() if isinstance(value, date) else value.strftime("%H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def _next_id(table: str) -> int:
    return (db.session.scalar(text(f"SELECT max(id) FROM {table}")) or 0) + 1


def _weighted(rng: random.Random, pairs):
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


def _school_sizes(rng: random.Random, students: int, schools: int) -> list[tuple[str, list[str], int]]:
    plan = []
    for i in range(schools):
        level, grades, weight = LEVELS[0] if i % 10 < 6 else LEVELS[1] if i % 10 < 8 else LEVELS[2]
        plan.append((level, grades, weight * rng.uniform(0.6, 1.4)))
    scale = students / sum(w for _, _, w in plan)
    sizes = [max(1, int(w * scale)) for _, _, w in plan]
    sizes[-1] += students - sum(sizes)
    return [(level, grades, size) for (level, grades, _), size in zip(plan, sizes)]


def generate_district(students: int, schools: int, seed: int = 7) -> dict[str, int]:
    """Write a synthetic district of this size; returns rows written per table. The caller commits."""
    from school_prevention.auth.passwords import hash_password

    if db.session.scalar(select(func.count()).select_from(text("school")).where(text(f"sourced_id LIKE '{PREFIX}%'"))):
        raise ValueError("A generated district exists already; generate into an empty database.")
    rng = random.Random(seed)
    zone = district_zone()
    now = utcnow()
    categories = db.session.execute(
        select(FlagCategory.id, FlagCategory.is_suspected_abuse)
        .where(FlagCategory.is_active.is_(True))
        .order_by(FlagCategory.id)
    ).all()
    types = list(
        db.session.scalars(select(ProgramType.id).where(ProgramType.is_active.is_(True)).order_by(ProgramType.id))
    )
    if not categories or not types:
        raise ValueError("Flag categories and program types are missing: run `flask --app app db upgrade` first.")
    run = _Generation(rng, zone, now, categories, types, hash_password(DEMO_PASSWORD))
    writer = run.writer
    shared_counselor = None
    for number, (level, grades, size) in enumerate(_school_sizes(rng, students, schools), start=1):
        shared_counselor = run.school(number, level, grades, size, shared_counselor)
    district = run.new_id("user_account")
    writer.add(
        "user_account",
        (
            district,
            f"district.{district}@gen.demo.school",
            "District data office",
            "district",
            run.password,
            False,
            True,
            True,
            "1440,60",
            now,
            now,
        ),
    )
    writer.flush()
    if writer.dialect == "postgresql":
        for table in ORDER:
            if table != "user_school":  # later inserts must not collide with the ids written here
                db.session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
    return writer.written


class _Generation:
    """One run of generate_district: its random source, clock, writer and next ids, school by school.

    The random draws happen in a fixed order, so a seed always gives the same district.
    """

    def __init__(self, rng: random.Random, zone, now: datetime, categories, types: list[int], password: str) -> None:
        self.rng, self.zone, self.now = rng, zone, now
        self.today = now.astimezone(zone).date()
        self.year_end = school_year_end(self.today)
        self.categories, self.types, self.password = categories, types, password
        self.writer = BulkWriter()
        self.ids = {table: _next_id(table) for table in ORDER if table != "user_school"}

    def new_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table] - 1

    def due_time(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at).replace(tzinfo=self.zone).astimezone(UTC)

    def school(self, number: int, level: str, grades: list[str], size: int, shared_counselor: int | None) -> int | None:
        """Write one school with its staff, programs and students; returns the counselor the next school may share."""
        school_id = self.new_id("school")
        sid = f"{PREFIX}{number:05d}"
        self.writer.add(
            "school",
            (
                school_id,
                sid,
                f"{_town(self.rng)} {level.capitalize()} School {number}",
                f"G{number:05d}",
                level,
                True,
                self.now,
                self.now,
            ),
        )
        small = level == "elementary" and size < 350
        counselors, shared_counselor = self._staff(number, school_id, size, small, shared_counselor)
        programs = self._programs(school_id, counselors)  # [id, seats left, running, capacity]
        unflagged = self._students(sid, school_id, grades, size, counselors, [p for p in programs if p[2]])
        self._fill_programs(programs, unflagged, counselors)
        return shared_counselor

    def _staff(
        self, number: int, school_id: int, size: int, small: bool, shared_counselor: int | None
    ) -> tuple[list[int], int | None]:
        """A principal and about one counselor per 400 students; (counselors, the one the next school may share)."""
        rng, writer, now, password = self.rng, self.writer, self.now, self.password
        # Some small elementary schools share a counselor with the school before them.
        principal = self.new_id("user_account")
        writer.add(
            "user_account",
            (
                principal,
                f"principal.{number}@gen.demo.school",
                f"Principal {number}",
                "principal",
                password,
                False,
                True,
                False,
                "1440,60",
                now,
                now,
            ),
        )
        writer.add("user_school", (principal, school_id))
        counselors: list[int] = []
        if small and shared_counselor is not None and rng.random() < 0.5:
            counselors.append(shared_counselor)
            writer.add("user_school", (shared_counselor, school_id))
        for k in range(max(1, round(size / 400)) - len(counselors)):
            counselor = self.new_id("user_account")
            writer.add(
                "user_account",
                (
                    counselor,
                    f"counselor.{number}.{k + 1}@gen.demo.school",
                    f"Counselor {number}-{k + 1}",
                    "counselor",
                    password,
                    False,
                    True,
                    False,
                    "1440,60",
                    now,
                    now,
                ),
            )
            writer.add("user_school", (counselor, school_id))
            counselors.append(counselor)
        # A counselor serves at most two schools: one just shared is not offered again.
        return counselors, counselors[0] if small and shared_counselor not in counselors else None

    def _programs(self, school_id: int, counselors: list[int]) -> list[list]:
        """Three to six programs, most of them running; [id, seats left, running, capacity] of each."""
        rng, today = self.rng, self.today
        programs = []
        for _ in range(rng.randint(3, 6)):
            program_id = self.new_id("program")
            capacity = rng.randint(10, 25)
            running = rng.random() > 0.08
            starts = today - timedelta(days=rng.randint(30, 120))
            ends = (
                today + timedelta(days=rng.randint(30, 150)) if running else today - timedelta(days=rng.randint(1, 20))
            )
            self.writer.add(
                "program",
                (
                    program_id,
                    school_id,
                    rng.choice(self.types),
                    f"Program {program_id}",
                    "Staff facilitator",
                    capacity,
                    starts,
                    ends,
                    "Weekly",
                    45,
                    running,
                    counselors[0],
                    self.now,
                    0,
                ),
            )
            programs.append([program_id, capacity, running, capacity])
        return programs

    def _students(
        self,
        sid: str,
        school_id: int,
        grades: list[str],
        size: int,
        counselors: list[int],
        running_programs: list[list],
    ) -> list[int]:
        """The school's students, some at risk; returns the active ones without a flag."""
        rng, now = self.rng, self.now
        unflagged = []
        for k in range(size):
            student_id = self.new_id("student")
            active = rng.random() < 0.98
            self.writer.add(
                "student",
                (
                    student_id,
                    f"{sid}-{k:05d}",
                    str(70_000_000 + student_id),
                    school_id,
                    rng.choice(GIVEN),
                    rng.choice(FAMILY),
                    grades[k % len(grades)],
                    active,
                    now,
                    now,
                ),
            )
            roll = rng.random()
            if not active or roll >= 0.095:
                if active and roll >= 0.095:
                    unflagged.append(student_id)
                continue
            self._at_risk(student_id, school_id, rng.choice(counselors), roll, running_programs)
        return unflagged

    def _at_risk(
        self, student_id: int, school_id: int, counselor: int, roll: float, running_programs: list[list]
    ) -> None:
        """A flagged student's flags, and perhaps a program seat and a check-in plan."""
        rng, writer, now, new_id = self.rng, self.writer, self.now, self.new_id
        if roll >= 0.065:  # only resolved flags
            opened = now - timedelta(days=rng.uniform(60, 400))
            writer.add(
                "risk_flag",
                _flag(
                    rng,
                    new_id("risk_flag"),
                    student_id,
                    counselor,
                    self.categories,
                    "resolved",
                    opened,
                    opened + timedelta(days=rng.uniform(10, 50)),
                ),
            )
            return
        worst, first_flag = 0, None
        for _ in range(2 if rng.random() < 0.2 else 1):
            flag_id = new_id("risk_flag")
            opened = now - timedelta(days=rng.uniform(0, 200))
            row = _flag(
                rng,
                flag_id,
                student_id,
                counselor,
                self.categories,
                "open" if rng.random() < 0.6 else "monitoring",
                opened,
                None,
            )
            writer.add("risk_flag", row)
            worst = max(worst, ("low", "moderate", "high", "urgent").index(row[3]))
            first_flag = first_flag or (flag_id, opened)
        if running_programs and rng.random() < 0.45:
            program = rng.choice(running_programs)
            seated = program[1] > 0
            program[1] -= seated
            requested = now - timedelta(days=rng.uniform(1, 60))
            writer.add(
                "enrollment",
                (
                    new_id("enrollment"),
                    program[0],
                    student_id,
                    "active" if seated else "waitlisted",
                    requested,
                    requested if seated else None,
                    None,
                    None,
                    counselor,
                    None,
                ),
            )
        if rng.random() < 0.30 + 0.15 * worst:
            _plan(
                rng,
                writer,
                new_id,
                self.due_time,
                student_id,
                school_id,
                counselor,
                first_flag,
                now,
                self.today,
                self.year_end,
            )

    def _fill_programs(self, programs: list[list], unflagged: list[int], counselors: list[int]) -> None:
        """Other students fill the programs to 60-95% of their seats; a few end or leave."""
        rng, writer, now = self.rng, self.writer, self.now
        rng.shuffle(unflagged)
        for program_id, left, running, capacity in programs:
            want = min(left, int(capacity * rng.uniform(0.6, 0.95)) - (capacity - left))
            for _ in range(max(0, want)):
                if not unflagged:
                    break
                student_id = unflagged.pop()
                requested = now - timedelta(days=rng.uniform(1, 90))
                status = "active" if running else "completed"
                writer.add(
                    "enrollment",
                    (
                        self.new_id("enrollment"),
                        program_id,
                        student_id,
                        status,
                        requested,
                        requested,
                        None if running else now - timedelta(days=2),
                        None if running else "Program ended",
                        counselors[0],
                        None if running else counselors[0],
                    ),
                )
            if running and left <= 0 and unflagged and rng.random() < 0.5:
                for _ in range(rng.randint(1, 4)):
                    if unflagged:
                        writer.add(
                            "enrollment",
                            (
                                self.new_id("enrollment"),
                                program_id,
                                unflagged.pop(),
                                "waitlisted",
                                now - timedelta(days=rng.uniform(1, 30)),
                                None,
                                None,
                                None,
                                counselors[0],
                                None,
                            ),
                        )


def _town(rng: random.Random) -> str:
    return rng.choice(
        [
            "Oak",
            "Pine",
            "Lake",
            "Hill",
            "River",
            "Elm",
            "Maple",
            "Cedar",
            "Willow",
            "Brook",
            "Park",
            "Spring",
            "Valley",
            "Ridge",
            "Harbor",
            "Meadow",
        ]
    )


def _flag(rng, flag_id, student_id, counselor, categories, status, opened, resolved):
    category, abuse = rng.choice(categories)
    severity = _weighted(rng, SEVERITIES)
    reported = abuse and severity in ("high", "urgent")
    made = opened + timedelta(hours=rng.uniform(1, 20)) if reported else None
    return (
        flag_id,
        student_id,
        category,
        severity,
        rng.choice(list(SOURCES)),
        status,
        counselor,
        opened,
        resolved or opened,
        counselor if resolved else None,
        resolved,
        "State child abuse hotline" if reported else None,
        made,
        counselor if reported else None,
        made,
    )


def _plan(rng, writer, new_id, due_time, student_id, school_id, counselor, flag, now, today, year_end):
    """An active check-in plan from around the flag's date, with its check-ins up to four weeks ahead."""
    flag_id, opened = flag
    cadence = _weighted(rng, CADENCES)
    starts = max(opened.date(), today - timedelta(days=120)) + timedelta(days=rng.randint(0, 10))
    starts = min(starts, today)
    at = time(rng.choice([8, 9, 10, 11, 13, 14]), rng.choice([0, 15, 30, 45]))
    plan_id = new_id("checkin_plan")
    writer.add(
        "checkin_plan",
        (
            plan_id,
            student_id,
            school_id,
            counselor,
            cadence,
            at,
            20,
            starts,
            year_end,
            "Regular check-in",
            flag_id,
            "move",
            "active",
            False,
            counselor,
            now,
            now,
            None,
        ),
    )
    neglected = rng.random() < 0.05  # a plan whose last check-ins were left open
    day, last = starts, today + timedelta(days=28)
    past = []
    while day <= last:
        occurrence = day
        if day.weekday() >= 5:
            day += timedelta(days=7 - day.weekday())
        due = due_time(day, at)
        past.append((occurrence, due))
        day = occurrence + timedelta(days=STEP[cadence])
    open_from = len([d for _, d in past if d < now]) - 2
    for index, (occurrence, due) in enumerate(past):
        status, outcome, completed = "scheduled", None, None
        updated = now
        if due < now:
            if neglected and index >= open_from:
                status = "scheduled"
            else:
                roll = rng.random()
                if roll < 0.70:
                    status, outcome, completed = (
                        "completed",
                        rng.choice(list(OUTCOMES)),
                        due + timedelta(minutes=rng.uniform(0, 180)),
                    )
                elif roll < 0.80:
                    status, outcome, completed = (
                        "completed",
                        rng.choice(list(OUTCOMES)),
                        due + timedelta(days=rng.uniform(1.2, 6)),
                    )
                elif roll < 0.90:
                    status = "missed"
                elif roll < 0.94:
                    status, updated = "cancelled", due - timedelta(days=1)
                elif due > now - timedelta(days=7):
                    status = "scheduled"  # not done yet, this week
                else:
                    status = "missed"
                if completed is not None:
                    updated = completed = min(completed, now)
        writer.add(
            "checkin",
            (
                new_id("checkin"),
                plan_id,
                student_id,
                school_id,
                counselor,
                occurrence,
                due,
                20,
                status,
                outcome,
                False,
                0,
                completed,
                counselor if completed else None,
                updated,
            ),
        )


def analyze() -> None:
    """Refresh the query planner's statistics after a bulk load (run after the commit)."""
    db.session.execute(text("ANALYZE"))
    db.session.commit()
