"""Benchmark: the reminder sweep (`checkins.remind`) at district scale, against its bare SQL.

    python bench/sweeps.py --students 1000000 --schools 1500 [--backends postgresql,sqlite] [--runs 7]
    python bench/sweeps.py --url DATABASE_URL   # a district generated already

For each backend: a fresh database, `db upgrade`, `demo generate` (timed), then in a child process:
1. History: the sweep as the scheduler ran it over the last days (every few hours, then every
   5 minutes for the last hour), so the notification table holds what a live district has.
2. Steady state: one sweep every 5 minutes of the job's clock, `runs` times. Before each timed
   sweep, the same sweep is run once with every statement it sends to the database captured
   (statement and parameters, as the driver gets them) and rolled back; those statements are then
   replayed on a raw DB-API cursor with fetchall and rolled back: the floor, measured right there
   on the same data. Then the sweep itself runs, timed up to its commit (the floor has none either;
   the commit follows, untimed, so the next sweep sees its rows).
It prints per backend: the sweep's median and the floor's median (ms), their ratio (goal: at most 2),
the rows each sweep offered to INSERT and how many were new (goal: no row offered that exists).

Figures (2026-12-03, this 2-core machine shared with other work, load average 9 to 15, so absolute
times are noisy; the ratio is taken in the same run). 1,000,000 students, 1,500 schools, 89,140
scheduled check-ins, about 21,000 notifications after 19 earlier sweeps:
- PostgreSQL: 209 ms against a floor of 174 ms (ratio 1.20); rows offered per sweep 0, 0, 304, 0, 0, 278, 0,
  each one new. SQLite: 470 ms against 300 ms (ratio 1.57); rows offered 0, 274, 0, 0, 284, 0, 0, each new.
- The sweep before issue 16 (main's checkins/jobs.py, run by this same harness on another generated
  1,000,000-student PostgreSQL district): 5,095 ms against a floor of 3,270 ms (its floor includes the
  INSERTs it sends), offering about 17,000 rows to INSERT per sweep (16,856 to 17,030) of which 0 to
  266 were new. The new sweep on that same database: 127 ms against 91 ms (ratio 1.39).
At 100,000 students the ratio is above 2 (PostgreSQL 96.6 ms against 43.7 ms, 2.21; SQLite 63.2 ms
against 19.1 ms, 3.31, with the load average at 15): there SQLAlchemy's fixed cost of building and
running seven or eight statements weighs more than the small queries. The goal is set at 1M.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.databases import drop_database, new_database  # noqa: E402


def flask(url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def child(url: str, runs: int) -> None:
    """Measure in this process; print one JSON line."""
    from sqlalchemy import event, func, select

    from school_prevention import create_app
    from school_prevention.checkins.jobs import remind
    from school_prevention.checkins.models import CheckIn
    from school_prevention.config import TestConfig
    from school_prevention.db import utcnow
    from school_prevention.extensions import db
    from school_prevention.notifications.models import Notification

    app = create_app(TestConfig(url))
    app.logger.disabled = True
    out: dict = {}
    with app.app_context():
        engine = db.engine
        start = utcnow().replace(second=0, microsecond=0)
        out["scheduled_checkins"] = db.session.scalar(
            select(func.count()).select_from(CheckIn).where(CheckIn.status == "scheduled")
        )

        started = time.perf_counter()
        history = [start - timedelta(hours=h) for h in (72, 48, 24, 12, 6, 3, 2)]
        history += [start - timedelta(minutes=m) for m in range(60, 0, -5)]
        for at in history:
            remind(at)
            db.session.commit()
        out["history_sweeps"], out["history_s"] = len(history), round(time.perf_counter() - started, 1)
        out["notifications"] = db.session.scalar(select(func.count()).select_from(Notification))

        captured: list = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            # A batch of "insertmanyvalues" is flagged executemany but sent as one execute of a
            # multi-row VALUES with one set of parameters: replay it the way the driver got it.
            many = (
                executemany
                and isinstance(parameters, (list, tuple))
                and bool(parameters)
                and isinstance(parameters[0], (list, tuple, dict))
            )
            captured.append((statement, parameters, many))

        def floor_statements(at):
            captured.clear()
            event.listen(engine, "before_cursor_execute", capture)
            try:
                remind(at)
            finally:
                event.remove(engine, "before_cursor_execute", capture)
                db.session.rollback()
            return list(captured)

        def bare(statements) -> float:
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                began = time.perf_counter()
                for statement, parameters, many in statements:
                    if many:
                        cursor.executemany(statement, parameters)
                    else:
                        cursor.execute(statement, parameters)
                        if cursor.description is not None:
                            cursor.fetchall()
                took = time.perf_counter() - began
                raw.rollback()
                return took
            finally:
                raw.close()

        def offered(statements) -> int:
            """Rows the sweep's INSERTs carried: parameters sent / columns named (multi-row VALUES)."""
            total = 0
            for statement, parameters, many in statements:
                head = statement.lstrip()
                if head.upper().startswith("INSERT INTO NOTIFICATION"):
                    columns = head.split("(", 1)[1].split(")", 1)[0].count(",") + 1
                    sets = parameters if many else [parameters]
                    total += sum(len(p) for p in sets) // columns
            return total

        sweep, floor, offered_rows, new_rows = [], [], [], []
        for i in range(runs + 1):
            at = start + timedelta(minutes=5 * i)
            statements = floor_statements(at)
            floor_s = bare(statements)
            began = time.perf_counter()
            made = remind(at)
            took = time.perf_counter() - began
            db.session.commit()
            if i == 0:
                continue  # warm: first compile, caches
            sweep.append(took)
            floor.append(floor_s)
            offered_rows.append(offered(statements))
            new_rows.append(made)
            out.setdefault("statements", len(statements))
        out["sweep_ms"] = round(statistics.median(sweep) * 1000, 1)
        out["floor_ms"] = round(statistics.median(floor) * 1000, 1)
        out["ratio"] = round(out["sweep_ms"] / out["floor_ms"], 2) if out["floor_ms"] else None
        out["rows_offered_per_sweep"] = offered_rows
        out["rows_new_per_sweep"] = new_rows
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--schools", type=int, default=150)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--url", help="measure on this database as it is (already generated; it keeps the sweeps' rows)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child or args.url:
        child(args.child or args.url, args.runs)
        return
    results = {}
    with tempfile.TemporaryDirectory(prefix="sp-bench-sweeps-") as tmp:
        for backend in args.backends.split(","):
            url = new_database(backend, Path(tmp))
            try:
                flask(url, "db", "upgrade")
                began = time.perf_counter()
                flask(url, "demo", "generate", "--students", str(args.students), "--schools", str(args.schools))
                generated = round(time.perf_counter() - began, 1)
                env = {**os.environ, "PYTHONWARNINGS": "ignore"}
                line = (
                    subprocess.run(
                        [sys.executable, __file__, "--child", url, "--runs", str(args.runs)],
                        cwd=ROOT,
                        env=env,
                        check=True,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
                results[backend] = {"students": args.students, "generate_s": generated, **json.loads(line)}
            finally:
                drop_database(url)
            r = results[backend]
            print(
                f"{backend}: {args.students:,} students, generated in {r['generate_s']} s; "
                f"{r['scheduled_checkins']:,} scheduled check-ins, {r['notifications']:,} notifications after "
                f"{r['history_sweeps']} earlier sweeps; checkins.remind {r['sweep_ms']} ms against its bare SQL "
                f"{r['floor_ms']} ms ({r['statements']} statements): ratio {r['ratio']} (goal <= 2); rows offered to "
                f"INSERT per sweep {r['rows_offered_per_sweep']}, new {r['rows_new_per_sweep']}",
                flush=True,
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
