"""The attacker test: nothing the district's pages and exports withhold can be worked out.

Many small random districts, made up in memory (schools of every level, some with few students,
grades they teach, flagged students with concerns and coverage, programs running or not, check-ins,
new flags and seats week by week). For each, every release a district account is offered: every
reporting period (months, terms, the school year) with every level filter, the program list and
the home page, built by the same code the pages run (reports.district.build_report,
reports.published). tests/support/attacker.py turns every figure into a linear equation over the
district's counts and asks, with exact arithmetic, whether any withheld figure follows from all
releases together. None may.

The database-backed side (the demo district and a hand-built one, read through the real pages and
downloads as the district user) is at the end of this file.
"""

from __future__ import annotations

import io
import itertools
import random
import re
from collections import Counter, defaultdict, namedtuple
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from school_prevention.reports import suppression
from school_prevention.reports.district import SUPPRESSED, build_report
from school_prevention.reports.district_data import Data
from school_prevention.reports.groups import filter_choices
from school_prevention.reports.measures import SEVERITY_OF_RANK
from school_prevention.reports.periods import (
    last_complete_months,
    month,
    month_bounds,
    offered,
    query_period,
    school_year,
    term,
)
from school_prevention.reports.published import publish_program_seats, publish_school_students
from school_prevention.reports.training import publish_training
from tests.support.attacker import STATES, Attack, Model, mondays

ZONE = ZoneInfo("America/Chicago")
School = namedtuple("School", "id sourced_id identifier name level")
Counselor = namedtuple("Counselor", "school_id id name n_schools plans")
GRADES = {
    "elementary": ["KG", "01", "02", "03", "04", "05"],
    "middle": ["06", "07", "08"],
    "high": ["09", "10", "11", "12"],
    "other": ["06", "07", "08", "09", "10", "11", "12"],
}
CONCERNS = ("1", "2", "3")
NAMES = {"1": "Social isolation", "2": "Bullying", "3": "Online risk"}
# Two shapes of "now": early January (the first term and its months are over) and early July (the
# whole school year, its second term and its months are over).
NOWS = (datetime(2027, 1, 7, 18, tzinfo=UTC), datetime(2027, 7, 8, 18, tzinfo=UTC))


