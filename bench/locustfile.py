"""Locust users of bench/scale_out.py: a school day, and the student page against a bare Flask 'ok'.

Run by bench/scale_out.py (`locust -f bench/locustfile.py --headless ... Counselor Principal ...`),
which writes the plan this file reads (SP_BENCH_PLAN: servers, accounts, students, the roster
file) and reads back what it writes (SP_BENCH_OUT: every answer counted by request and status,
the first server errors, double clicks, the roster import, the guessed sign-ins).

Every user behaves like a browser: it GETs a form before it POSTs it (CSRF is on in production),
keeps its cookies, and does not follow redirects (a redirect is the answer to a save; the page it
leads to is opened as its own request when the user would look at it). Requests go round robin
to the app servers, as a load balancer without sticky sessions would send them (sessions live in
the database). Each user has its own client address in X-Forwarded-For, as the proxy in front
would add it: the servers run with SP_TRUSTED_PROXIES=1, so sign-in limits per address apply per
simulated computer, not to the one loopback address every user shares here. Requests are named
by route pattern (/students/<id>), never by id, so each page gets one line of figures.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import re
import time
import uuid
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import gevent
from locust import FastHttpUser, between, constant, events, task
from locust.exception import StopUser

PLAN = json.loads(Path(os.environ["SP_BENCH_PLAN"]).read_text()) if os.environ.get("SP_BENCH_PLAN") else {}
HOSTS = [h for h in os.environ.get("SP_BENCH_HOSTS", "").split(",") if h] or PLAN.get(
    "hosts", ["http://127.0.0.1:8000"]
)
OUT = os.environ.get("SP_BENCH_OUT")
COUNTS = json.loads(os.environ.get("SP_BENCH_COUNTS", "{}"))
PASSWORD = PLAN.get("password", "")
GIVEN = ["Maya", "Liam", "Ana", "Noah", "Zoe", "Omar", "Mia", "Leo", "Nia", "Kai", "Rosa", "Eli"]

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
STUDENT_LINK = re.compile(r'href="/students/(\d+)"')
FLAG_LINK = re.compile(r'href="/flags/(\d+)"')
CHECKIN_LINK = re.compile(r'href="/checkins/(\d+)"')
REFERRAL_LINK = re.compile(r'href="/referrals/(\d+)"')
REFER_LINK = re.compile(r'href="/referrals/new\?student=(\d+)"')
OPTION = re.compile(r'<option[^>]*value="(\d+)"')
CATEGORY_BOX = re.compile(
    r'<input[^>]*name="categories"[^>]*value="(\d+)"|<input[^>]*value="(\d+)"[^>]*name="categories"'
)
STATUS_BADGE = re.compile(r'class="status status-(\w+)"')
RUN_LINK = re.compile(r"/admin/roster/(\d+)")

# What the run saw, written to SP_BENCH_OUT when it ends.
answers: collections.Counter = collections.Counter()  # "METHOD name status" -> count
server_errors: list[dict] = []
double_clicks: collections.Counter = collections.Counter()  # "action first+second" -> count
guesses: collections.Counter = collections.Counter()  # "wrong" / "throttled" / other status
roster: dict = {}
spans: dict = {}  # name -> [first, last] answer time: a page's requests per second over the time it was asked for
TIMED = {n for n in os.environ.get("SP_BENCH_TIMED", "").split(",") if n}
times: dict = collections.defaultdict(list)  # name -> every response time (ms) of the pages named in SP_BENCH_TIMED
_numbers = itertools.count()


def _count(method: str, name: str, status: int) -> None:
    answers[f"{method} {name} {status}"] += 1
    now = time.time()
    span = spans.setdefault(name, [now, now])
    span[1] = now


def _write_results(**_kwargs) -> None:
    if OUT:
        with open(OUT, "w") as fh:
            json.dump(
                {
                    "answers": answers,
                    "server_errors": server_errors,
                    "double_clicks": double_clicks,
                    "guesses": guesses,
                    "roster": roster,
                    "spans": spans,
                    "times": times,
                },
                fh,
            )


def _time(name: str, response_time: float, **_kwargs) -> None:
    if name in TIMED:
        times[name].append(round(response_time, 2))


events.request.add_listener(_time)
events.test_stop.add_listener(_write_results)
events.quitting.add_listener(_write_results)


class LoopbackCookies(DefaultCookiePolicy):
    """Send Secure cookies to servers on this machine, as browsers do.

    Production marks the session cookie Secure (it must only travel over HTTPS), and the benchmark
    keeps that default: its servers run exactly as configured for production. Browsers treat
    http://127.0.0.1 as a secure context and send Secure cookies there; Python's cookie jar only
    sends them over https. This policy makes the benchmark's client behave like a browser, for
    loopback addresses only.
    """

    def return_ok_secure(self, cookie, request):
        host = urlsplit(request.get_full_url()).hostname
        return host in ("127.0.0.1", "localhost", "::1") or super().return_ok_secure(cookie, request)


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    return (found.group(1) or found.group(2)) if found else ""


class Browser(FastHttpUser):
    """One person at one computer: cookies, a client address, requests spread over the servers."""

    abstract = True
    host = HOSTS[0]  # Locust wants one; every request names its own server (round robin)
    network = 0  # second octet of this kind of user's made-up client addresses
    concurrency = 4  # a double click sends two requests at once

    def on_start(self) -> None:
        self.n = next(_numbers)
        self.turn = self.n
        self.address = f"10.{self.network}.{self.n // 250}.{self.n % 250 + 1}"
        self.client.cookiejar.set_policy(LoopbackCookies())

    def server(self) -> str:
        self.turn += 1
        return HOSTS[self.turn % len(HOSTS)]

    def call(
        self,
        method: str,
        path: str,
        name: str,
        ok=(200,),
        data=None,
        body: bytes | None = None,
        headers: dict | None = None,
    ) -> tuple[int, str]:
        """One request to the next server; (status, text). Statuses outside ok count as Locust failures."""
        sent = {"X-Forwarded-For": self.address, **(headers or {})}
        if data is not None:
            body = urlencode(data, doseq=True).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        with self.client.request(
            method, self.server() + path, name=name, data=body, headers=sent, allow_redirects=False, catch_response=True
        ) as response:
            status = response.status_code or 0
            text = (response.text or "") if status else ""
            self.location = (response.headers or {}).get("Location", "") if status else ""
            _count(method, name, status)
            if (status >= 500 or status == 0) and len(server_errors) < 50:
                server_errors.append(
                    {"method": method, "name": name, "path": path, "status": status, "at": time.time()}
                )
            if status in ok:
                response.success()
            else:
                response.failure(f"HTTP {status}")
        return status, text

    def get(self, path: str, name: str, ok=(200,)) -> tuple[int, str]:
        return self.call("GET", path, name, ok=ok)

    def post(self, path: str, name: str, data: dict, ok=(302, 303)) -> tuple[int, str]:
        return self.call("POST", path, name, ok=ok, data=data)

    def twice(self, action: str, path: str, name: str, data: dict, ok) -> list[int]:
        """A double click: the same form sent twice at once (to both servers); one effect is expected."""
        jobs = [gevent.spawn(self.post, path, name, data, ok) for _ in range(2)]
        gevent.joinall(jobs)
        statuses = sorted(job.value[0] if job.value else 0 for job in jobs)
        double_clicks[f"{action} {statuses[0]}+{statuses[1]}"] += 1
        return statuses

    def sign_in(self, email: str) -> None:
        _, page = self.get("/login", "/login")
        status, _ = self.post("/login", "/login", {"csrf_token": _csrf(page), "email": email, "password": PASSWORD})
        if status not in (302, 303):
            raise StopUser()


class Counselor(Browser):
    """Opens the caseload and student pages, saves flags and status changes, completes check-ins, triages."""

    network = 1
    wait_time = between(0.3, 1.5)
    fixed_count = COUNTS.get("Counselor", 0)

    def on_start(self) -> None:
        super().on_start()
        account = PLAN["counselors"][self.n % len(PLAN["counselors"])]
        self.students = list(account["students"])
        self.flags: list[int] = []
        self.sign_in(account["email"])

    def student(self) -> int:
        return random.choice(self.students)

    @task(2)
    def caseload(self) -> None:
        _, page = self.get(f"/students?page={random.randint(1, 3)}", "/students")
        self.students += [int(i) for i in STUDENT_LINK.findall(page)][:10]
        del self.students[:-400]

    @task(8)
    def student_page(self) -> None:
        sid = self.student()
        status, page = self.get(f"/students/{sid}", "/students/<id>")
        if status != 200:
            return
        self.flags = ([int(i) for i in FLAG_LINK.findall(page)] + self.flags)[:40]
        if "Request a mentor" in page and random.random() < 0.1:
            self.twice(
                "request a mentor",
                f"/students/{sid}/matches",
                "/students/<id>/matches",
                {"csrf_token": _csrf(page)},
                ok=(302, 303, 409),
            )

    @task(2)
    def new_flag(self) -> None:
        sid = self.student()
        path = f"/students/{sid}/flags/new"
        status, page = self.get(path, "/students/<id>/flags/new")
        categories = OPTION.findall(page)
        if status != 200 or not categories:
            return
        self.post(
            path,
            "/students/<id>/flags/new",
            {
                "csrf_token": _csrf(page),
                "category": random.choice(categories),
                "severity": "low",
                "source": "counselor_observation",
                "note": f"Seen at lunch alone again ({uuid.uuid4().hex[:6]}).",
            },
        )

    @task(2)
    def flag_status(self) -> None:
        if not self.flags:
            return
        flag_id = random.choice(self.flags)
        status, page = self.get(f"/flags/{flag_id}", "/flags/<id>")
        badge = STATUS_BADGE.search(page)
        if status != 200 or not badge or badge.group(1) not in ("open", "monitoring"):
            return
        data = {
            "csrf_token": _csrf(page),
            "status": "monitoring" if badge.group(1) == "open" else "open",
            "resolution": "",
        }
        path = f"/flags/{flag_id}/status"
        if random.random() < 0.3:
            self.twice("flag status", path, "/flags/<id>/status", data, ok=(302, 303, 400, 409))
        else:
            self.post(path, "/flags/<id>/status", data, ok=(302, 303, 400, 409))

    @task(2)
    def complete_checkin(self) -> None:
        _, page = self.get("/checkins", "/checkins")
        due = CHECKIN_LINK.findall(page.split('id="week-h"', 1)[0])  # overdue and today: the ones to complete
        if not due:
            return
        checkin_id = random.choice(due[:10])
        status, page = self.get(f"/checkins/{checkin_id}", "/checkins/<id>")
        if status != 200 or 'name="outcome"' not in page:
            return
        data = {
            "csrf_token": _csrf(page),
            "outcome": random.choice(["doing_well", "some_concerns"]),
            "note": "Talked about the new lunch group; wants to keep meeting.",
        }
        path = f"/checkins/{checkin_id}"
        if random.random() < 0.4:
            self.twice("complete check-in", path, "/checkins/<id>", data, ok=(302, 303, 400, 409))
        else:
            self.post(path, "/checkins/<id>", data, ok=(302, 303, 400, 409))

    @task(1)
    def triage(self) -> None:
        _, page = self.get("/referrals", "/referrals")
        waiting = REFERRAL_LINK.findall(page)
        if not waiting:
            return
        referral_id = random.choice(waiting[:5])
        path = f"/referrals/{referral_id}"
        status, page = self.get(path, "/referrals/<id>")
        if status != 200 or f"{path}/accept" not in page:
            return
        token = _csrf(page)
        if f"{path}/review" in page:
            self.post(f"{path}/review", "/referrals/<id>/review", {"csrf_token": token}, ok=(302, 303, 400, 409))
        if random.random() < 0.7:
            category = re.search(r'<select[^>]*name="category".*?</select>', page, re.S)
            options = OPTION.findall(category.group(0)) if category else []
            if not options:
                return
            data = {
                "csrf_token": token,
                "existing_flag": "",
                "category": options[0],
                "severity": "low",
                "note": "Accepted after talking with the teacher.",
            }
            action, name = "accept referral", "/referrals/<id>/accept"
            target = f"{path}/accept"
        else:
            data = {"csrf_token": token, "reason": "Already known; family supported by the nurse."}
            action, name, target = "close referral", "/referrals/<id>/close", f"{path}/close"
        if random.random() < 0.4:
            self.twice(action, target, name, data, ok=(302, 303, 400, 409))
        else:
            self.post(target, name, data, ok=(302, 303, 400, 409))


class Principal(Browser):
    """Looks at the school's coverage and who is flagged but not covered."""

    network = 2
    wait_time = between(1, 3)
    fixed_count = COUNTS.get("Principal", 0)

    def on_start(self) -> None:
        super().on_start()
        self.sign_in(PLAN["principals"][self.n % len(PLAN["principals"])])

    @task(4)
    def coverage(self) -> None:
        self.get("/reports/coverage", "/reports/coverage")

    @task(1)
    def students(self) -> None:
        self.get("/students", "/students")

    @task(1)
    def home(self) -> None:
        self.get("/", "/")


