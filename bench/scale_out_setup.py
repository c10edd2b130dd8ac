"""bench/scale_out.py's district: a throwaway database and its app role, accounts, who signs in as whom, the roster file."""

from __future__ import annotations

import csv
import http.client
import io
import json
import random
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlencode

from bench.databases import PG_ADMIN
from tests.support.roster_files import USER_HEADER  # the OneRoster columns the tests write

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "lantern-harbor-meadow-42"  # the demo accounts' password (README); bench accounts use it too


def flask_cli(env: dict, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return out.stdout


BENCH_ACCOUNTS = """
import json, sys
from app import app
from school_prevention.auth.services import create_user
from school_prevention.extensions import db
from school_prevention.schools.models import School
from sqlalchemy import select
with app.app_context():
    for email, role, school_sid in json.loads(sys.argv[1]):
        schools = [db.session.scalars(select(School.id).where(School.sourced_id == school_sid)).one()] if school_sid else []
        create_user(None, email=email, name=email.split("@")[0].replace(".", " ").title(), role=role,
                    password=sys.argv[2], school_ids=schools, must_change_password=False)
    db.session.commit()
"""


def make_accounts(env: dict, accounts: list[tuple[str, str, str | None]]) -> None:
    """Staff of generated schools and accounts nobody else uses for the sign-in limit checks."""
    out = subprocess.run(
        [sys.executable, "-c", BENCH_ACCOUNTS, json.dumps(accounts), PASSWORD],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise SystemExit("creating the benchmark's accounts failed:\n" + out.stderr[-4000:])


def grant_app_role(owner_url: str, role: str, env: dict) -> str:
    """A login role that owns nothing, given what the app needs as README says; its URL.

    The role and its right to connect come from the administrative user; the grants on the tables
    from the owner, with `flask --app app database grant-app-role` (append-only audit rows).
    """
    import sqlalchemy as sa

    url = sa.engine.make_url(owner_url)
    engine = sa.create_engine(owner_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(sa.text(f'GRANT CONNECT, TEMPORARY ON DATABASE "{url.database}" TO "{role}"'))
    engine.dispose()
    flask_cli(env, "database", "grant-app-role", role)
    return url.set(username=role, password=None).render_as_string(hide_password=False)


def create_database(name: str) -> str:
    """An empty database owned by the administrative user of SP_TEST_POSTGRES_URL; its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def drop_database_and_role(name: str, role: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
    engine.dispose()


def plan_from_database(
    owner_url: str, tmp: Path, staff: list[str], guess_targets: list[str], new_students: int
) -> dict:
    """Who signs in as whom, which students each counselor opens, and the roster export to upload."""
    import sqlalchemy as sa

    rng = random.Random(2026)
    engine = sa.create_engine(owner_url)
    with engine.connect() as conn:
        counselors = conn.execute(
            sa.text(
                "SELECT u.id, u.email FROM user_account u WHERE u.role = 'counselor' AND u.is_active "
                "ORDER BY u.email NOT LIKE '%@demo.school', u.id LIMIT 8"
            )
        ).all()
        plan_counselors = []
        for user_id, email in counselors:
            # Counselors mostly open their caseload: students with current flags, and some others.
            flagged = list(
                conn.scalars(
                    sa.text(
                        "SELECT DISTINCT s.id FROM student s JOIN user_school us ON us.school_id = s.school_id "
                        "JOIN risk_flag f ON f.student_id = s.id AND f.status <> 'resolved' "
                        "WHERE us.user_id = :u AND s.is_active"
                    ),
                    {"u": user_id},
                )
            )
            others = list(
                conn.scalars(
                    sa.text(
                        "SELECT s.id FROM student s JOIN user_school us ON us.school_id = s.school_id "
                        "WHERE us.user_id = :u AND s.is_active ORDER BY s.id"
                    ),
                    {"u": user_id},
                )
            )
            rng.shuffle(flagged)
            rng.shuffle(others)
            students = flagged[:300] + others[: max(100, 300 - len(flagged[:300]))]
            if students:
                plan_counselors.append({"email": email, "students": students})
        principals = list(
            conn.scalars(
                sa.text(
                    "SELECT email FROM user_account WHERE role = 'principal' AND is_active "
                    "ORDER BY email NOT LIKE '%@demo.school', id LIMIT 4"
                )
            )
        )
        roster = conn.execute(
            sa.text(
                "SELECT s.sourced_id, sc.sourced_id, s.given_name, s.family_name, s.identifier, s.grade "
                "FROM student s JOIN school sc ON sc.id = s.school_id WHERE s.is_active ORDER BY s.id"
            )
        ).all()
    engine.dispose()
    # The SIS's nightly export: every active student (a few with a changed family name) and new ones.
    rows = [USER_HEADER]
    for n, (sid, school, given, family, identifier, grade) in enumerate(roster):
        family = f"{family}-Reyes" if n % 97 == 0 else family
        rows.append(
            [
                sid,
                "",
                "",
                "true",
                school,
                "student",
                "",
                "",
                given,
                family,
                "",
                identifier or "",
                "",
                "",
                "",
                grade or "",
                "",
            ]
        )
    for n in range(new_students):
        rows.append(
            [
                f"bench-new-{n:05d}",
                "",
                "",
                "true",
                "demo-cedar-ms",
                "student",
                "",
                "",
                "Nova",
                f"Newcomer{n}",
                "",
                f"{99_000_000 + n}",
                "",
                "",
                "",
                "",
                "07",
                "",
            ]
        )
    manifest = [
        ["propertyName", "value"],
        ["manifest.version", "1.0"],
        ["oneroster.version", "1.1"],
        ["file.orgs", "absent"],
        ["file.users", "bulk"],
        ["file.demographics", "absent"],
        ["source.systemName", "Bench SIS"],
    ]
    archive = tmp / "sis-export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in (("manifest.csv", manifest), ("users.csv", rows)):
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerows(content)
            zf.writestr(name, buffer.getvalue())
    return {
        "password": PASSWORD,
        "counselors": plan_counselors,
        "principals": principals,
        "staff": ["staff@demo.school", *staff],
        "admin": "admin@demo.school",
        "guess_targets": guess_targets,
        "roster_zip": str(archive),
        "roster_rows": len(roster),
        "roster_new": new_students,
    }


def sign_in(host_url: str, email: str, password: str, address: str) -> str:
    """A signed-in browser session on this server; its Cookie header."""
    host, port = host_url.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", "/login", headers={"X-Forwarded-For": address})
    response = conn.getresponse()
    page = response.read().decode()
    cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    body = urlencode({"csrf_token": token.group(1) if token else "", "email": email, "password": password})
    conn.request(
        "POST",
        "/login",
        body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, "X-Forwarded-For": address},
    )
    answer = conn.getresponse()
    answer.read()
    conn.close()
    if answer.status not in (302, 303):
        raise SystemExit(f"signing in {email} for the speed measurement failed: HTTP {answer.status}")
    return (answer.getheader("Set-Cookie") or "").split(";", 1)[0]