class District:
    """A made-up district: the counts behind every figure, and the rows the measures would return."""

    def __init__(self, seed: int):
        rng = self.rng = random.Random(seed)
        self.now = NOWS[seed % 2]
        self.min_n = rng.choice([3, 5, 10, 10])
        levels = rng.choice(
            [
                ["elementary", "middle", "high"],
                ["elementary", "elementary", "middle"],
                ["middle", "middle", "high"],
                ["elementary", "middle", "high", "other"],
                ["elementary", "elementary", "middle", "middle", "high"],
                ["high", "high"],
                ["elementary", "middle"],
                ["elementary", "elementary", "elementary", "high"],
                ["elementary"] * 4 + ["middle"] * 2 + ["high", "other"],
            ]
        )
        self.schools, self.grades, self.students = [], {}, []
        for i, level in enumerate(levels, start=1):
            self.schools.append(School(i, f"s{i}", f"ID{i}", f"School {i}", level))
            span = GRADES[level]
            if rng.random() < 0.3:  # a school teaching part of its level's grades
                first = rng.randrange(len(span))
                span = span[first : first + rng.randint(1, len(span) - first)]
            grades = list(span) + ([""] if rng.random() < 0.2 else [])
            for _ in range(rng.choice([1, 2, 4, 8, 15, 25, 40])):
                grade = rng.choice(grades)
                flagged = rng.random() < 0.5
                self.students.append(
                    {
                        "school": i,
                        "grade": grade,
                        "flagged": flagged,
                        "severity": str(rng.randint(1, 4)),
                        "concerns": frozenset(rng.sample(CONCERNS, rng.choice([1, 1, 1, 2, 3]))),
                        "state": rng.choice(STATES),
                    }
                )
            self.grades[i] = {s["grade"] for s in self.students if s["school"] == i}
        # Flagged students an outside agency supports, per school (a random stream of its own, so
        # the districts made before this figure existed stay the same).
        other = random.Random(seed + 1_000_003)
        self.outside = {
            s.id: sum(
                1
                for st in self.students
                if st["school"] == s.id and st["flagged"] and other.random() < other.choice([0.1, 0.5, 0.9])
            )
            for s in self.schools
        }
        self.programs = {}  # id -> (school, running, capacity, seated, waiting)
        pid = 100
        for school in self.schools:
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                pid += 1
                capacity = rng.randint(4, 20)
                self.programs[pid] = (
                    school.id,
                    rng.random() < 0.8,
                    capacity,
                    rng.randint(0, capacity),
                    rng.choice([0, 0, 1, 2, 6, 11]),
                )
        self.counselors = [
            Counselor(s.id, 900 + s.id, "C", rng.choice([1, 2]), 0) for s in self.schools if rng.random() < 0.7
        ]
        self.staff = {
            s.id: dict(
                zip(
                    ("staff_current", "staff_due", "staff_lapsed", "staff_untrained"),
                    (rng.choice([0, 1, 3, 8, 20]) for _ in range(4)),
                )
            )
            for s in self.schools
        }
        # Weekly activity over the months of the school year before now.
        sy = 2026
        self.year = school_year(sy)
        weeks = mondays(self.year.months)
        busy = set(mondays(self.year.months[:6] if self.now.month == 1 else self.year.months[6:]))
        self.checkins = {s.id: {w: self._week(rng) if w in busy else (0, 0) for w in weeks} for s in self.schools}
        self.flags = {s.id: {w: rng.choice([0, 0, 1, 2, 12]) if w in busy else 0 for w in weeks} for s in self.schools}
        self.seated = {
            s.id: {w: rng.choice([0, 0, 0, 1, 3, 10]) if w in busy else 0 for w in weeks} for s in self.schools
        }

    @staticmethod
    def _week(rng):
        due = rng.choice([0, 0, 1, 2, 3, 5, 9, 14])
        return due, rng.randint(0, due)

    # --- what the measures would return ----------------------------------------------------------
    def data(self, period) -> Data:
        by_grade = Counter((s["school"], s["grade"] or None) for s in self.students)
        level = {s.id: s.level for s in self.schools}
        cover = []
        totals = defaultdict(lambda: [0] * 5)
        detail = defaultdict(lambda: [0] * 5)
        category = defaultdict(lambda: [0] * 5)
        for s in self.students:
            if not s["flagged"]:
                continue
            column = 1 + STATES.index(s["state"])
            lv = level[s["school"]]
            for target in (totals[s["school"]], detail[(lv, s["grade"] or None, s["severity"])]):
                target[0] += 1
                target[column] += 1
            for concern in s["concerns"]:
                category[(lv, concern)][0] += 1
                category[(lv, concern)][column] += 1
        cover += [("total", sid, level[sid], None, None, None, *c) for sid, c in totals.items()]
        cover += [("detail", None, lv, g, sev, None, *c) for (lv, g, sev), c in detail.items()]
        cover += [("category", None, lv, None, None, cat, *c) for (lv, cat), c in category.items()]
        programs = defaultdict(lambda: [0, 0, 0, 0])
        for sid, running, capacity, seated, waiting in self.programs.values():
            if running:
                p = programs[sid]
                p[0] += 1
                p[1] += capacity
                p[2] += seated
                p[3] += waiting
        week_index = {w: i for i, w in enumerate(mondays(period.months))}
        activity = []
        for sid, weeks in self.flags.items():
            for w, n in weeks.items():
                if n and w in week_index:
                    activity.append(("flags", None, level[sid], week_index[w], n))
        for sid, weeks in self.seated.items():
            for w, n in weeks.items():
                if n and w in week_index:
                    activity.append(("enrollments", None, level[sid], week_index[w], n))
        return Data(
            schools=self.schools,
            by_school_grade=[(sid, g, n) for (sid, g), n in by_grade.items()],
            cover=cover,
            programs=[(sid, *p) for sid, p in programs.items()],
            counselors=self.counselors,
            activity=activity,
            checkin_weeks={sid: dict(w) for sid, w in self.checkins.items()},
            outside=list(self.outside.items()),
        )

    def periods(self):
        """The periods a district account is offered that hold any activity."""
        return [p for p in offered(self.now, ZONE) if p.start >= self.year.start]

    def model(self, groups) -> Model:
        concern_sets = defaultdict(set)
        for g in groups:
            for s in self.students:
                if s["flagged"] and s["school"] in g.school_ids:
                    concern_sets[g.key].add(s["concerns"])
        return Model(
            schools=self.grades,
            groups={g.key: set(g.school_ids) for g in groups},
            concern_sets=dict(concern_sets),
            programs={pid: (sid, running) for pid, (sid, running, *_) in self.programs.items()},
            capacity={pid: p[2] for pid, p in self.programs.items()},
            recent=[p.months[0] for p in last_complete_months(self.now, ZONE, 3)],
        )

    def attack(self) -> Attack:
        """Every release offered, read by the attacker."""
        recent = last_complete_months(self.now, ZONE, 3)
        attack = None
        for period in self.periods():
            data = self.data(period)
            query = query_period(self.now, ZONE, period.start, period.end)
            report = build_report(data, period, recent, query, None, self.min_n, NAMES)
            if attack is None:
                attack = Attack(self.model(report.groups))
            attack.read_report(report, "all")
            for group in filter_choices(report.groups):
                attack.read_report(build_report(data, period, recent, query, group.key, self.min_n, NAMES), group.key)
        active = Counter(s["school"] for s in self.students)
        schools = [(s.id, s.level) for s in self.schools]
        per_school = self.data(recent[-1]).programs
        running = [
            (pid, sid, "P", "kind", capacity, seated, waiting)
            for pid, (sid, is_running, capacity, seated, waiting) in self.programs.items()
            if is_running
        ]
        seats = {pid: (p[3], p[4]) for pid, p in self.programs.items()}
        # The program list, filtered every way it can be: all, by school, running or not.
        listings = [list(self.programs)] + [[p for p, v in self.programs.items() if v[0] == s.id] for s in self.schools]
        listings += [[p for p, v in self.programs.items() if v[1] == flag] for flag in (True, False)]
        for listed in listings:
            if listed:
                out, totals = publish_program_seats(
                    schools, active, per_school, running, [(p, self.programs[p][2]) for p in listed], seats, self.min_n
                )
                attack.read_programs(out, totals, listed)
        cells, total = publish_school_students(schools, active, self.min_n)
        attack.read_home(cells, total)
        staff = {sid: {"staff": sum(v.values()), **v} for sid, v in self.staff.items()}
        groups = attack.model.groups
        report_groups = build_report(
            self.data(recent[-1]),
            recent[-1],
            recent,
            query_period(self.now, ZONE, recent[-1].start, recent[-1].end),
            None,
            self.min_n,
            NAMES,
        ).groups
        for group in [None, *filter_choices(report_groups)]:
            table = publish_training(self.schools, staff, group, report_groups, self.min_n, self.now.date())
            attack.read_training(table, group.key if group else "all")
        assert set(groups) == {g.key for g in report_groups}
        return attack


