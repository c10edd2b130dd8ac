"""Benchmark: the caseload (the filtered, sorted student list) and the counselor's home at district scale.

    python bench/caseload.py --students 100000 --schools 50 [--backends sqlite,postgresql] [--runs 5]

For each backend: a fresh database, `db upgrade`, `demo generate`, then a child process that signs
in the counselors of the largest schools through real server-side sessions and times, with the
Flask test client, each list below and the home page. Each is set against its floor, measured in
the same process right after: the SELECT statements that very request sent (captured, with their
parameters), run bare on the raw DB-API cursor with fetchall, plus the audit row and commit every
page that names a student must write. Goal: each page under 150 ms and under 3 times its floor.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.coverage import flask, vacuum  # noqa: E402
from bench.databases import drop_database, new_database  # noqa: E402

PAGES = {
    "list by name": "/students",
    "most severe first": "/students?sort=severity",
    "flagged, longest unseen": "/students?flag_status=current&sort=last_contact",
    "urgent, no plan": "/students?severity=urgent&plan=none",
    "overdue check-ins": "/students?checkins=overdue",
    "not covered": "/students?flag_status=current&program=none&plan=not_kept&sort=severity",
    "counselor home": "/",
}
GOAL_MS, GOAL_RATIO = 150, 3


def child(url: str, runs: int) -> None:
    """Measure in this process; print one JSON line."""
    from flask import g
    from sqlalchemy import event, func, select

    from school_prevention import audit, create_app
    from school_prevention.auth import sessions
    from school_prevention.auth.models import User, user_school
    from school_prevention.config import TestConfig
    from school_prevention.extensions import db
    from school_prevention.students.models import Student

    app = create_app(TestConfig(url))
    app.logger.disabled = True
    results: dict = {"pages": {}}
    with app.app_context():
        size = dict(db.session.execute(select(Student.school_id, func.count()).group_by(Student.school_id)).all())
        largest = sorted(size, key=size.get, reverse=True)[:5]
        counselor_ids = db.session.execute(
            select(func.min(User.id), user_school.c.school_id)
            .join(user_school, user_school.c.user_id == User.id)
            .where(User.role == "counselor", user_school.c.school_id.in_(largest))
            .group_by(user_school.c.school_id)
        ).all()

        def client_for(user_id: int):
            token = sessions.start_session(db.session.get(User, user_id), ip="127.0.0.1", user_agent="bench")
            db.session.commit()
            c = app.test_client()
            with c.session_transaction() as s:
                s["sid"], s["_user_id"], s["_fresh"] = token, str(user_id), True
            return c

        clients = [client_for(user_id) for user_id, _ in counselor_ids]
        actor = db.session.get(User, counselor_ids[0][0])
        captured: list = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith(("SELECT", "WITH")):
                captured.append((statement, parameters))

        def get(c, path):
            for name in list(vars(g)):  # each request starts with an empty `g`, as separate HTTP requests do
                delattr(g, name)
            response = c.get(path)
            assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])

        def timed(fn, n):
            fn()  # warm: first compile, caches
            out = []
            for _ in range(n):
                started = time.perf_counter()
                fn()
                out.append(time.perf_counter() - started)
            return out

        def run_bare(sqls):
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for statement, parameters in sqls:
                    cursor.execute(statement, parameters)
                    cursor.fetchall()
                raw.rollback()
            finally:
                raw.close()

        def audit_row():
            audit.record("bench.audit_row", actor=actor)
            db.session.commit()

        audit_ms = statistics.median(timed(audit_row, runs * len(clients))) * 1000
        for name, path in PAGES.items():
            page, floor = [], []
            for c in clients:
                page += timed(lambda c=c, path=path: get(c, path), runs)
                captured.clear()
                event.listen(db.engine, "before_cursor_execute", capture)
                try:
                    get(c, path)
                finally:
                    event.remove(db.engine, "before_cursor_execute", capture)
                sqls = list(captured)
                floor += timed(lambda sqls=sqls: run_bare(sqls), runs)
            results["pages"][name] = {
                "page_ms": statistics.median(page) * 1000,
                "p90_ms": sorted(page)[int(len(page) * 0.9)] * 1000,
                "floor_ms": statistics.median(floor) * 1000 + audit_ms,
                "statements": len(sqls),
            }
        results["students"] = [size[s] for s in largest]
        results["audit_ms"] = audit_ms
        results["load"] = os.getloadavg()
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--schools", type=int, default=50)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("URL", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    print(
        f"{args.students:,} students in {args.schools:,} schools; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at start (other work on the machine shows here)"
    )
    failed = False
    with tempfile.TemporaryDirectory() as tmp_name:
        for backend in args.backends.split(","):
            url = new_database(backend, Path(tmp_name))
            try:
                flask(url, "db", "upgrade")
                flask(url, "demo", "generate", "--students", str(args.students), "--schools", str(args.schools))
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
                drop_database(url)
            print(
                f"\n{backend}: counselors of schools of {min(r['students'])}-{max(r['students'])} students; "
                f"load average during the run {r['load'][0]:.2f}; floor = the page's own SELECTs run bare "
                f"+ its audit row and commit ({r['audit_ms']:.1f} ms)"
            )
            for name, p in r["pages"].items():
                ratio = p["page_ms"] / p["floor_ms"]
                ok = p["page_ms"] < GOAL_MS and ratio < GOAL_RATIO
                failed |= not ok
                print(
                    f"  {name:26} {p['page_ms']:7.1f} ms median (p90 {p['p90_ms']:6.1f})  floor {p['floor_ms']:6.1f} ms"
                    f"  x{ratio:.1f}  {p['statements']} SELECTs  {'ok' if ok else 'MISSED'}"
                    f"   goal < {GOAL_MS} ms and < x{GOAL_RATIO}"
                )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
