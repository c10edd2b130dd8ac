"""A district account that tries to work out what the district's pages and exports withhold.

It reads every release it is offered (each reporting period, each level filter, the district page
and its downloads, the program list, the home page), writes every figure it sees as a linear
equation over the counts the figure is made of, and asks exact linear algebra (tests/support/linear.py)
which withheld figure follows from all of them together: any answer is a failure.

The counts ("atoms") are those of the district itself, with what a district account may know about
its structure: which grades each school teaches, which school runs each program and whether it is
running, and the weeks of every period. Per flagged student: school, grade, highest severity and
coverage (both, program only, plan only, neither); per concern the students who have it. Their
values never matter: only which figures are published and which are withheld.

- x(school, grade, severity, state): flagged students; u(school, grade): students not flagged;
- z(group, state, concerns): flagged students of a group by the set of concerns they have (the
  concern lines count a student once per concern). Only concern sets some student of the group has
  are atoms: an attacker who knows that much more is only stronger;
- e(program, status): seats taken or waitlisted;
- c(school, week, kept): check-ins due in a week, kept on time or not;
- f(school, week), n(school, week): flags opened, students seated;
- t(school, state): staff current, due for renewal, lapsed or never trained;
- o(school): flagged students an outside agency supports. No published figure counts the flagged
  students it does not support, so no equation joins them to x: a family of their own.

The concern sets and the rest of a group's flagged students meet in one fact the attacker knows:
they are the same students (per group and coverage state, both add up to the same number).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from itertools import chain

from school_prevention.reports.coverage import NA
from school_prevention.reports.district import COVERAGE, SUPPRESSED
from school_prevention.reports.periods import ReportingPeriod, month_bounds
from tests.support.linear import Span

STATES = ("both", "program_only", "plan_only", "neither")
STATES_OF = {
    "flagged_students": STATES,
    "flagged_program_and_plan": ("both",),
    "flagged_program_only": ("program_only",),
    "flagged_plan_only": ("plan_only",),
    "flagged_uncovered": ("neither",),
    "flagged_in_program": ("both", "program_only"),
    "flagged_with_plan": ("both", "plan_only"),
}
SEVERITIES = ("1", "2", "3", "4")
TRAINING_STATES = ("staff_current", "staff_due", "staff_lapsed", "staff_untrained")
SHARES = {  # share column -> (numerator column, denominator column)
    "share_flagged": ("flagged_students", "active_students"),
    "share_in_program": ("flagged_in_program", "flagged_students"),
    "share_with_plan": ("flagged_with_plan", "flagged_students"),
    "share_uncovered": ("flagged_uncovered", "flagged_students"),
    "share_on_time_30d": ("checkins_on_time_30d", "checkins_due_30d"),
    "share_on_time_90d": ("checkins_on_time_90d", "checkins_due_90d"),
    "share_on_time_period": ("checkins_on_time_period", "checkins_due_period"),
}
COUNTS = (
    *STATES_OF,
    "active_students",
    "checkins_due_30d",
    "checkins_on_time_30d",
    "checkins_due_90d",
    "checkins_on_time_90d",
    "checkins_due_period",
    "checkins_on_time_period",
    "program_enrolled",
    "program_waitlisted",
    "flagged_outside_support",
)


def mondays(months) -> list[date]:
    """The Mondays of the weeks of some reporting months."""
    out = []
    for m in months:
        start, end = month_bounds(m)
        out += [start + timedelta(days=7 * i) for i in range(((end - start).days + 1) // 7)]
    return out


@dataclass
class Model:
    """What the attacker knows of the district's structure."""

    schools: dict  # school id -> set of grade keys taught ("" for students without a grade)
    groups: dict  # group key -> school ids (the district's reporting groups)
    concern_sets: dict  # group key -> set of frozensets of concern keys some flagged student has
    programs: dict  # program id -> (school id, running)
    capacity: dict  # program id -> seats
    recent: list  # the last three months that are over, (year, month), oldest first

    def group_of(self, school_id):
        return next(k for k, ids in self.groups.items() if school_id in ids)

    def view(self, key):
        """The schools of a view: a group, or 'all'."""
        return sorted(chain.from_iterable(self.groups.values())) if key == "all" else list(self.groups[key])

    # --- atoms -------------------------------------------------------------------------------
    def students(self, schools, column, grades=None, severities=SEVERITIES):
        """The atoms of a student count over some schools (and grades, severities)."""
        out = {}
        for s in schools:
            for g in self.schools[s]:
                if grades is not None and g not in grades:
                    continue
                if column == "active_students" or column == "active":
                    out[("u", s, g)] = 1
                    states = STATES
                else:
                    states = STATES_OF[column]
                for sev in severities:
                    for st in states:
                        out[("x", s, g, sev, st)] = 1
        return out

    def concern(self, groups, key, column):
        return {
            ("z", g, st, cs): 1
            for g in groups
            for cs in self.concern_sets.get(g, ())
            if key in cs
            for st in STATES_OF[column]
        }

    def checkins(self, schools, months, kept_only):
        return {("c", s, w, k): 1 for s in schools for w in mondays(months) for k in ((1,) if kept_only else (0, 1))}

    def structure(self):
        """Facts known without any release: a group's flagged students are the same counted either way."""
        for g, ids in self.groups.items():
            for st in STATES:
                eq = {("x", s, gr, sev, st): 1 for s in ids for gr in self.schools[s] for sev in SEVERITIES}
                eq.update({("z", g, st, cs): -1 for cs in self.concern_sets.get(g, ())})
                yield eq

    def row(self, schools, column, period: ReportingPeriod):
        """A count of the schools' table (a school's row or a total row)."""
        if column in STATES_OF or column == "active_students":
            return self.students(schools, column)
        if column.startswith("checkins_"):
            months = {"30d": self.recent[-1:], "90d": self.recent, "period": list(period.months)}[
                column.rsplit("_", 1)[1]
            ]
            return self.checkins(schools, months, "on_time" in column)
        if column == "flagged_outside_support":
            return {("o", s): 1 for s in schools}
        status = "active" if column == "program_enrolled" else "waitlisted"
        return {("e", p, status): 1 for p, (s, running) in self.programs.items() if s in schools and running}