SEEDS = range(150)
QUICK = 10  # districts in the default run; the other 140 run with the slow tests (bin/test -m slow)


@pytest.mark.parametrize(
    "seed", [seed if seed < QUICK else pytest.param(seed, marks=pytest.mark.slow) for seed in SEEDS]
)
def test_no_release_gives_away_a_withheld_figure(seed):
    district = District(seed)
    attack = district.attack()
    assert attack.targets, "every made-up district has small counts: something must be withheld"
    recovered = attack.recovered(zeros=True)  # sums, and that a count published as 0 is 0 all through
    assert not recovered, (seed, recovered[:5])


def test_the_attacker_finds_what_primary_suppression_alone_leaves(monkeypatch):
    """With small counts withheld and nothing else, the attacker works most of them out: it has teeth."""

    def primary_only(values, min_n, identities=(), known=(), withheld=()):
        cells = {(r, c) for r, row in values.items() for c, v in row.items() if 0 < v < min_n} | set(withheld)
        return suppression.Suppression(cells, set())

    monkeypatch.setattr(suppression, "suppress", primary_only)
    found = sum(bool(District(seed).attack().recovered()) for seed in range(6))
    assert found >= 5


def test_the_attacker_finds_what_free_dates_gave_away():
    """The outside review's attack, written the attacker's way: two overlapping ranges of days give one day."""
    model = Model(
        schools={1: {"07"}, 2: {"07"}}, groups={"all": {1, 2}}, concern_sets={}, programs={}, capacity={}, recent=[]
    )
    attack = Attack(model)
    days = {d: {("f", s, d): 1 for s in (1, 2)} for d in range(3)}
    attack.see("flags 24-26", {**days[0], **days[1], **days[2]}, 13)
    attack.see("flags 24-25", {**days[0], **days[1]}, 12)
    attack.see("flags 26", days[2], SUPPRESSED)
    assert attack.recovered() == ["flags 26"]


def test_reporting_months_are_whole_weeks_and_every_week_is_in_one_month():
    seen = []
    for year in (2026, 2027):
        for m in range(1, 13):
            start, end = month_bounds((year, m))
            assert start.weekday() == 0 and end.weekday() == 6 and (end - start).days + 1 in (28, 35)
            seen += mondays([(year, m)])
    assert len(seen) == len(set(seen)) and all(b - a == timedelta(days=7) for a, b in itertools.pairwise(seen))
    assert term(2026, 1).months + term(2026, 2).months == school_year(2026).months
    assert (
        month(2026, 11).key == "2026-11" and term(2026, 1).key == "2026-27-t1" and school_year(2026).key == "2026-27-sy"
    )


