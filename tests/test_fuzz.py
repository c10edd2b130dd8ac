"""Property-based fuzzing of every form and query string: no input answers 5xx, and a 4xx changes nothing.

For every endpoint (POST: its form body; GET: its query string), as a user of a role allowed to
use it, Hypothesis generates inputs from the form's own field names (read from the forms the
role's pages render), with values that have broken apps before: empty and whitespace, very long
text, unicode (right-to-left marks, emoji), NUL bytes, out-of-range and negative numbers, floats,
dates in odd formats, ids of other objects, several values for one name, plus random extra keys.

One world per module and database (tests.support.worlds.one_of_everything), in a transaction that is
rolled back at the end; each example runs in a savepoint rolled back after it, so a 2xx that
changes things does not leak into the next example. After a 4xx nothing may have changed: every
INSERT, UPDATE and DELETE the request ran that touched a row, and was not undone with a savepoint
(tests/support/writes.py), is a change, except to audit_event, audit_chain_head and user_session (the
audit of a re-rendered page and the session's touch). A snapshot of every table (row counts and
a checksum of the rows) cross-checks that on the first refusals of each form and every
SNAPSHOT_EVERY-th after.

1,000 examples per form and method (marked slow: `bin/test -m slow`, on two pytest-xdist workers,
as .ci/run does); SP_FUZZ_EXAMPLES=50 runs a quick pass; SP_FUZZ_TIMINGS=FILE notes each form's
examples, seconds, CPU seconds and (PostgreSQL on this machine) the server's CPU seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text
from sqlalchemy.orm import scoped_session, sessionmaker
from werkzeug.exceptions import HTTPException

from school_prevention import create_app
from school_prevention.auth import sessions
from school_prevention.config import TestConfig
from school_prevention.extensions import db, limiter
from tests.support.apps import IsolatedClient, migrate_to_head
from tests.support.databases import new_database_url
from tests.support.endpoints import EXPECTED, PUBLIC, requests_for
from tests.support.worlds import one_of_everything
from tests.support.writes import Writes

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("SP_FUZZ_EXAMPLES", "1000"))
TIMINGS = os.environ.get("SP_FUZZ_TIMINGS")  # a file to add one JSON line per form to: examples, seconds, CPU seconds
# Who fuzzes an endpoint: the first of these its policy allows (anonymous for public pages).
ROLE_ORDER = ["counselor", "principal", "admin", "staff", "district"]
SKIP = {"static"}  # files from disk: no form, no query
# Rows a refused (4xx) request may still write: its audit of the re-rendered page and the session's touch.
EXCLUDED_TABLES = frozenset({"audit_event", "audit_chain_head", "user_session", "alembic_version"})
SNAPSHOT_FIRST, SNAPSHOT_EVERY = 3, 200  # refusals per form also checked against a full snapshot
# Query keys lists and pages read, tried on every GET besides the fields its forms name.
COMMON_QUERY = [
    "page",
    "q",
    "sort",
    "from",
    "to",
    "school",
    "school_id",
    "status",
    "student",
    "level",
    "period",
    "next",
    "source",
    "category",
    "program",
    "kind",
    "week",
    "month",
    "year",
    "format",
]


def _targets():
    app = create_app(TestConfig())
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP:
            continue
        for method in ("GET", "POST"):
            if method in rule.methods:
                found.add((rule.endpoint, method))
    return sorted(found)


TARGETS = _targets()


def _role_for(endpoint: str) -> str | None:
    allowed = EXPECTED[endpoint]
    if allowed == PUBLIC:
        return None
    return next(role for role in ROLE_ORDER if role in allowed)


# --- the forms a role's pages render ------------------------------------------------------------


class _Forms(HTMLParser):
    """Every <form>: its action, method and fields (name -> option values, empty for free text)."""

    def __init__(self, page_url: str):
        super().__init__()
        self.page_url = page_url
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {
                "action": a.get("action") or self.page_url,
                "method": (a.get("method") or "get").upper(),
                "fields": {},
            }
            self.forms.append(self._form)
        elif self._form is None or not a.get("name"):
            if tag == "option" and self._form is not None and self._select and a.get("value") is not None:
                self._form["fields"][self._select].add(a["value"])
            return
        elif tag in {"input", "textarea", "select", "button"}:
            options = self._form["fields"].setdefault(a["name"], set())
            if tag == "input" and a.get("type") in {"checkbox", "radio", "hidden", "submit"} and a.get("value"):
                options.add(a["value"])
            if tag == "select":
                self._select = a["name"]
        elif tag == "option" and self._select and a.get("value") is not None:
            self._form["fields"][self._select].add(a["value"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _discover(app, send, requests, role) -> dict:
    """Render every GET page the role may open and note each form's fields under its target endpoint."""
    adapter = app.url_map.bind("localhost")
    found: dict = {}
    for endpoint, method, url in requests:
        if method != "GET" or endpoint in SKIP | {"auth.logout"} or not _allowed(endpoint, role):
            continue
        response = send("GET", url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        parser = _Forms(url)
        parser.feed(response.get_data(as_text=True))
        for form in parser.forms:
            path = urlsplit(form["action"]).path
            try:
                target, _ = adapter.match(path, method=form["method"])
            except HTTPException:
                continue
            entry = found.setdefault((target, form["method"]), {"fields": {}, "page": endpoint})
            for name, options in form["fields"].items():
                entry["fields"].setdefault(name, set()).update(options)
    return found


def _allowed(endpoint, role) -> bool:
    allowed = EXPECTED[endpoint]
    return allowed == PUBLIC or role in allowed


# --- what the database holds --------------------------------------------------------------------


def _snapshot() -> dict[str, tuple[int, str]]:
    """Row count and a checksum of the rows of every table (order-independent), but those a refusal may write."""
    connection = db.session.connection()
    tables = sorted(set(inspect(connection).get_table_names()) - EXCLUDED_TABLES)
    state = {}
    for table in tables:
        sql = f'SELECT * FROM "{table}"'
        if table == "notification":
            sql += " WHERE kind NOT LIKE 'audit.%'"
        rows = sorted(repr(tuple(row)) for row in connection.execute(text(sql)))
        state[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return state


# --- values -------------------------------------------------------------------------------------

NASTY = st.sampled_from(
    [
        "",
        " ",
        "   ",
        "\t",
        "\n",
        "\r\n",
        "\x00",
        "a\x00b",
        "\u00a0",
        "\u200b",
        "\ufeff",
        "0",
        "-1",
        "-0",
        "1",
        "00",
        "+1",
        "1_000",
        "0x10",
        "1e3",
        "1e308",
        "-1e308",
        "inf",
        "-inf",
        "NaN",
        "nan",
        "3.14",
        "-0.5",
        "0.0000001",
        "2147483647",
        "2147483648",
        "-2147483649",
        "9223372036854775808",
        "99999999999999999999",
        "1" * 400,
        "2026-13-45",
        "2026-02-30",
        "2026-02-29",
        "0000-00-00",
        "0001-01-01",
        "9999-12-31",
        "10000-01-01",
        "31/12/2026",
        "12/31/2026",
        "2026/12/31",
        "2026-1-1",
        "20261231",
        "2026-12-31T25:61",
        "2026-12-31 10:00",
        "today",
        "24:00",
        "25:61",
        "10:00:00",
        "-10:00",
        "10",
        "noon",
        "true",
        "false",
        "on",
        "off",
        "yes",
        "None",
        "null",
        "undefined",
        "[]",
        "{}",
        "' OR 1=1 --",
        '"; DROP TABLE student; --',
        "%",
        "_",
        "\\",
        "%00",
        "../../etc/passwd",
        "//evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
        "<script>alert(1)</script>",
        "{{7*7}}",
        "${7*7}",
        "\u202eevil\u202c",
        "\u05e9\u05dc\u05d5\u05dd",
        "\u0645\u0631\u062d\u0628\u0627",
        "😀",
        "👩‍👩‍👧‍👦",
        "𝔘𝔫𝔦",
        "e\u0301",
        "Ⅻ",
        "١٢٣",
        "٣",
        "²",
        "ß",
        "İ",
        "ǅ",
    ]
)
_LONG_CHARS = st.sampled_from(["a", "é", "😀", "\u05d0", " ", "9", "\x00"])
# A form body: past every field's limit, now and then past the 500 kB a form may hold. A query
# string: up to what a server lets through (gunicorn's request line is 4,094 bytes at most);
# Python's percent-decoding of megabytes would take most of the run and test nothing more.
LONG_BODY = st.builds(lambda ch, n: ch * n, _LONG_CHARS, st.sampled_from([101, 256, 1001, 2001, 10001] * 4 + [100_001]))
LONG_QUERY = st.builds(lambda ch, n: ch * n, _LONG_CHARS, st.sampled_from([101, 256, 1001, 4001]))
INTS = st.integers(min_value=-(2**70), max_value=2**70).map(str)
FLOATS = st.floats().map(repr)
DATES = st.dates().map(lambda d: d.isoformat()) | st.dates().map(lambda d: d.strftime("%d.%m.%Y"))
TEXT = st.text(max_size=40)


def _values(world_ids: list[int], options: set[str], long):
    picks = [NASTY, long, INTS, FLOATS, DATES, TEXT, st.sampled_from([str(i) for i in world_ids])]
    if options:
        sorted_options = sorted(options)
        picks.append(st.sampled_from(sorted_options))
        picks.append(st.sampled_from(sorted_options).map(lambda v: f" {v} "))
    return st.one_of(*picks)


def _form_data(fields: dict[str, set[str]], world_ids: list[int], method: str):
    """A dict name -> value or list of values: some fields left out, some repeated, extra keys added."""
    long = LONG_QUERY if method == "GET" else LONG_BODY

    def one(options):
        values = _values(world_ids, options, long)
        return st.one_of(values, values, st.lists(values, min_size=2, max_size=4))

    known = st.fixed_dictionaries({}, optional={name: one(options) for name, options in fields.items()})
    # Keys no form shows: random text, and names apps often read (for a query string, those lists and pages read).
    guesses = ["id", "user_id", "school_id", "csrf_token", "_method", "role", "status"]
    if method == "GET":
        guesses += COMMON_QUERY
    extra = st.dictionaries(
        st.one_of(TEXT.filter(bool), st.sampled_from(guesses), st.sampled_from(guesses)), one(set()), max_size=4
    )
    return st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]})


