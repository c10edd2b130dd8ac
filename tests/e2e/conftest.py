"""Browser journeys: a live server per database backend, Debian's Chromium, and an axe check
on every page a journey visits (serious and critical violations fail the test)."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from school_prevention import create_app
from school_prevention.config import TestConfig
from school_prevention.demo import seed_demo
from school_prevention.extensions import db
from tests.e2e.journeys import ARTIFACTS, Journey, LiveServer
from tests.support.apps import migrate_to_head
from tests.support.databases import BACKENDS, new_database_url, unavailable

CHROMIUM = os.environ.get("SP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


# Journeys run on PostgreSQL only, the production database (the unit and view tests cover SQLite): a journey
# checks pages and clicks, which do not differ by database, and running them twice was half the suite's time.
# A machine without PostgreSQL (SP_TEST_BACKENDS=sqlite) still runs them, on SQLite.
JOURNEY_BACKENDS = ["postgresql"] if "postgresql" in BACKENDS else BACKENDS


@pytest.fixture(scope="session", params=JOURNEY_BACKENDS)
def backend(request) -> str:
    """The database the journeys' live servers use."""
    return request.param


@pytest.fixture(scope="session")
def live_server(backend, tmp_path_factory, postgres):
    """A real HTTP server (CSRF on) over a fresh, migrated, demo-seeded database."""
    config = TestConfig(new_database_url(backend, "e2e", tmp_path_factory, postgres))
    config.WTF_CSRF_ENABLED = True
    config.ROSTER_BATCH_SIZE = 2  # the admin upload's import runs several batches
    app = create_app(config)
    migrate_to_head(app)
    with app.app_context():
        seed_demo()
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    thread.join(10)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (Playwright's own browser downloads are not used)."""
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", f"{CHROMIUM} not found (apt-get install chromium, or set SP_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def journey(browser, live_server, request):
    """A fresh browser context per test; at the end, every visited page must have been checked."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    j = Journey(page=page, folder=ARTIFACTS / name)
    page.on("framenavigated", lambda frame: frame == page.main_frame and j.visited.append(frame.url))
    yield j
    context.close()
    missed = j.unchecked()
    if missed and not request.node.rep_call_failed:
        pytest.fail(f"pages visited without an accessibility check (call journey.axe()): {missed}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed
    return report