def test_scope_of_the_attack():
    """How much the random districts put to the attacker (printed with -s)."""
    totals = Counter()
    for seed in range(5):
        attack = District(seed).attack()
        equations, targets, unknowns = attack.size()
        totals.update(districts=1, releases=attack.releases, equations=equations, withheld=targets, unknowns=unknowns)
    print(f"\nattacker, 5 of the {len(SEEDS)} districts: {dict(totals)}")
    assert totals["withheld"] > 50 and totals["releases"] > 50


# --- the real thing: the demo district and a hand-built one, through the pages and downloads ----------

SEVERITY_KEY = {name.capitalize(): str(rank) for rank, name in SEVERITY_OF_RANK.items()}


def _grade_key(label: str) -> str:
    from school_prevention.students.models import GRADE_ORDER, grade_label

    return "" if label == "No grade" else next(g for g in GRADE_ORDER if f"Grade {grade_label(g)}" == label)


def read_workbook(book, period, groups, names_to_keys: dict, school_ids: dict):
    """A downloaded workbook as the report fields the attacker reads: what the file says, nothing else."""
    from types import SimpleNamespace

    from school_prevention.reports.coverage import NA

    def cells(sheet):
        header = [c.value for c in sheet[1]]
        for values in sheet.iter_rows(min_row=2, values_only=True):
            yield {h: (v if v is not None else NA) for h, v in zip(header, values)}

    rows = []
    for row in cells(book["Schools"]):
        row["school_id"] = school_ids.get(row["school_sourced_id"])
        rows.append(row)
    breakdowns = {}
    read_key = {"severity": SEVERITY_KEY.__getitem__, "grade": _grade_key, "category": names_to_keys.__getitem__}
    for dim, title in (("severity", "By severity"), ("grade", "By grade"), ("category", "By category")):
        breakdowns[dim] = []
        for line in cells(book[title]):
            line["key"] = read_key[dim](line[dim])
            for name, parts in (
                ("flagged_in_program", ("flagged_program_and_plan", "flagged_program_only")),
                ("flagged_with_plan", ("flagged_program_and_plan", "flagged_plan_only")),
            ):
                values = [line[p] for p in parts]  # the sheet gives the shares; the page gives these sums
                line[name] = SUPPRESSED if SUPPRESSED in values else sum(values)
            breakdowns[dim].append(line)
    weeks = []
    for week in cells(book["Weekly"]):
        week["start"] = datetime.strptime(week["week_start"], "%Y-%m-%d").date()
        weeks.append(week)
    about = " ".join(str(c.value) for c in book["About"]["A"])
    apart = [g for g in groups if re.search(rf"By grade: not shown for [^.]*\b{g.label.lower()} schools", about)]
    return SimpleNamespace(
        reporting=period,
        rows=[r for r in rows if r["row_type"] == "school"],
        totals=next(r for r in rows if r["row_type"] == "total"),
        breakdowns=breakdowns,
        weeks=weeks,
        grades_apart=apart,
    )


def _figure(text: str):
    text = re.sub(r"<[^>]+>", "", text).strip()
    if text in ("—", ""):
        return None
    return SUPPRESSED if text == SUPPRESSED else int(text.replace(",", ""))


def read_program_list(html: str, ids: dict):
    """Seats taken and waiting per listed program, the listed ids, and the totals row: from the program list."""
    seats, listed = {}, []
    if "<tbody>" not in html:
        return seats, listed, None
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S):
        name = re.sub(r"<[^>]+>|not running", "", re.search(r'<th scope="row">(.*?)</th>', row, re.S)[1]).strip()
        tds = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        pid = ids[(name, re.sub(r"<[^>]+>", "", tds[1]).strip())]
        seats[pid] = (_figure(tds[3]), _figure(tds[5]))
        listed.append(pid)
    foot = re.findall(r"<td[^>]*>(.*?)</td>", html.split("<tfoot>", 1)[1].split("</tfoot>", 1)[0], flags=re.S)
    return seats, listed, {"active": _figure(foot[1]), "waiting": _figure(foot[3])}


