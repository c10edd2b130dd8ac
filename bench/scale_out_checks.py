"""bench/scale_out.py's checks: no 5xx, no duplicate effects, every email once, shared sign-in limits."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import uuid
from urllib.parse import urlencode

from bench.scale_out_fleet import ROOT, Fleet

LIMIT = 10  # SIGNIN_FAILURE_LIMIT, 10/minute (config.py)
STATUS_IN_ACCESS_LOG = re.compile(r'"[A-Z]+ \S+ HTTP/[\d.]+" (\d{3}) ')
NEW_RECORD = re.compile(r"^(\[\d{4}-|\d{4}-\d\d-\d\d |\d+\.\d+\.\d+\.\d+ )")  # gunicorn, Flask, logging, access


def sign_in_attempts(hosts: list[str], email: str, address: str, attempts: int) -> list[int]:
    """Wrong passwords for one account from one address, alternating servers; the status of each POST."""
    statuses = []
    for n in range(attempts):
        host, port = hosts[n % len(hosts)].split("//", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/login", headers={"X-Forwarded-For": address})
        response = conn.getresponse()
        page = response.read().decode()
        # The session cookie is Secure; sent back by hand to a loopback server, as a browser would.
        cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        body = urlencode(
            {"csrf_token": token.group(1) if token else "", "email": email, "password": f"wrong-{uuid.uuid4().hex}"}
        )
        conn.request(
            "POST",
            "/login",
            body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, "X-Forwarded-For": address},
        )
        answer = conn.getresponse()
        answer.read()
        statuses.append(answer.status)
        conn.close()
    return statuses


class Checks:
    """Named pass/fail results, printed at the end."""

    def __init__(self) -> None:
        self.results: list[tuple[bool, str, str]] = []

    def add(self, ok: bool, name: str, detail: str = "", first: bool = False) -> None:
        self.results.insert(0 if first else len(self.results), (bool(ok), name, detail))

    @property
    def failed(self) -> bool:
        return any(not ok for ok, _, _ in self.results)

    def print(self) -> None:
        for ok, name, detail in self.results:
            print(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f": {detail}" if detail else ""))


def errors_in_log(text: str) -> list[tuple[int, str, str, list[str]]]:
    """The errors a log shows, one per distinct exception: (times, first log line before it, the
    exception, the app's own frames of its last traceback), most frequent first."""
    lines = text.splitlines()
    found: dict[str, list] = {}
    i = 0
    while i < len(lines):
        if not lines[i].startswith("Traceback"):
            i += 1
            continue
        header = next(
            (
                lines[k]
                for k in range(i - 1, -1, -1)
                if lines[k].strip()
                and not lines[k].startswith(" ")
                and not lines[k].startswith(("Traceback", "During handling", "The above"))
            ),
            "",
        )
        frames, exception, j = [], "", i + 1
        while j < len(lines):
            line = lines[j]
            if line.startswith("Traceback"):
                frames = []  # a chained traceback: the last one is the error the request met
            elif 'File "' in line and "/school_prevention/" in line:
                where = re.search(r'/(school_prevention/[^"]+)", line (\d+), in (\S+)', line)
                frames.append(f"{where.group(1)}:{where.group(2)} {where.group(3)}" if where else line.strip())
            elif line and not line.startswith((" ", "\t", "During handling", "The above")):
                exception = line
                # Its message may run over several lines (an SQL error's LINE 1: ...); a chained
                # traceback follows within a few lines, a new log record ends it.
                ahead = next(
                    (
                        k
                        for k in range(j + 1, min(j + 12, len(lines)))
                        if lines[k].startswith(("During handling", "The above")) or NEW_RECORD.match(lines[k])
                    ),
                    None,
                )
                if ahead is None or NEW_RECORD.match(lines[ahead]):
                    break
                j = ahead
            j += 1
        entry = found.setdefault(exception, [0, header, exception, frames])
        entry[0] += 1
        i = j + 1
    return sorted((tuple(v) for v in found.values()), key=lambda e: -e[0])


def outcome(out: subprocess.CompletedProcess) -> str:
    """What a command said: its output's last line, or the error it failed with and where."""
    errors = errors_in_log(out.stdout + "\n" + out.stderr)
    if out.returncode and errors:
        _, _, exception, frames = errors[0]
        return f"exit {out.returncode}: {exception[:400]}" + (f" (at {frames[-1]})" if frames else "")
    lines = [line for line in (out.stdout + "\n" + out.stderr).splitlines() if line.strip()]
    return f"exit {out.returncode}: {lines[-1][:400] if lines else ''}"


def check_no_server_errors(checks: Checks, fleet: Fleet, results: list[dict]) -> None:
    """No 5xx and no failed connection: in what Locust got, and in what the servers logged (every phase)."""
    answers: dict[str, int] = {}
    for result in results:
        for k, v in result.get("answers", {}).items():
            answers[k] = answers.get(k, 0) + v
    bad = {k: v for k, v in answers.items() if k.rsplit(" ", 1)[1] == "0" or k.rsplit(" ", 1)[1].startswith("5")}
    logged = {}
    for name in ("server-1", "server-2", "bare-ok"):
        codes = STATUS_IN_ACCESS_LOG.findall(fleet.log(name))
        logged[name] = sum(1 for c in codes if c.startswith("5"))
    checks.add(
        not bad and not any(logged.values()),
        "no 5xx (and no connection failures)",
        f"Locust: {bad or 0}; access logs: {logged}",
        first=True,
    )
    first = [e for result in results for e in result.get("server_errors", [])][:5]
    if first:  # the causes are summarised from the servers' logs at the end
        print("  first server errors: " + ", ".join(f"{e['method']} {e['path']} -> {e['status']}" for e in first))


def check_day(
    checks: Checks,
    engine,
    db_start,
    day: dict,
    sink,
    plan: dict,
    hosts: list[str],
    limit_target: str,
    args,
    limits_store,
    run_env: dict,
) -> None:
    """The school day's outcome: duplicates, reminders, roster, shared limits, the audit chain."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        q = lambda sql, **kw: conn.execute(sa.text(sql), {"start": db_start, **kw}).all()  # noqa: E731
        one = lambda sql, **kw: conn.execute(sa.text(sql), {"start": db_start, **kw}).scalar()  # noqa: E731
        twice = q(
            "SELECT object_id, count(*) FROM audit_event WHERE action = 'checkin.completed' AND at >= :start "
            "GROUP BY object_id HAVING count(*) > 1"
        )
        completed = one("SELECT count(*) FROM audit_event WHERE action = 'checkin.completed' AND at >= :start")
        checks.add(not twice, "no check-in completed twice", f"{completed} completed; twice: {twice[:5]}")

        decided = q(
            "SELECT object_id, count(*) FROM audit_event WHERE action IN ('referral.accepted', 'referral.closed') "
            "AND at >= :start GROUP BY object_id HAVING count(*) > 1"
        )
        accepted = one("SELECT count(*) FROM audit_event WHERE action = 'referral.accepted' AND at >= :start")
        closed = one("SELECT count(*) FROM audit_event WHERE action = 'referral.closed' AND at >= :start")
        from_referrals = one("SELECT count(*) FROM risk_flag WHERE source = 'staff_referral' AND opened_at >= :start")
        submitted = one("SELECT count(*) FROM referral WHERE submitted_at >= :start")
        checks.add(
            not decided and from_referrals == accepted,
            "no referral decided twice",
            f"{submitted} submitted, {accepted} accepted (new flags from referrals: {from_referrals}), "
            f"{closed} closed; decided twice: {decided[:5]}",
        )

        events = q(
            "SELECT e.flag_id, e.id, e.changes FROM flag_event e WHERE e.flag_id IN "
            "(SELECT flag_id FROM flag_event WHERE at >= :start AND action IN ('open', 'monitoring', 'resolved', "
            "'reopened')) ORDER BY e.flag_id, e.id"
        )
        current = dict(
            q("SELECT id, status FROM risk_flag WHERE id IN (SELECT flag_id FROM flag_event WHERE at >= :start)")
        )
        broken, moves, last = [], 0, {}
        for flag_id, _, changes in events:
            change = (changes if isinstance(changes, dict) else json.loads(changes or "{}")).get("status")
            if not change:
                continue
            before, after = change
            if flag_id in last and last[flag_id] != before:
                broken.append(flag_id)
            last[flag_id] = after
            moves += 1
        broken += [f for f, status in last.items() if current.get(f) != status]
        new_flags = one("SELECT count(*) FROM risk_flag WHERE opened_at >= :start AND source = 'counselor_observation'")
        checks.add(
            not broken,
            "every flag's status history chains (no status change applied twice)",
            f"{moves} status changes on {len(last)} flags, {new_flags} flags opened; broken: {sorted(set(broken))[:5]}",
        )

        matches = q(
            "SELECT student_id, count(*) FROM mentor_match WHERE status <> 'closed' GROUP BY student_id "
            "HAVING count(*) > 1"
        )
        requested = one("SELECT count(*) FROM mentor_match WHERE created_at >= :start")
        checks.add(
            not matches,
            "no student with two open mentoring matches",
            f"{requested} requested; students with two: {matches[:5]}",
        )

        applied = q("SELECT id, status, counts FROM roster_import WHERE NOT is_dry_run AND started_at >= :start")
        twin_sids = one(
            "SELECT count(*) FROM (SELECT sourced_id FROM student GROUP BY sourced_id HAVING count(*) > 1) AS twins"
        )
        newcomers = one("SELECT count(*) FROM student WHERE sourced_id LIKE 'bench-new-%'")
        counts = applied[0][2] if applied else None
        counts = json.loads(counts) if isinstance(counts, str) else counts or {}
        checks.add(
            len(applied) == 1 and applied[0][1] == "done" and newcomers == plan["roster_new"] and not twin_sids,
            "the roster export was applied once, each new student imported once",
            f"apply runs: {[(r[0], r[1]) for r in applied]}; new students {newcomers} of {plan['roster_new']}; "
            f"counts {counts}; duplicate sourcedIds: {twin_sids}",
        )

        # Every reminder email sent exactly once: outbox rows against the sink.
        # The Message-ID stored on the row (notifications.mail.message_id_of), or the one older rows keep.
        emails = q("SELECT id, state, kind, message_id FROM notification WHERE channel = 'email'")
        domain = run_env.get("SP_MAIL_DOMAIN", "school-prevention.local")
        sent = {m or f"<notification-{i}@{domain}>" for i, s, _, m in emails if s == "sent"}
        unsent = [(i, s) for i, s, _, _ in emails if s != "sent"]
        received = sink.message_ids()
        kinds: dict[str, int] = {}
        for _, _, kind, _ in emails:
            kind = re.sub(r"\.s\d+$", "", kind)  # a reminder's kind ends with its check-in's SEQUENCE
            kinds[kind] = kinds.get(kind, 0) + 1
        checks.add(
            bool(emails) and not unsent and len(received) == len(set(received)) and set(received) == sent,
            "every email (reminders and notices) sent exactly once",
            f"{len(emails)} email rows {kinds}, {len(sent)} marked sent, {len(received)} received "
            f"by the sink, {len(set(received))} distinct Message-IDs; not sent: {unsent[:5]}; "
            f"received but not marked sent: {sorted(set(received) - sent)[:3]}; "
            f"marked sent, never received: {sorted(sent - set(received))[:3]}",
        )

    # Sign-in limits shared by both servers: wrong passwords for one account from one address,
    # alternating servers, are throttled after LIMIT in total (in memory, each worker would allow LIMIT).
    statuses = sign_in_attempts(hosts, limit_target, "10.99.0.1", 2 * LIMIT + 4)
    wrong, throttled = statuses.count(401), statuses.count(429)
    checks.add(
        statuses == [401] * LIMIT + [429] * (LIMIT + 4),
        "sign-in limits shared across servers",
        f"{len(statuses)} wrong passwords alternating servers: {wrong} answered 401, then {throttled} "
        f"throttled 429 (limit {LIMIT}); Redis db {args.redis_db} holds {limits_store.dbsize()} limit keys",
    )

    audit = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "audit", "verify"],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if "No such command" in audit.stderr:
        print("  (flask audit verify is not available yet: the audit chain was not checked)")
    else:
        checks.add(audit.returncode == 0, "the audit trail's hash chain verifies", outcome(audit))
