"""Counselors saving and reading at once against a running server (the demo district): every answer counted.

    SP_SECOND_FACTOR_REQUIRED=false PORT=5092 bin/run  # in another shell: a throwaway demo copy
    python bench/saves_at_once.py http://127.0.0.1:5092 60

Four signed-in counselors (two per demo counselor account), each in a loop for the given seconds:
open a student's new-flag form, save a low flag, then open the student's page, the check-in list
and the coverage page. The scheduler that bin/run starts writes beside them. Prints the count of
each (request, status) and of server errors; a 500 is a failure. It adds flags to the database
it runs against: use a copy.
"""

from __future__ import annotations

import collections
import http.cookiejar
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

base, seconds = sys.argv[1].rstrip("/"), float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
PW = "lantern-harbor-meadow-42"  # the demo accounts' password (README)
ACCOUNTS = [
    "counselor@demo.school",
    "counselor@demo.school",
    "counselor.high@demo.school",
    "counselor.high@demo.school",
]
statuses: collections.Counter = collections.Counter()
errors: list[str] = []
lock = threading.Lock()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to count, not to follow."""

    def redirect_request(self, *args, **kwargs):
        return None


def browser():
    """A client with its own cookies, as each counselor's browser has."""
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect())


def call(client, path: str, data: dict | None = None) -> tuple[int, str]:
    """GET, or POST the form data; (status, body)."""
    encoded = urllib.parse.urlencode(data, doseq=True).encode() if data else None
    try:
        response = client.open(urllib.request.Request(base + path, data=encoded), timeout=60)
        return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    return found.group(1)


def count(kind: str, code: int, what: str) -> None:
    with lock:
        statuses[(kind, code)] += 1
        if code >= 500:
            errors.append(what)


def counselor(email: str, n: int) -> None:
    client = browser()
    _, page = call(client, "/login")
    code, _ = call(client, "/login", {"csrf_token": csrf_token(page), "email": email, "password": PW})
    count("sign in", code, "/login")
    if code not in (302, 303):
        return
    _, page = call(client, "/students")
    students = sorted(set(re.findall(r'href="/students/(\d+)"', page)))
    end, i = time.time() + seconds, 0
    while time.time() < end:
        student = students[(i * 7 + n) % len(students)]
        i += 1
        code, page = call(client, f"/students/{student}/flags/new")
        if code == 200:
            category = re.search(r'<option value="(\d+)"', page).group(1)
            code, _ = call(
                client,
                f"/students/{student}/flags/new",
                {
                    "csrf_token": csrf_token(page),
                    "category": category,
                    "severity": "low",
                    "source": "counselor_observation",
                    "note": f"Saved at once by {n}, round {i}.",
                },
            )
            count("save flag", code, f"/students/{student}/flags/new")
        for path in (f"/students/{student}", "/checkins", "/reports/coverage"):
            code, _ = call(client, path)
            count("open page", code, path)


threads = [threading.Thread(target=counselor, args=(email, n)) for n, email in enumerate(ACCOUNTS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
for (kind, code), n in sorted(statuses.items()):
    print(f"{kind:<10} {code}  {n}")
print(f"server errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
sys.exit(1 if errors else 0)