def _world_ids(world) -> list[int]:
    ids = {0, -1, 2**31, 2**63}
    for value in world.values():
        if hasattr(value, "id") and isinstance(value.id, int):
            ids.add(value.id)
    ids.update(user.id for user in world["users"].values())
    return sorted(ids)


# --- one world per module and database -------------------------------------------------------------


class Fuzzing:
    """The module's world, committed on a database of its own, and how to send requests as a role.

    Each test runs in a transaction of its own (transaction()), rolled back at its end: on
    PostgreSQL one transaction for the whole module would hold a lock for every savepoint it
    released until the server's lock table ran out."""

    def __init__(self, app):
        self.app = app
        self.backend = db.engine.dialect.name
        self.world = one_of_everything(db.session)
        self.world_ids = _world_ids(self.world)
        self.user_ids = {role: user.id for role, user in self.world["users"].items()}
        self.user_class = type(self.world["users"]["admin"])
        self.requests = {role: list(requests_for(app, self.world, role)) for role in [None, *ROLE_ORDER]}
        self.urls = {role: {e: url for e, _m, url in found} for role, found in self.requests.items()}
        db.session.commit()
        db.session.remove()
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self.cookies: dict[str | None, str | None] = {None: None}
        self.fields: dict[str | None, dict] = {}
        self.writes = Writes(db.engine)
        self.session = self.connection = None

    @contextmanager
    def transaction(self):
        """The test's own transaction: everything it does, its sign-in included, is rolled back at its end."""
        connection = db.engine.connect()
        outer = connection.begin()
        session = scoped_session(sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))
        original = db.session
        db.session, self.session, self.connection = session, session, connection
        try:
            yield
        finally:
            session.remove()
            db.session, self.session, self.connection = original, None, None
            if outer.is_active:
                outer.rollback()
            connection.close()

    def server_cpu(self) -> float:
        """CPU seconds the PostgreSQL server process of this connection has used (when it runs on this machine)."""
        if self.backend != "postgresql":
            return 0.0
        pid = self.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def sign_in(self, role: str | None) -> None:
        """A fresh server-side session for role (the module outlives the 30 minutes' idle limit)."""
        if role is None:
            return
        user = self.session.get(self.user_class, self.user_ids[role])
        token = sessions.start_session(user, ip="127.0.0.1", user_agent="pytest")
        self.session.commit()
        client = self.app.test_client()
        with client.session_transaction() as cookie:
            cookie["sid"], cookie["_user_id"], cookie["_fresh"] = token, str(user.id), True
        self.cookies[role] = client.get_cookie(self.cookie_name).value

    def sender(self, role: str | None):
        """send(method, url, **kw) as role: a client that keeps no cookies, so no answer can sign it out."""
        client = self.app.test_client(use_cookies=False)
        cookie = self.cookies[role]
        headers = {"Cookie": f"{self.cookie_name}={cookie}"} if cookie else {}

        def send(method, url, **kwargs):
            return client.open(url, method=method, headers=headers, **kwargs)

        return send

    def form(self, role: str | None, endpoint: str, method: str) -> dict:
        """The fields the role's pages show for (endpoint, method), and the page that shows them."""
        if role not in self.fields:
            self.fields[role] = _discover(self.app, self.sender(role), self.requests[role], role)
        return self.fields[role].get((endpoint, method), {"fields": {}, "page": None})