class Staff(Browser):
    """Teachers and nurses: find a student of their school and refer a concern; see their referrals."""

    network = 3
    wait_time = between(2, 6)
    fixed_count = COUNTS.get("Staff", 0)

    def on_start(self) -> None:
        super().on_start()
        self.sign_in(PLAN["staff"][self.n % len(PLAN["staff"])])

    @task(2)
    def refer(self) -> None:
        _, page = self.get(f"/referrals/new?q={random.choice(GIVEN)}", "/referrals/new?q=")
        found = REFER_LINK.findall(page)
        if not found:
            return
        path = f"/referrals/new?student={random.choice(found)}"
        status, page = self.get(path, "/referrals/new?student=<id>")
        boxes = [a or b for a, b in CATEGORY_BOX.findall(page)]
        if status != 200 or not boxes:
            return
        self.post(
            path,
            "/referrals/new?student=<id>",
            {
                "csrf_token": _csrf(page),
                "categories": random.sample(boxes, k=min(len(boxes), random.choice([1, 2]))),
                "observation": "Said she has nowhere to sleep this weekend and an older friend will 'take care of it'.",
                "urgency": random.choice(["routine", "routine", "soon", "urgent"]),
            },
        )

    @task(1)
    def mine(self) -> None:
        self.get("/referrals/mine", "/referrals/mine")


