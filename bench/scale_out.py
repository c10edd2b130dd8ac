"""Scale-out benchmark: two gunicorn servers and two schedulers on one PostgreSQL and Redis, driven by Locust.

    python bench/scale_out.py [--duration 60] [--phases speed,day] [--speed-seconds 40] [--speed-rounds 2]
                              [--students 3000] [--schools 6] [--workers N] [--threads N]
                              [--gunicorn-args '-k sync --threads 1'] [--redis-db 11] [--keep]

Needs requirements-dev.txt (Locust, aiosmtpd, psutil), PostgreSQL (SP_TEST_POSTGRES_URL, as for the
tests) and Redis on 127.0.0.1:6379. Takes four to eight minutes with the defaults (more when the
machine is busy with other work: the report says how much of it other processes took).

Everything runs on loopback and stops by itself; every process it starts is stopped at the end.
1. A throwaway PostgreSQL database, migrated and seeded as its owner (`db upgrade`, `demo seed`,
   `demo generate`, a few staff accounts), then used by the servers and schedulers through a role
   that owns nothing (`database grant-app-role`, as README's Production section says: it may only
   read and add audit rows). Production settings: SP_ENV=production, secrets from the
   environment, sign-in limits in Redis (a database number of their own, emptied at the end),
   CSRF on, Secure cookies (the Locust client sends them to loopback as browsers do: locustfile.py).
   The servers run with SP_TRUSTED_PROXIES=1 and each simulated user sends its own client address
   in X-Forwarded-For, as the proxy in front of several app servers would.
2. An SMTP sink on loopback (aiosmtpd), two `gunicorn -c gunicorn.conf.py app:app` servers, and two
   `flask scheduler run` processes (one runs the jobs, the other stands by on the advisory lock).
3. Speed: a bare Flask 'ok' (bench/bare_ok.py) and a counselor's student page (the record read and
   its audit row) each served by one gunicorn with the same settings and driven by 16 Locust users
   without pause (signed in beforehand), in alternating rounds; requests per second of each, the
   ratio, the page's p50 / p95 / p99, and the CPU each answer cost the server and PostgreSQL
   (a figure that other work on the machine hardly moves, unlike requests per second).
4. A school day (--duration seconds, compressed: counselors click every 0.3 to 1.5 s), requests
   spread round robin over both servers: counselors open the caseload and student pages, open flags and
   move them between open and monitoring, complete check-ins and triage referrals (a third of their
   saves are double clicks: the same form sent twice at once, to both servers); principals read
   coverage; staff refer concerns; an admin uploads and applies a roster export (the import runs
   as a job in the scheduler); two people guess passwords. Meanwhile the reminder sweep runs and
   the scheduler and a second sender deliver email to the sink. Requests per second and
   p50 / p95 / p99 per page (named by route pattern).
5. Checks, afterwards, from the answers, the servers' logs and SQL: no 5xx; no duplicate effects (a
   check-in completed twice, a referral decided twice, a flag's status history that does not
   chain, a student with two open mentoring matches, a roster applied twice or a student imported
   twice); every reminder email sent exactly once (outbox rows against what the sink received,
   distinct Message-IDs); sign-in limits shared by both servers (wrong passwords spread over them
   are throttled after the configured limit in total); the standby scheduler takes over when the
   running one stops. Exits 1 when any check fails. Speed goals are reported, not enforced
   (--require-speed makes them checks too).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scale_out_checks import Checks, check_day, check_no_server_errors, errors_in_log, outcome  # noqa: E402
from bench.scale_out_fleet import BIN, Fleet, free_port, run_locust, wait_ready  # noqa: E402
from bench.scale_out_setup import (  # noqa: E402
    PASSWORD,
    create_database,
    drop_database_and_role,
    flask_cli,
    grant_app_role,
    make_accounts,
    plan_from_database,
    sign_in,
)

SPEED_USERS = 16


def row_for(rows: list[dict], name: str, method: str = "GET") -> dict | None:
    return next((r for r in rows if r["Name"] == name and r["Type"] == method), None)


def fmt_ms(value: str) -> str:
    return "-" if value in ("", "N/A", None) else f"{float(value):.0f}"


def print_table(rows: list[dict], seconds: float) -> None:
    print(
        f"  {'page':<40} {'method':<6} {'requests':>8} {'fails':>6} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)"
    )
    for r in sorted(rows, key=lambda r: (r["Name"] == "Aggregated", -int(r["Request Count"]))):
        name = "all pages" if r["Name"] == "Aggregated" else r["Name"]
        rps = int(r["Request Count"]) / seconds
        print(
            f"  {name:<40} {r['Type'] or '':<6} {int(r['Request Count']):>8} {int(r['Failure Count']):>6} "
            f"{rps:>7.1f} {fmt_ms(r['50%']):>6} {fmt_ms(r['95%']):>6} {fmt_ms(r['99%']):>6}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of the school day (default 60)")
    parser.add_argument("--speed-seconds", type=float, default=40, help="seconds each speed measurement runs in all")
    parser.add_argument(
        "--speed-rounds", type=int, default=2, help="alternating rounds the speed seconds are split into"
    )
    parser.add_argument("--students", type=int, default=3000, help="students of the generated district")
    parser.add_argument("--schools", type=int, default=6)
    parser.add_argument("--counselors", type=int, default=12, help="counselor users in the school day")
    parser.add_argument("--principals", type=int, default=3)
    parser.add_argument("--staff", type=int, default=4)
    parser.add_argument("--guessers", type=int, default=2)
    parser.add_argument("--workers", type=int, help="gunicorn workers per server (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="threads per worker (default: gunicorn.conf.py's)")
    parser.add_argument("--gunicorn-args", default="", help="more gunicorn flags for every server, e.g. '-k sync'")
    parser.add_argument("--redis-db", type=int, default=11, help="an empty Redis database number, emptied at the end")
    parser.add_argument("--phases", default="speed,day", help="speed, day or both (default speed,day)")
    parser.add_argument("--require-speed", action="store_true", help="the speed goals are checks too")
    parser.add_argument("--keep", action="store_true", help="keep the database (and its role) for inspection")
    args = parser.parse_args()

    import redis
    import sqlalchemy as sa
    from cryptography.fernet import Fernet

    from tests.support.smtp_sink import Sink

    # Stopped from outside (SIGTERM, a timeout): clean up as after Ctrl+C, in the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    limits_store = redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db)
    if limits_store.dbsize():
        raise SystemExit(f"Redis database {args.redis_db} is not empty; choose an empty one with --redis-db.")
    tmp = Path(tempfile.mkdtemp(prefix="sp-scale-out-"))
    logs = tmp / "logs"
    logs.mkdir()
    fleet = Fleet(logs)
    sink = Sink().start()
    run_id = uuid.uuid4().hex[:8]
    database, role = f"sp_scale_out_{run_id}", f"sp_scale_out_app_{run_id}"  # named so a leftover is recognisable
    owner_url = app_url = None
    checks = Checks()
    ports = [free_port(), free_port()]
    hosts = [f"http://127.0.0.1:{p}" for p in ports]
    server_env: dict[str, str] = {}
    if args.workers:
        server_env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads:
        server_env["SP_THREADS"] = str(args.threads)
    if args.gunicorn_args:
        server_env["GUNICORN_CMD_ARGS"] = args.gunicorn_args
    try:
        # --- database, as its owner --------------------------------------------------------------
        owner_url = create_database(database)
        env = {
            **os.environ,
            "SP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SP_DATA_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": owner_url,
            "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:6379/{args.redis_db}",
            "SP_APP_SERVERS": "2",
            "SP_TRUSTED_PROXIES": "1",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(sink.port),
            "MAIL_DEFAULT_SENDER": "reminders@bench.school",
            "SP_BASE_URL": hosts[0],
            # A standby that looks every 2 s rather than 15: the takeover check need not wait long.
            "SP_SCHEDULER_STANDBY_SECONDS": "2",
            "PYTHONWARNINGS": "ignore",
            # Scripted browsers sign in with the password alone (README: SP_SECOND_FACTOR_REQUIRED).
            "SP_SECOND_FACTOR_REQUIRED": "false",
            **server_env,
        }
        for name in ("WEB_CONCURRENCY", "SP_THREADS", "GUNICORN_CMD_ARGS"):
            if name not in server_env:
                env.pop(name, None)
        started = time.perf_counter()
        flask_cli(env, "db", "upgrade")
        flask_cli(env, "demo", "seed")
        flask_cli(env, "demo", "generate", "--students", str(args.students), "--schools", str(args.schools))
        staff = [f"staff.{n}@bench.school" for n in range(1, min(3, args.schools) + 1)]
        guess_targets = [f"guessed.{n}@bench.school" for n in range(1, 3)]
        limit_target = "limit.check@bench.school"
        make_accounts(
            env,
            [(e, "staff", f"gen-{n:05d}") for n, e in enumerate(staff, start=1)]
            + [(e, "staff", "demo-cedar-ms") for e in [*guess_targets, limit_target]],
        )
        app_url = grant_app_role(owner_url, role, env)
        plan = plan_from_database(owner_url, tmp, staff, guess_targets, new_students=150)
        plan["hosts"] = hosts
        plan_path = tmp / "plan.json"
        plan_path.write_text(json.dumps(plan))
        engine = sa.create_engine(owner_url)
        with engine.connect() as conn:
            students, schools = conn.execute(
                sa.text("SELECT (SELECT count(*) FROM student), (SELECT count(*) FROM school)")
            ).one()
            due_checkins = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM checkin WHERE status = 'scheduled' AND due_at < now() + interval '12 hours'"
                )
            )
        print(
            f"District: {students:,} students in {schools} schools (demo seed + demo generate), "
            f"{due_checkins:,} check-ins due or overdue; set up in {time.perf_counter() - started:.0f} s."
        )

        # --- servers, schedulers, as the app's role ---------------------------------------------
        run_env = {**env, "DATABASE_URL": app_url}
        for n, port in enumerate(ports):
            fleet.start(
                f"server-{n + 1}",
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "app:app"],
                {**run_env, "SP_BIND": f"127.0.0.1:{port}"},
            )
        for n, host in enumerate(hosts):
            wait_ready(fleet, f"server-{n + 1}", host)
        fleet.start("scheduler-1", [sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"], run_env)
        time.sleep(3)  # the first one takes the lock; the second stands by
        fleet.start("scheduler-2", [sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"], run_env)
        settings = subprocess.run(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--print-config", "app:app"],
            cwd=ROOT,
            env={**run_env, "SP_BIND": "127.0.0.1:1"},
            capture_output=True,
            text=True,
        )
        conf = dict(re.findall(r"^(worker_class|workers|threads|keepalive|timeout)\s*=\s*(\S+)", settings.stdout, re.M))
        print(
            f"Servers: 2 x gunicorn ({conf.get('worker_class', '?').rsplit('.', 1)[-1]}, {conf.get('workers', '?')} "
            f"workers x {conf.get('threads', '?')} threads, keepalive {conf.get('keepalive', '?')} s) at "
            f"{', '.join(hosts)}; 2 schedulers; PostgreSQL as role {role}; Redis db {args.redis_db}; "
            f"SMTP sink on port {sink.port}. Logs: {logs}"
        )

        def server_pids() -> list[int]:
            return [p.pid for name, p in fleet.procs.items() if name.startswith(("server", "bare"))]

        # --- speed: the student page against a bare Flask 'ok', same gunicorn settings -----------
        speed: dict = {}
        phases = {p.strip() for p in args.phases.split(",")}
        if "speed" in phases:
            speed = measure_speed(args, fleet, run_env, hosts, plan_path, logs, database)
            print_speed(speed, checks, args.require_speed)

        day = (
            school_day(
                args,
                fleet,
                engine,
                sink,
                plan,
                plan_path,
                hosts,
                limit_target,
                limits_store,
                run_env,
                logs,
                checks,
                server_pids,
                database,
            )
            if "day" in phases
            else {}
        )
        check_no_server_errors(checks, fleet, [day, *(r for runs in speed.values() for r in runs["results"])])
        engine.dispose()

        print("\n== Checks ==")
        checks.print()
        for name in ("server-1", "server-2", "bare-ok", "scheduler-1", "scheduler-2"):
            for times, header, exception, frames in errors_in_log(fleet.log(name))[:5]:
                print(
                    f"\n-- {name}.log: {times} x {exception}\n   first after: {header[:200]}"
                    + "".join(f"\n   at {frame}" for frame in frames[-4:])
                )
        print(f"\nLogs kept in {logs}")
        return 1 if checks.failed else 0
    finally:
        fleet.stop_all()
        sink.stop()
        try:
            limits_store.flushdb()
        except Exception as exc:  # the run's result stands; say what was left behind
            print(f"could not empty Redis db {args.redis_db}: {exc}")
        if owner_url and not args.keep:
            drop_database_and_role(database, role)
        elif owner_url:
            print(f"Kept database {owner_url} (app role {role}).")


def school_day(
    args,
    fleet: Fleet,
    engine,
    sink,
    plan: dict,
    plan_path: Path,
    hosts: list[str],
    limit_target: str,
    limits_store,
    run_env: dict,
    logs: Path,
    checks: Checks,
    server_pids,
    database: str,
) -> dict:
    """The school day under Locust, the outbox drained afterwards, its checks; what the locustfile counted."""
    import sqlalchemy as sa

    # --- the school day ---------------------------------------------------------------------
    day_started = time.time()
    with engine.connect() as conn:
        db_start = conn.scalar(sa.text("SELECT now()"))
    jobs_log: list[str] = []

    def background_jobs() -> None:
        """The reminder sweep and a second email sender during the day, beside the scheduler's own."""
        for delay, job in ((5, "checkins.remind"), (max(10, args.duration / 3), "notifications.deliver")):
            time.sleep(max(0, day_started + delay - time.time()))
            out = subprocess.run(
                [sys.executable, "-m", "flask", "--app", "app", "jobs", "run", job],
                cwd=ROOT,
                env=run_env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            jobs_log.append(f"{job}: {outcome(out)}")

    jobs_thread = threading.Thread(target=background_jobs, daemon=True)
    jobs_thread.start()
    day_classes = {
        "Counselor": args.counselors,
        "Principal": args.principals,
        "Staff": args.staff,
        "Admin": 1,
        "Guesser": args.guessers,
    }
    # People arrive over a few seconds rather than all signing in at the same instant.
    rows, day, cpu = run_locust(
        fleet, day_classes, args.duration, hosts, plan_path, logs / "day", server_pids(), database, spawn_rate=4
    )
    jobs_thread.join(timeout=600)
    print(
        f"\n== School day: {args.duration:.0f} s, {args.counselors} counselors, {args.principals} principals, "
        f"{args.staff} staff, 1 admin, {args.guessers} password guessers; requests round robin over 2 servers =="
    )
    print_table(rows, args.duration)
    print(
        f"  CPU (share of all cores): servers {cpu['servers']:.0%}, PostgreSQL {cpu['postgres']:.0%}, "
        f"Locust {cpu['locust']:.0%}, other processes {cpu['others']:.0%}; load average {os.getloadavg()[0]:.1f}"
    )
    if day.get("double_clicks"):
        print(
            "  double clicks (statuses of the two answers): "
            + ", ".join(f"{k} x{v}" for k, v in sorted(day["double_clicks"].items()))
        )
    roster = day.get("roster", {})
    print(f"  roster import: {json.dumps(roster)}")
    print(f"  password guessers: {json.dumps(day.get('guesses', {}))}")
    for line in jobs_log:
        print(f"  job {line}")

    # --- afterwards: let the outbox drain, then check ------------------------------------------
    deadline = time.time() + 180
    due_sql = sa.text(
        "SELECT count(*) FROM notification WHERE channel = 'email' AND state = 'pending' AND send_at <= now()"
    )
    kicked = False
    while time.time() < deadline:
        with engine.connect() as conn:
            pending = conn.scalar(due_sql)
            applying = conn.scalar(sa.text("SELECT count(*) FROM roster_import WHERE status IN ('queued', 'running')"))
        if not pending and not applying:
            break
        if pending and not kicked and time.time() > deadline - 150:
            kicked = True  # the scheduler sends every minute; a second sender speeds the end up
            subprocess.run(
                [sys.executable, "-m", "flask", "--app", "app", "jobs", "run", "notifications.deliver"],
                cwd=ROOT,
                env=run_env,
                capture_output=True,
                timeout=600,
            )
        time.sleep(2)
    time.sleep(1)
    check_day(checks, engine, db_start, day, sink, plan, hosts, limit_target, args, limits_store, run_env)

    # The standby takes over when the running scheduler stops (after the checks: a scheduler
    # stopped mid-send would leave an email claimed until its 5-minute lease runs out).
    logs_now = {n: fleet.log(n) for n in ("scheduler-1", "scheduler-2")}
    running = [n for n, text in logs_now.items() if "scheduler started" in text]
    standing = [n for n, text in logs_now.items() if "standing by" in text]
    checks.add(
        len(running) == 1 and len(standing) == 1,
        "one scheduler ran the jobs, the other stood by",
        f"running: {running}, standing by: {standing}",
    )
    if len(running) == 1 and len(standing) == 1:
        fleet.stop(running[0])
        took_over = False
        for _ in range(40):
            if "scheduler started" in fleet.log(standing[0]):
                took_over = True
                break
            time.sleep(0.5)
        checks.add(
            took_over,
            "the standby scheduler took over when the running one stopped",
            f"{standing[0]} {'started' if took_over else 'did not start'} within 20 s",
        )
    return day


def measure_speed(
    args, fleet: Fleet, run_env: dict, hosts: list[str], plan_path: Path, logs: Path, database: str
) -> dict:
    """The bare 'ok' and the student page, each on one gunicorn with the same settings, in alternating rounds.

    Rounds alternate (ok, page, ok, page, ...) so that a change in what else the machine is doing
    meanwhile weighs on both alike.
    """
    bare_port = free_port()
    bare = f"http://127.0.0.1:{bare_port}"
    fleet.start(
        "bare-ok",
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "bench.bare_ok:app"],
        {**run_env, "SP_BIND": f"127.0.0.1:{bare_port}"},
    )
    wait_ready(fleet, "bare-ok", bare, path="/")
    # The counselors sign in first: a round measures pages, not password hashing.
    plan = json.loads(plan_path.read_text())
    plan["speed_sessions"] = [
        {"cookie": sign_in(hosts[0], c["email"], PASSWORD, f"10.6.0.{n + 1}"), "students": c["students"]}
        for n, c in enumerate(plan["counselors"][i % len(plan["counselors"])] for i in range(SPEED_USERS))
    ]
    plan_path.write_text(json.dumps(plan))
    targets = {"ok": ("BareOk", "ok", bare, "bare-ok"), "page": ("StudentPage", "/students/<id>", hosts[0], "server-1")}
    speed = {label: {"requests": 0, "seconds": 0.0, "times": [], "cpu": [], "results": []} for label in targets}
    for label, (cls, _name, host, _) in targets.items():  # warm: imports, first queries, templates
        run_locust(fleet, {cls: SPEED_USERS}, 5, [host], plan_path, logs / f"warm-{label}", [], database)
    for round_no in range(1, args.speed_rounds + 1):
        for label, (cls, name, host, server) in targets.items():
            _, results, cpu = run_locust(
                fleet,
                {cls: SPEED_USERS},
                args.speed_seconds / args.speed_rounds,
                [host],
                plan_path,
                logs / f"speed-{label}-{round_no}",
                [fleet.procs[server].pid],
                database,
                timed=name,
            )
            first, last = results.get("spans", {}).get(name, [0, 0])
            times = results.get("times", {}).get(name, [])
            run = speed[label]
            run["requests"] += len(times)
            run["seconds"] += last - first  # the time it was asked for (the page's users sign in first)
            run["times"] += times
            run["cpu"].append(cpu)
            run["results"].append(results)
    fleet.stop("bare-ok")
    return speed


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))] if ordered else float("nan")


