"""On a phone (390 px wide) every main page of every role fits the screen, labels each cell of its stacked
tables and passes axe; the menu folds behind a button; coverage, a program roster and a student page print
without the menu or buttons, with folded sections open.

The pages come from the URL map: every GET route the role's policy admits, its ids taken from the demo
district inside the role's scope (a route whose ids the demo does not have is left out, as are answers that
are not pages: downloads, feeds, JSON)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from school_prevention import permissions as perm
from school_prevention.auth.models import User
from school_prevention.checkins.queries import visible_checkin_plans, visible_checkins
from school_prevention.extensions import db
from school_prevention.flags.queries import visible_flags
from school_prevention.permissions import policy_for
from school_prevention.programs.queries import visible_matches, visible_mentors, visible_programs
from school_prevention.referrals.queries import triage_referrals
from school_prevention.roles import Role
from tests.e2e.authenticator import second_step
from tests.e2e.journeys import ARTIFACTS, Journey, sign_in

PHONE = {"width": 390, "height": 844}
ROLES = {
    "counselor": "counselor@demo.school",
    "principal": "principal@demo.school",
    "staff": "staff@demo.school",
    "district": "district@demo.school",
    "admin": "admin@demo.school",
}
# Routes that are not pages a person opens from the app (sign-in pages are checked signed out).
NOT_PAGES = {
    "static",
    "auth.login",
    "auth.forgot_password",
    "auth.reset_password",
    "auth.accept_invitation",
    "home.healthz",
    "checkins.feed",
}

OVERFLOW_AND_CELLS = """() => {
  const wide = document.documentElement.scrollWidth > window.innerWidth;
  const offenders = wide ? [...document.querySelectorAll('main *, header *')]
      .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(-3).map(e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.')) : [];
  const unlabelled = [];
  for (const table of document.querySelectorAll('table')) {
    const row = table.tBodies[0] && table.tBodies[0].rows[0];
    if (!row || getComputedStyle(row).display !== 'block') continue;  // not stacked
    const head = table.tHead ? table.tHead.rows[table.tHead.rows.length - 1] : null;
    const columns = head ? [...head.cells].reduce((n, c) => n + c.colSpan, 0) : 0;
    for (const td of table.querySelectorAll('tbody td, tfoot td')) {
      const label = (td.getAttribute('data-label') || '').trim();
      const spansRow = td.colSpan >= columns;
      if (!label && !spansRow && td.textContent.trim()) unlabelled.push(td.textContent.trim().slice(0, 30));
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, offenders, unlabelled};
}"""


def _role_values(user: User) -> dict:
    """One id of each kind inside the user's scope, from the demo district (a kind it lacks is absent)."""
    role = Role(user.role)
    values: dict = {"kind": "flag-categories"}

    def first(query, key):
        row = db.session.scalars(query.limit(1)).first()
        if row is not None:
            values[key] = row.id

    if role in perm.CASE_ROLES:
        from school_prevention.flags.models import RiskFlag
        from school_prevention.students.models import Student

        first(
            perm.visible_students(user).where(Student.id.in_(select(RiskFlag.student_id))).order_by(Student.id),
            "student_id",
        )
        first(visible_flags(user).order_by(RiskFlag.id), "flag_id")
        first(visible_programs(user), "program_id")
        first(visible_mentors(user), "mentor_id")
        first(visible_matches(user), "match_id")
    if role == Role.COUNSELOR:
        first(triage_referrals(user), "referral_id")
        first(visible_checkin_plans(user), "plan_id")
        first(visible_checkins(user), "checkin_id")
    if role in {Role.ADMIN, Role.PRINCIPAL}:
        first(select(User).where(User.id != user.id).order_by(User.id), "user_id")
    from school_prevention.awareness.models import AwarenessPage

    first(select(AwarenessPage).order_by(AwarenessPage.id), "page_id")
    return values


def main_pages(app, email: str) -> list[str]:
    """The URLs of every GET route the user's role may open, with ids from the demo district."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        values = _role_values(user)
        role = Role(user.role)
        urls = []
        with app.test_request_context():
            for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
                policy = policy_for(app, rule.endpoint)
                if (
                    "GET" not in rule.methods
                    or rule.endpoint in NOT_PAGES
                    or policy is None
                    or policy.public
                    or (policy.roles is not None and role not in policy.roles)
                ):
                    continue
                args = {a: values[a] for a in rule.arguments if a in values}
                optional = set(rule.arguments) - set(args) <= set(rule.defaults or {})
                if not optional:
                    continue
                urls.append(rule.build(args)[1])
        db.session.remove()
    return list(dict.fromkeys(urls))


@pytest.fixture
def phone(browser, live_server, request):
    """A phone-sized browser context; every page visited must pass axe."""
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    j = Journey(page=page, folder=ARTIFACTS / name)
    missing = []
    page.on("response", lambda r: r.status == 404 and missing.append(r.url))
    j.missing = missing
    yield j
    context.close()


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_main_page_fits_a_phone(phone, live_server, role):
    page = phone.page
    sign_in(phone, ROLES[role])
    urls = main_pages(live_server.app, ROLES[role])
    assert len(urls) >= 3, urls
    problems, opened = [], 0
    for url in urls:
        probe = page.request.get(url)
        if probe.status != 200 or "text/html" not in probe.headers.get("content-type", ""):
            continue  # a download, or a page this demo account cannot open
        page.goto(url)
        opened += 1
        phone.axe()
        found = page.evaluate(OVERFLOW_AND_CELLS)
        if found["scrollWidth"] > found["innerWidth"]:
            problems.append(
                f"{url} scrolls sideways ({found['scrollWidth']} > {found['innerWidth']}): {found['offenders']}"
            )
        if found["unlabelled"]:
            problems.append(f"{url} has stacked cells without a label: {found['unlabelled'][:5]}")
    assert opened >= 3
    assert not problems, "\n".join(problems)
    assert not phone.missing, f"answers 404: {phone.missing}"


def test_the_menu_folds_behind_a_button_and_opens_with_the_keyboard(phone):
    page = phone.page
    sign_in(phone, ROLES["counselor"])
    menu = page.get_by_role("navigation", name="Main")
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("link", name="Students")).to_be_visible()
    phone.axe()
    # The open menu's links read against the dark header, not the page behind it.
    colours = menu.get_by_role("link", name="Students").evaluate(
        "a => [getComputedStyle(a).color, getComputedStyle(a.closest('header')).backgroundColor, a.closest('header').getBoundingClientRect().bottom >= a.getBoundingClientRect().bottom]"
    )
    assert colours == ["rgb(255, 255, 255)", "rgb(23, 71, 106)", True]
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(toggle).to_be_focused()
    toggle.click()
    menu.get_by_role("link", name="Students").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    phone.axe()
    assert page.url.endswith("/students")
    assert not phone.missing, f"answers 404: {phone.missing}"


def test_without_scripts_the_menu_is_a_visible_list(browser, live_server, tmp_path):
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_label("Email").fill(ROLES["principal"])
        page.get_by_label("Password").fill("lantern-harbor-meadow-42")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        # The second step (set up the app, or type its code) works without scripts too.
        second_step(SimpleNamespace(page=page, axe=lambda: None), ROLES["principal"])
        menu = page.get_by_role("navigation", name="Main")
        expect(menu.get_by_role("link", name="Coverage")).to_be_visible()
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(_folder("no-script") / "home.png"), full_page=True)
    finally:
        context.close()


def _folder(name):
    folder = ARTIFACTS / "print" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _printed(journey: Journey, name: str) -> None:
    """The page as printed: no menu, no buttons, every folded section open, headings kept with what follows."""
    page = journey.page
    page.emulate_media(media="print")
    try:
        expect(page.locator("header.site-header")).to_be_hidden()
        expect(page.locator("main .button:visible, main button:visible")).to_have_count(0)
        for details in page.locator("main details").all():
            body = details.locator(":scope > :not(summary)").first
            expect(body).to_be_visible()
        breaks = page.locator("main h2").evaluate_all("hs => hs.map(h => getComputedStyle(h).breakAfter)")
        assert breaks and set(breaks) == {"avoid"}, breaks
        page.screenshot(path=str(_folder(name) / "print.png"), full_page=True)
        page.pdf(path=str(_folder(name) / "print.pdf"), format="Letter")
    finally:
        page.emulate_media(media="screen")


def test_coverage_roster_and_student_page_print_without_menu_or_buttons(journey, live_server):
    page = journey.page
    sign_in(journey, ROLES["principal"])
    page.goto("/reports/coverage")
    journey.axe()
    weekly = page.get_by_role("heading", name=re.compile("^Week by week"))
    expect(weekly).to_be_visible()
    _printed(journey, "coverage")
    page.emulate_media(media="print")
    # The weekly table, folded on screen, is on paper.
    expect(page.locator("section", has=weekly).locator("table")).to_be_visible()
    page.emulate_media(media="screen")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Programs").click()
    journey.axe()
    page.locator("main table a").first.click()
    journey.axe()
    expect(page.locator("main table").first).to_be_visible()
    _printed(journey, "roster")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Students").click()
    journey.axe()
    page.locator("main table a").first.click()
    journey.axe()
    _printed(journey, "student")
