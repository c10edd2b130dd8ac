"""Benchmark: coverage pages and the district export at district scale, on SQLite and PostgreSQL.

    python bench/coverage.py --students 1000000 --schools 1500 [--backends sqlite,postgresql] [--runs 7]
    python bench/coverage.py --keep ...          keep the databases it makes (prints their URLs)
    python bench/coverage.py --url URL [--url URL]   measure kept databases again (two versions of the code,
                                                     the same data)

For each backend: a fresh database, `db upgrade`, then `demo generate` (timed), then a child
process that signs in through real server-side sessions and times, with the Flask test client:
- a school's page (/reports/coverage as that school's principal), over several schools;
- the district page (/reports/coverage as the district office);
- the district export, CSV and XLSX (/exports/district.csv, .xlsx).
Each is set against its floor, measured in the same process right after: the bare SQL of the
same aggregates (exactly the statements and parameters the page sends, captured once, then run
on the raw DB-API cursor with fetchall), with no ORM, no Python shaping, no template. Goals: a
school's page under 50 ms and under 3 times its floor; the district page and export under 1 s.
Both pages read the one report model (reports.figures): its statements, one after another.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
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


def vacuum(url: str) -> None:
    """PostgreSQL: a bulk load leaves the visibility map unset; VACUUM lets index-only scans be index-only."""
    if url.startswith("sqlite"):
        return
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def child(url: str, runs: int) -> None:
    """Measure in this process; print one JSON line."""
    from flask import g
    from sqlalchemy import event, func, select

    from school_prevention import audit, create_app
    from school_prevention.auth import sessions
    from school_prevention.auth.models import User, user_school
    from school_prevention.config import TestConfig
    from school_prevention.db import utcnow
    from school_prevention.extensions import db
    from school_prevention.permissions import student_scope
    from school_prevention.reports import figures, measures
    from school_prevention.reports.coverage import make_period
    from school_prevention.reports.district_data import statements as district_statements
    from school_prevention.reports.measures import Scope
    from school_prevention.reports.periods import choose, last_complete_months
    from school_prevention.students.models import Student
    from school_prevention.timezones import district_zone

    app = create_app(TestConfig(url))
    gc.collect()
    gc.freeze()  # as app.py does in each server process
    app.logger.disabled = True
    results: dict = {}
    with app.app_context():

        def client_for(user: User):
            token = sessions.start_session(user, ip="127.0.0.1", user_agent="bench")
            db.session.commit()
            c = app.test_client()
            with c.session_transaction() as s:
                s["sid"], s["_user_id"], s["_fresh"] = token, str(user.id), True
            return c

        # Ids only, then the ten users: every principal's User held in this process's one long-lived
        # session would be expired by each page's commit (thousands of objects, several ms a
        # request), a cost no real request pays (each starts with an empty session).
        principals = db.session.execute(
            select(User.id, user_school.c.school_id)
            .join(user_school, user_school.c.user_id == User.id)
            .where(User.role == "principal", User.is_active.is_(True))
            .order_by(User.id)
        ).all()
        step = max(1, len(principals) // 10)
        picked = [(db.session.get(User, user_id), school_id) for user_id, school_id in principals[::step][:10]]
        district_user = db.session.scalars(select(User).where(User.role == "district").limit(1)).one()
        size = dict(db.session.execute(select(Student.school_id, func.count()).group_by(Student.school_id)).all())
        clients = [(client_for(user), user, school_id) for user, school_id in picked]
        district = client_for(district_user)

        def timed(fn, n):
            fn()  # warm: first compile, caches
            out = []
            for _ in range(n):
                started = time.perf_counter()
                fn()
                out.append(time.perf_counter() - started)
            return out

        def get(c, path):
            # Each request starts with an empty `g`, as separate HTTP requests do (this process holds
            # one app context open, and Flask-Login caches the signed-in user in `g`).
            for name in list(vars(g)):
                delattr(g, name)
            response = c.get(path)
            assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
            return response

        # Capture the DB-API statements of a list of measures, then run them bare.
        captured: list = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        def floor_sql(measure_list):
            captured.clear()
            event.listen(db.engine, "before_cursor_execute", capture)
            try:
                measures.prepare_session()
                for m in measure_list:
                    db.session.execute(*m).all()
            finally:
                event.remove(db.engine, "before_cursor_execute", capture)
            db.session.rollback()
            return list(captured)

        def run_bare(sqls):
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for statement, parameters in sqls:
                    cursor.execute(statement, parameters)
                    if cursor.description is not None:  # SET LOCAL returns no rows
                        cursor.fetchall()
                raw.rollback()
            finally:
                raw.close()

        # A school's page, over ten schools spread through the district.
        page, floor = [], []
        for c, user, school_id in clients:
            page += timed(lambda c=c, s=school_id: get(c, f"/reports/coverage?school={s}"), runs)
            period = make_period(utcnow())
            scope = Scope(school_ids=(school_id,))
            user = db.session.get(User, user.id)
            listing = measures.uncovered_students(student_scope(user), school_id, period, limit=201)
            sqls = floor_sql([*figures.statements(scope, period).values(), listing])
            floor += timed(lambda sqls=sqls: run_bare(sqls), runs)

        # What every page that shows a child's name adds to its queries, whatever they are: its
        # audit row and the commit (on SQLite this alone is about as long as a school's aggregates).
        def audit_row():
            audit.record("bench.audit_row", actor=district_user)
            db.session.commit()

        audit_t = timed(audit_row, runs * len(clients))
        results["school"] = {
            "page_ms": _median_ms(page),
            "floor_ms": _median_ms(floor),
            "audit_ms": _median_ms(audit_t),
            "page_p90_ms": sorted(page)[int(len(page) * 0.9)] * 1000,
            "students": [size.get(s, 0) for _, _, s in clients],
        }

        # The district page, its floor, and the exports (as many runs as a school's page: on a
        # shared machine a median of three moves by a tenth of a second from one run to the next).
        page = timed(lambda: get(district, "/reports/coverage"), runs)
        now, zone = utcnow(), district_zone()
        asked = (choose(None, None, None, now, zone), last_complete_months(now, zone, 3), now, zone)
        sqls = floor_sql(list(district_statements(*asked).values()))
        floor = timed(lambda: run_bare(sqls), runs)
        # The CSV is the table of schools alone: its floor is the statements that table needs.
        table_sqls = floor_sql(list(district_statements(*asked, table_only=True).values()))
        table_floor = timed(lambda: run_bare(table_sqls), runs)
        csv_t = timed(lambda: get(district, "/exports/district.csv"), runs)
        xlsx_t = timed(lambda: get(district, "/exports/district.xlsx"), runs)
        results["district"] = {
            "page_ms": _median_ms(page),
            "floor_ms": _median_ms(floor),
            "csv_floor_ms": _median_ms(table_floor),
            "csv_ms": _median_ms(csv_t),
            "xlsx_ms": _median_ms(xlsx_t),
            "page_max_ms": max(page) * 1000,
            "csv_max_ms": max(csv_t) * 1000,
            "xlsx_max_ms": max(xlsx_t) * 1000,
        }
        results["load"] = os.getloadavg()
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1_000_000)
    parser.add_argument("--schools", type=int, default=1500)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="Keep the databases (prints their URLs).")
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        help="Measure a database kept by --keep instead of making one (repeat for each backend): the same data"
        " for two versions of the code.",
    )
    parser.add_argument("--child", nargs=2, metavar=("URL", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    print(
        f"{args.students:,} students in {args.schools:,} schools; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at start (other work on the machine shows here)"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        for backend in args.url or args.backends.split(","):
            kept = backend in args.url
            url = backend if kept else new_database(backend, Path(tmp_name if not args.keep else tempfile.gettempdir()))
            backend = "sqlite" if url.startswith("sqlite") else "postgresql"
            generated = 0.0
            try:
                if not kept:
                    flask(url, "db", "upgrade")
                    started = time.perf_counter()
                    flask(url, "demo", "generate", "--students", str(args.students), "--schools", str(args.schools))
                    generated = time.perf_counter() - started
                vacuum(url)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", url, str(args.runs)],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONWARNINGS": "ignore"},
                )
                if out.returncode:
                    sys.exit(f"measurement failed on {backend}:\n{out.stderr[-3000:]}")
                r = json.loads(out.stdout.strip().splitlines()[-1])
            finally:
                if args.keep:
                    print(f"  kept {url}")
                elif not kept:
                    drop_database(url)
            s, d = r["school"], r["district"]
            made = f"generated in {generated:.1f} s" if not kept else f"kept database {url}"
            print(f"\n{backend}: {made}; load average during the run {r['load'][0]:.2f}")
            # The page must write its audit row (it names students): the floor is the bare SQL plus that row.
            floor = s["floor_ms"] + s["audit_ms"]
            print(
                f"  school page    {s['page_ms']:7.1f} ms median (p90 {s['page_p90_ms']:.1f})  floor {floor:6.1f} ms"
                f"  x{s['page_ms'] / floor:.1f}   [schools of {min(s['students'])}-{max(s['students'])} students]"
                f"   goal < 50 ms and < x3"
            )
            print(
                f"                 floor = bare SQL {s['floor_ms']:.1f} ms + its required audit row and commit"
                f" {s['audit_ms']:.1f} ms"
            )
            print(
                f"  district floor {d['floor_ms']:7.1f} ms (its statements one after another, bare;"
                f" the CSV's, the table alone: {d['csv_floor_ms']:.1f} ms)"
            )
            for label, key, floor_key in (
                ("district page ", "page", "floor_ms"),
                ("export CSV    ", "csv", "csv_floor_ms"),
                ("export XLSX   ", "xlsx", "floor_ms"),
            ):
                print(
                    f"  {label} {d[key + '_ms']:7.1f} ms median (max {d[key + '_max_ms']:6.1f})"
                    f"  x{d[key + '_ms'] / d[floor_key]:.1f} its floor   goal < 1000 ms"
                )


if __name__ == "__main__":
    main()