def read_home(html: str, ids: dict):
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    cells = {
        ids[name.strip()]: _figure(value)
        for name, value in re.findall(
            r'<th scope="row">(.*?)</th>\s*<td>.*?</td>\s*<td class="num">(.*?)</td>', body, re.S
        )
    }
    return cells, _figure(re.search(r"District total: <strong>(.*?)</strong>", html)[1])


def attack_through_the_pages(app, client, login_as, district_user) -> Attack:
    """Every release offered to a district user, read as they read it: each period and level filter's
    workbook (the page shows a part of the same figures), every way of filtering the program list,
    and the home page. The structure the attacker knows (grades taught, programs and their schools,
    the reporting groups, the concern sets present) is read from the database."""
    from sqlalchemy import select

    from school_prevention.db import utcnow
    from school_prevention.extensions import db
    from school_prevention.flags.models import FlagCategory, RiskFlag
    from school_prevention.programs.models import Program
    from school_prevention.reports.district import district_report
    from school_prevention.reports.measures import is_current, running_program
    from school_prevention.schools.models import School
    from school_prevention.students.models import Student
    from school_prevention.timezones import district_zone

    login_as(district_user)
    now, zone = utcnow(), district_zone()
    periods = offered(now, zone)
    first = district_report(periods[0], None, app.config["SP_SUPPRESSION_MIN_N"], now)
    schools = {s.sourced_id: s for s in db.session.scalars(select(School).where(School.is_active.is_(True)))}
    school_ids = {k: s.id for k, s in schools.items()}
    grades = defaultdict(set)
    for school_id, grade in db.session.execute(
        select(Student.school_id, Student.grade).where(Student.is_active.is_(True)).distinct()
    ):
        grades[school_id].add(grade or "")
    concerns = defaultdict(set)
    for student_id, category_id in db.session.execute(
        select(Student.id, RiskFlag.category_id)
        .join(RiskFlag, RiskFlag.student_id == Student.id)
        .where(Student.is_active.is_(True), is_current())
    ):
        concerns[student_id].add(str(category_id))
    school_of = dict(db.session.execute(select(Student.id, Student.school_id)).all())
    concern_sets = {
        g.key: {frozenset(cs) for sid, cs in concerns.items() if school_of[sid] in g.school_ids} for g in first.groups
    }
    running = set(db.session.scalars(select(Program.id).where(*running_program()), {"today": first.period.today}))
    programs = {
        p.id: (p.school_id, p.id in running and p.school_id in school_ids.values())
        for p in db.session.scalars(select(Program))
    }
    model = Model(
        schools={s.id: grades.get(s.id, set()) for s in schools.values()},
        groups={g.key: set(g.school_ids) for g in first.groups},
        concern_sets=concern_sets,
        programs=programs,
        capacity={},
        recent=[p.months[0] for p in first.recent],
    )
    attack = Attack(model)
    names_to_keys = {name: str(i) for i, name in db.session.execute(select(FlagCategory.id, FlagCategory.name))}
    views = [("", "all")] + [(g.key, g.key) for g in filter_choices(first.groups)]
    for period in periods:
        for level, view in views:
            response = client.get(f"/exports/district.xlsx?period={period.key}&level={level}")
            assert response.status_code == 200, (period.key, level)
            book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
            attack.read_report(read_workbook(book, period, first.groups, names_to_keys, school_ids), view)
    program_ids = {(p.name, s.name): p.id for p, s in db.session.execute(select(Program, School).join(School))}
    for query in ["show=all", "show=active", "show=inactive", *(f"show=all&school={s.id}" for s in schools.values())]:
        seats, listed, totals = read_program_list(client.get(f"/programs?{query}").get_data(as_text=True), program_ids)
        if listed:
            attack.read_programs(seats, totals, listed)
    attack.read_home(*read_home(client.get("/").get_data(as_text=True), {s.name: s.id for s in schools.values()}))
    return attack


def test_the_demo_district_gives_nothing_away(app, db_session, client, login_as):
    from sqlalchemy import select

    from school_prevention.auth.models import User
    from school_prevention.demo import seed_demo

    seed_demo()
    db_session.commit()
    attack = attack_through_the_pages(
        app, client, login_as, db_session.scalars(select(User).where(User.email == "district@demo.school")).one()
    )
    assert attack.releases > 20 and attack.targets
    assert not attack.recovered(zeros=True)


def test_the_hand_built_district_gives_nothing_away(app, db_session, client, login_as):
    from tests.support.worlds import report_district

    world = report_district()
    attack = attack_through_the_pages(app, client, login_as, world.district)
    assert attack.releases > 20 and attack.targets
    assert not attack.recovered(zeros=True)
