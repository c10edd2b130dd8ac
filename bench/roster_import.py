"""Benchmark: import a generated OneRoster set on SQLite and PostgreSQL; rows/s and peak memory.

    python bench/roster_import.py --students 1000000 [--backends sqlite,postgresql]

Each measurement runs in a fresh child process (so peak memory is that run's own), against a
fresh database. The floor is measured in the same run on the same files: reading every users.csv
row with the csv module (the least any import must do), and a bare executemany INSERT of the same
student rows with no validation. Ratios are printed against both.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.databases import drop_database, new_database  # noqa: E402
from tests.support.roster_files import ORG_HEADER, USER_HEADER  # noqa: E402 (the OneRoster columns the tests write)

GRADES = ["KG"] + [f"{n:02d}" for n in range(1, 13)]


def generate(folder: Path, students: int, schools: int) -> None:
    """Write manifest.csv, orgs.csv and users.csv for a synthetic district (streamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(
            [
                ["propertyName", "value"],
                ["manifest.version", "1.0"],
                ["oneroster.version", "1.1"],
                ["file.orgs", "bulk"],
                ["file.users", "bulk"],
                ["file.demographics", "absent"],
            ]
        )
    with open(folder / "orgs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ORG_HEADER)
        w.writerow(["district", "", "", "Bench District", "district", "D1", ""])
        for i in range(schools):
            w.writerow([f"sch-{i}", "", "", f"School {i} Middle", "school", f"S{i}", "district"])
    with open(folder / "users.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(USER_HEADER)
        for n in range(students):
            w.writerow(
                [
                    f"stu-{n}",
                    "",
                    "",
                    "true",
                    f"sch-{n % schools}",
                    "student",
                    f"s{n}@example.org",
                    "",
                    f"Given{n % 997}",
                    f"Family{n % 1499}",
                    "",
                    f"{1000000 + n}",
                    "",
                    "",
                    "",
                    "",
                    GRADES[n % len(GRADES)],
                    "",
                ]
            )


def child(task: str, url: str, folder: str) -> None:
    """Run one measured task in this (child) process and print a JSON line."""
    from school_prevention import create_app
    from school_prevention.config import TestConfig
    from school_prevention.extensions import db

    app = create_app(TestConfig(url))
    with app.app_context():
        if task == "migrate":
            import flask_migrate

            flask_migrate.upgrade(directory=app.extensions["migrate"].directory)
            print(json.dumps({"ok": True}))
            return
        started = time.perf_counter()
        if task == "parse":
            with open(Path(folder) / "users.csv", newline="", encoding="utf-8-sig") as fh:
                rows = sum(1 for _ in csv.DictReader(fh))
        elif task == "bare_insert":
            from sqlalchemy import select

            from school_prevention.db import utcnow
            from school_prevention.schools.models import School
            from school_prevention.students.models import Student

            school_id = db.session.scalar(select(School.id).limit(1))
            now, rows, batch = utcnow(), 0, []
            with open(Path(folder) / "users.csv", newline="", encoding="utf-8-sig") as fh:
                for r in csv.DictReader(fh):
                    batch.append(
                        {
                            "sourced_id": "bare-" + r["sourcedId"],
                            "school_id": school_id,
                            "given_name": r["givenName"],
                            "family_name": r["familyName"],
                            "grade": r["grades"],
                            "identifier": r["identifier"],
                            "is_active": True,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                    if len(batch) == 2000:
                        db.session.execute(Student.__table__.insert(), batch)
                        rows += len(batch)
                        batch = []
            if batch:
                db.session.execute(Student.__table__.insert(), batch)
                rows += len(batch)
            db.session.rollback()
        else:
            from school_prevention.roster.services import import_roster, start_run

            run = start_run(None, folder, dry_run=False)
            report = import_roster(run.id, folder, dry_run=False, allow_mass_deactivation=False)
            assert not report.rejected and not report.refused, report.as_dict()
            rows = (
                report.counts.get("students_created", 0)
                + report.counts.get("students_unchanged", 0)
                + report.counts.get("students_updated", 0)
            )
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


def measure(task: str, url: str, folder: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", task, url, str(folder)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if out.returncode:
        sys.exit(f"{task} failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1_000_000)
    parser.add_argument("--schools", type=int, default=1500)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--child", nargs=3, metavar=("TASK", "URL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        generate(tmp / "set", args.students, args.schools)
        print(
            f"generated {args.students:,} students in {args.schools:,} schools in {time.perf_counter() - started:.1f} s"
        )
        for backend in args.backends.split(","):
            url = new_database(backend, tmp)
            try:
                measure("migrate", url, tmp / "set")
                parse = measure("parse", url, tmp / "set")
                first = measure("import", url, tmp / "set")
                again = measure("import", url, tmp / "set")
                bare = measure("bare_insert", url, tmp / "set")
            finally:
                drop_database(url)
            parse_rate = parse["rows"] / parse["seconds"]
            bare_rate = bare["rows"] / bare["seconds"]
            print(f"\n{backend}:")
            print(f"  floor: csv parse only        {parse_rate:>10,.0f} rows/s")
            print(f"  floor: bare executemany      {bare_rate:>10,.0f} rows/s  peak {bare['peak_mb']:.0f} MB")
            for label, r in (("first import", first), ("unchanged re-import", again)):
                rate = r["rows"] / r["seconds"]
                print(
                    f"  {label:<28}{rate:>10,.0f} rows/s  {r['seconds']:.1f} s  peak {r['peak_mb']:.0f} MB  "
                    f"(x{parse_rate / rate:.1f} of parse floor, x{bare_rate / rate:.2f} of insert floor)"
                )


if __name__ == "__main__":
    main()