@pytest.fixture(scope="module")
def fuzzing(backend, tmp_path_factory, postgres):
    """An app on a database of its own with the world committed, for all the module's tests."""
    app = create_app(TestConfig(new_database_url(backend, "fuzz", tmp_path_factory, postgres)))
    app.test_client_class = IsolatedClient
    migrate_to_head(app)
    with app.app_context():
        fuzz = Fuzzing(app)
        yield fuzz
        fuzz.writes.close()
        db.session.remove()
        db.engine.dispose()


# --- the test -----------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint, method", TARGETS, ids=[f"{e}-{m}" for e, m in TARGETS])
def test_no_input_answers_5xx_and_a_refusal_changes_nothing(fuzzing, endpoint, method):
    with fuzzing.transaction():
        _fuzz(fuzzing, endpoint, method)


def _fuzz(fuzzing, endpoint, method):
    role = _role_for(endpoint)
    session = fuzzing.session
    fuzzing.sign_in(role)
    send = fuzzing.sender(role)
    urls = fuzzing.urls[role]
    entry = fuzzing.form(role, endpoint, method)
    fields = dict(entry["fields"])
    # Warm up: the pages that show this form, so what a first look records (opened, seen) is already there.
    for page in {entry["page"], endpoint if method == "GET" else None} - {None}:
        if page in urls and page != "auth.logout":
            send("GET", urls[page])
    session.commit()
    url = urls[endpoint]
    limiter.reset()
    baseline = _snapshot()
    session.commit()
    seen = {"refused": 0, "signed_out": 0, "examples": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(data=_form_data(fields, fuzzing.world_ids, method))
    def check(data):
        savepoint = fuzzing.connection.begin_nested()
        fuzzing.writes.reset()
        try:
            limiter.reset()
            if method == "GET":
                response = send("GET", url, query_string=data)
            else:
                response = send("POST", url, data=data)
            status = response.status_code
            seen["examples"] += 1
            seen["signed_out"] += status == 302 and response.headers.get("Location", "").startswith("/login")
            assert status < 500, (endpoint, method, status, data)
            if 400 <= status < 500 and status != 429:
                changed = fuzzing.writes.changed(EXCLUDED_TABLES)
                assert not changed, (endpoint, method, status, "changed:", changed, data)
                seen["refused"] += 1
                if seen["refused"] <= SNAPSHOT_FIRST or seen["refused"] % SNAPSHOT_EVERY == 0:
                    after = _snapshot()
                    drift = sorted(t for t in baseline if after.get(t) != baseline[t])
                    assert not drift, (endpoint, method, status, "changed (snapshot):", drift, data)
        finally:
            session.rollback()
            session.expunge_all()
            if savepoint.is_active:
                savepoint.rollback()

    started, cpu, db_cpu = time.perf_counter(), time.process_time(), fuzzing.server_cpu()
    check()
    if TIMINGS:
        with open(TIMINGS, "a") as out:
            out.write(
                json.dumps(
                    {
                        "backend": fuzzing.backend,
                        "endpoint": endpoint,
                        "method": method,
                        "examples": seen["examples"],
                        "refused": seen["refused"],
                        "seconds": round(time.perf_counter() - started, 3),
                        "cpu": round(time.process_time() - cpu, 3),
                        "db_cpu": round(fuzzing.server_cpu() - db_cpu, 3),
                    }
                )
                + "\n"
            )
    if role is not None and endpoint != "auth.logout":
        # The examples reached the page as the role (a session that had run out would test only the sign-in redirect).
        assert seen["signed_out"] < seen["examples"], (endpoint, method, "every request was sent to sign in")