class Admin(Browser):
    """One roster import through the admin page: upload (dry run), read the report, apply, follow it."""

    network = 4
    wait_time = constant(1)
    fixed_count = COUNTS.get("Admin", 0)

    def on_start(self) -> None:
        super().on_start()
        self.done = False
        self.sign_in(PLAN["admin"])

    def follow(self, run_id: int, key: str) -> str:
        """Poll the run's progress until it is no longer working; its last status."""
        started, state = time.time(), "?"
        while True:
            status, text = self.get(f"/admin/roster/{run_id}/progress.json", "/admin/roster/<id>/progress.json")
            state = json.loads(text).get("status", "?") if status == 200 else f"HTTP {status}"
            if state not in ("running", "queued", "pending", "waiting", "claimed"):
                break
            gevent.sleep(1)
        roster[f"{key}_seconds"] = round(time.time() - started, 1)
        roster[f"{key}_status"] = state
        return state

    @task
    def roster_import(self) -> None:
        if self.done:
            gevent.sleep(5)
            return
        self.done = True
        _, page = self.get("/admin/roster", "/admin/roster")
        boundary = uuid.uuid4().hex
        with open(PLAN["roster_zip"], "rb") as fh:
            archive = fh.read()
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{_csrf(page)}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="archive"; filename="sis-export.zip"\r\n'
                f"Content-Type: application/zip\r\n\r\n"
            ).encode()
            + archive
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, _ = self.call(
            "POST",
            "/admin/roster",
            "/admin/roster",
            ok=(302, 303),
            body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        roster["upload_answer"] = status
        dry_run = self._redirected_run()
        if dry_run is None:
            return
        roster["dry_run_id"] = dry_run
        if self.follow(dry_run, "dry_run") != "done":
            return
        _, page = self.get(f"/admin/roster/{dry_run}", "/admin/roster/<id>")
        status, _ = self.post(f"/admin/roster/{dry_run}/apply", "/admin/roster/<id>/apply", {"csrf_token": _csrf(page)})
        roster["apply_answer"] = status
        applied = self._redirected_run()
        if applied is None or applied == dry_run:
            return
        roster["applied_id"] = applied
        self.follow(applied, "apply")

    def _redirected_run(self) -> int | None:
        """The run id the last answer redirected to."""
        found = RUN_LINK.search(self.location)
        return int(found.group(1)) if found else None


class Guesser(Browser):
    """Someone trying passwords for one account, spread over both servers: throttled at the shared limit."""

    network = 5
    wait_time = between(0.5, 1.5)
    fixed_count = COUNTS.get("Guesser", 0)

    def on_start(self) -> None:
        super().on_start()
        self.target = PLAN["guess_targets"][self.n % len(PLAN["guess_targets"])]

    @task
    def guess(self) -> None:
        _, page = self.get("/login", "/login")
        status, _ = self.post(
            "/login",
            "/login (wrong password)",
            {"csrf_token": _csrf(page), "email": self.target, "password": f"guess-{uuid.uuid4().hex}"},
            ok=(401, 429),
        )
        guesses["wrong" if status == 401 else "throttled" if status == 429 else f"HTTP {status}"] += 1


class BareOk(FastHttpUser):
    """The floor: a bare Flask app answering 'ok' under the same gunicorn settings, as fast as it can."""

    host = HOSTS[0]
    wait_time = constant(0)
    fixed_count = COUNTS.get("BareOk", 0)

    @task
    def ok(self) -> None:
        with self.client.get("/", name="ok", catch_response=True) as response:
            _count("GET", "ok", response.status_code or 0)


class NoCookies(DefaultCookiePolicy):
    """Keep no cookie: the session is sent as its own header."""

    def set_ok(self, cookie, request):
        return False


class StudentPage(Browser):
    """A counselor opening student pages one after another, as fast as the server answers.

    Signed in beforehand by scale_out.py (SP_BENCH_PLAN's speed_sessions): the time measured is the
    page's alone, not the sign-ins' password hashing.
    """

    network = 6
    wait_time = constant(0)
    fixed_count = COUNTS.get("StudentPage", 0)

    def on_start(self) -> None:
        super().on_start()
        self.client.cookiejar.set_policy(NoCookies())
        session = PLAN["speed_sessions"][self.n % len(PLAN["speed_sessions"])]
        self.students = session["students"]
        self.cookie = session["cookie"]

    @task
    def student_page(self) -> None:
        self.call("GET", f"/students/{random.choice(self.students)}", "/students/<id>", headers={"Cookie": self.cookie})