@dataclass
class Attack:
    """Everything seen: equations (published figures) and targets (withheld ones), by figure."""

    model: Model
    equations: dict = field(default_factory=dict)  # figure -> vector
    targets: dict = field(default_factory=dict)  # figure -> vector
    releases: int = 0
    zeros: set = field(default_factory=set)  # atoms of counts published as 0

    def see(self, figure, vector: dict, value) -> None:
        """One figure of a page or file: a count, or S."""
        if value is SUPPRESSED or value == SUPPRESSED:
            self.targets[figure] = vector
        elif value is not NA and value not in ("", None):
            self.equations[figure] = vector
            if value == 0:
                self.zeros.update(vector)

    def see_share(self, figure, numerator: dict, denominator: dict, value) -> None:
        """A share: numerator - share x denominator = 0; "not applicable" says the denominator is 0."""
        if value is SUPPRESSED or value == SUPPRESSED:
            return
        if value is NA or value == "":
            self.equations[figure] = denominator
            return
        r = Fraction(value).limit_denominator(100_000)
        if r == 0:
            self.zeros.update(numerator)
        eq = dict(numerator)
        for k, c in denominator.items():
            eq[k] = eq.get(k, 0) - r * c
        self.equations[figure] = {k: c for k, c in eq.items() if c}

    def recovered(self, zeros: bool = False) -> list:
        """The withheld figures that follow from everything seen (each family of atoms on its own).

        zeros=True: also use that counts are never negative, so every count inside a figure
        published as 0 is 0 (a stronger attacker than linear algebra alone).
        """
        known = self.zeros if zeros else set()

        def strip(vector):
            return {k: c for k, c in vector.items() if k not in known}

        spans: dict[str, Span] = defaultdict(Span)
        for vector in chain(self.model.structure(), self.equations.values()):
            vector = strip(vector)
            if vector:
                spans[_family(vector)].add(vector)
        out = []
        for figure, vector in self.targets.items():
            vector = strip(vector)
            if not vector or spans[_family(vector)].holds(vector):
                out.append(figure)
        return sorted(out, key=repr)

    def size(self) -> tuple[int, int, int]:
        """(equations, withheld figures, unknowns) seen."""
        atoms = set().union(*self.equations.values(), *self.targets.values()) if self.equations else set()
        return len(self.equations), len(self.targets), len(atoms)

    # --- what a release shows ------------------------------------------------------------------
    def read_report(self, report, view: str) -> None:
        """Every figure of a district report, as the page and its downloads show it."""
        m, period = self.model, report.reporting
        self.releases += 1
        for row in [*report.rows, report.totals]:
            schools = [row["school_id"]] if row["row_type"] == "school" else m.view(view)
            where = ("school", row["school_id"]) if row["row_type"] == "school" else ("total", view)
            for column in COUNTS:
                key = (*where, column, period.key if column.endswith("_period") else "")
                self.see(key, m.row(schools, column, period), row[column])
            for column, (num, den) in SHARES.items():
                key = (*where, column, period.key if column.endswith("_period") else "")
                self.see_share(key, m.row(schools, num, period), m.row(schools, den, period), row[column])
            # supported outside / flagged: shown only when both are (derive()), so it adds nothing to them
            if row["share_outside_support"] not in (NA, SUPPRESSED):
                assert SUPPRESSED not in (row["flagged_outside_support"], row["flagged_students"]), where
            if row["share_seats_filled"] is not NA:  # taken / seats, seats being known
                self.see_share(
                    (*where, "share_seats_filled"),
                    m.row(schools, "program_enrolled", period),
                    {},
                    row["share_seats_filled"],
                )
            if row["students_per_counselor"] not in (NA, SUPPRESSED):
                # active / FTE, rounded: with the FTE known, the active students are known (the
                # page shows it only when it shows them).
                self.see(
                    (*where, "students_per_counselor"),
                    m.row(schools, "active_students", period),
                    row["active_students"],
                )
        groups = [view] if view != "all" else list(m.groups)
        for dim, lines in report.breakdowns.items():
            for line in lines:
                key = line["key"]
                for column in (*COVERAGE, "flagged_in_program", "flagged_with_plan"):
                    if dim == "category":
                        vector = m.concern(groups, key, column)
                    elif dim == "grade":
                        vector = m.students(m.view(view), column, grades={key})
                    else:
                        vector = m.students(m.view(view), column, severities=(key,))
                    self.see(("line", view, dim, key, column), vector, line[column])
                if dim == "grade":
                    self.see(
                        ("line", view, dim, key, "active"),
                        m.students(m.view(view), "active", grades={key}),
                        line["active_students"],
                    )
        # A line that is not listed says its counts are all 0, unless the breakdown says it is not shown.
        apart = {s for g in report.grades_apart for s in g.school_ids}
        universe = {
            "severity": set(SEVERITIES),
            "category": {k for g in groups for cs in m.concern_sets.get(g, ()) for k in cs},
            "grade": {gr for s in m.view(view) for gr in m.schools[s]} - {gr for s in apart for gr in m.schools[s]},
        }
        for dim, keys in universe.items():
            for key in keys - {line["key"] for line in report.breakdowns[dim]}:
                for column in (*COVERAGE, "active") if dim == "grade" else COVERAGE:
                    if dim == "category":
                        vector = m.concern(groups, key, column)
                    elif dim == "grade":
                        vector = m.students(m.view(view), column, grades={key})
                    else:
                        vector = m.students(m.view(view), column, severities=(key,))
                    self.see(("line", view, dim, key, column), vector, 0)
        schools = m.view(view)
        for week in report.weeks:
            monday = week["start"]
            due = {("c", s, monday, k): 1 for s in schools for k in (0, 1)}
            kept = {("c", s, monday, 1): 1 for s in schools}
            self.see(("week", view, monday, "due"), due, week["checkins_due"])
            self.see(("week", view, monday, "kept"), kept, week["checkins_on_time"])
            self.see_share(("week", view, monday, "share"), kept, due, week["share_on_time"])
            self.see(("week", view, monday, "flags"), {("f", s, monday): 1 for s in schools}, week["flags_opened"])
            self.see(
                ("week", view, monday, "seated"), {("n", s, monday): 1 for s in schools}, week["enrollments_started"]
            )

    def read_programs(self, seats: dict, totals: dict, listed) -> None:
        """The program list: seats taken and waitlisted per program, free seats, and the totals."""
        self.releases += 1
        for pid in listed:
            taken, waiting = seats[pid]
            self.see(("program", pid, "taken"), {("e", pid, "active"): 1}, taken)
            self.see(("program", pid, "waiting"), {("e", pid, "waitlisted"): 1}, waiting)
        key = tuple(sorted(listed))  # totals the list leaves out (None) are no figure at all
        self.see(("programs", key, "taken"), {("e", p, "active"): 1 for p in listed}, totals["active"])
        self.see(("programs", key, "waiting"), {("e", p, "waitlisted"): 1 for p in listed}, totals["waiting"])

    def read_training(self, table, view: str) -> None:
        """The staff training table (page and workbook): staff per school by state, totals, share trained."""
        self.releases += 1
        states = {"staff": TRAINING_STATES, **{c: (c,) for c in TRAINING_STATES}}
        for row in [*table.rows, table.totals]:
            schools = [row["school_id"]] if row["row_type"] == "school" else self.model.view(view)
            where = ("school", row["school_id"]) if row["row_type"] == "school" else ("total", view)
            for column, kinds in states.items():
                self.see((*where, column), {("t", s, k): 1 for s in schools for k in kinds}, row[column])
            trained = {("t", s, k): 1 for s in schools for k in ("staff_current", "staff_due")}
            staff = {("t", s, k): 1 for s in schools for k in TRAINING_STATES}
            share = row["share_staff_trained"]
            self.see_share((*where, "share_staff_trained"), trained, staff, NA if share is None else share)

    def read_home(self, cells: dict, total) -> None:
        """The district home page: active students per school, and the district's."""
        self.releases += 1
        for school_id, value in cells.items():
            self.see(
                ("school", school_id, "active_students", ""), self.model.students([school_id], "active_students"), value
            )
        self.see(
            ("total", "all", "active_students", ""),
            self.model.students(self.model.view("all"), "active_students"),
            total,
        )


def _family(vector: dict) -> str:
    kind = next(iter(vector))[0]
    return "students" if kind in "xzu" else kind