def print_speed(speed: dict, checks: Checks, required: bool) -> None:
    """Requests per second of the bare 'ok' and of the student page, their ratio, the page's percentiles."""
    rounds = len(speed["ok"]["cpu"])
    print(
        f"\n== Speed: {SPEED_USERS} users without pause, one gunicorn each, same settings; {rounds} alternating "
        f"rounds each =="
    )
    rps, costs = {}, {}
    for label, title in (("ok", "bare Flask 'ok'"), ("page", "counselor's student page")):
        run = speed[label]
        rps[label] = run["requests"] / run["seconds"] if run["seconds"] else 0.0
        statuses: dict[str, int] = {}
        for results in run["results"]:
            for key, n in results.get("answers", {}).items():
                if key.startswith(("GET ok ", "GET /students/<id> ")):
                    statuses[key.rsplit(" ", 1)[1]] = statuses.get(key.rsplit(" ", 1)[1], 0) + n
        cpu = {k: sum(c[k] for c in run["cpu"]) / len(run["cpu"]) for k in run["cpu"][0]}
        # CPU time per answer: what a page costs, whatever else the machine was doing meanwhile.
        total = (
            sum(
                r.get("answers", {}).get(f"GET {'ok' if label == 'ok' else '/students/<id>'} 200", 0)
                for r in run["results"]
            )
            or 1
        )
        per_answer = (
            1000 * sum(c["server_seconds"] for c in run["cpu"]) / total,
            1000 * sum(c["postgres_seconds"] for c in run["cpu"]) / total,
        )
        costs[label] = sum(per_answer)
        p50, p95, p99 = (percentile(run["times"], q) for q in (0.50, 0.95, 0.99))
        per_round = [
            round(
                len(r.get("times", {}).get("ok" if label == "ok" else "/students/<id>", []))
                / max(
                    1e-9,
                    (lambda s: s[1] - s[0])(
                        r.get("spans", {}).get("ok" if label == "ok" else "/students/<id>", [0, 1])
                    ),
                ),
                1,
            )
            for r in run["results"]
        ]
        print(
            f"  {title:<26} {rps[label]:>8.1f} req/s (rounds: {per_round})  p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
            f"p99 {p99:.1f} ms  answers {statuses}"
        )
        print(
            f"  {'':<26} CPU (share of all cores): server {cpu['servers']:.0%}, PostgreSQL {cpu['postgres']:.0%}, "
            f"Locust {cpu['locust']:.0%}, other processes {cpu['others']:.0%}; per answer: server "
            f"{per_answer[0]:.2f} ms, PostgreSQL {per_answer[1]:.2f} ms"
        )
    ratio = rps["page"] / rps["ok"] if rps["ok"] else 0.0
    p95 = percentile(speed["page"]["times"], 0.95)
    print(
        f"  student page / bare 'ok': {ratio:.1%} (goal: at least 10%)   student page p95: {p95:.0f} ms "
        f"(goal: under 50 ms at {SPEED_USERS} users)"
    )
    # Requests per second move with whatever else the machine runs; CPU per answer hardly does.
    if costs.get("page"):
        print(
            f"  CPU per answer (server + PostgreSQL): bare 'ok' {costs['ok']:.2f} ms, student page {costs['page']:.2f} ms; "
            f"their ratio {costs['ok'] / costs['page']:.1%} is what the requests per second would be if both were "
            f"CPU-bound on the same cores (the load generator's share left out)"
        )
    if required:
        checks.add(ratio >= 0.10, "student page at least 10% of a bare Flask 'ok'", f"{ratio:.1%}")
        checks.add(p95 < 50, f"student page p95 under 50 ms at {SPEED_USERS} users", f"{p95:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
