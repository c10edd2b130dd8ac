"""One crawl of every page as every role, who chose Spanish: each page that names a student writes
its one audit row, each such row reads in plain words on the record of access, and no page still
reads as English.

The world is tests/support/worlds.py's one_of_everything (so every route has a URL), with every
student renamed to a name no other text on a page can contain ("Zyxwa…", "Quorvel…"). Each role
opens every GET route of app.url_map, plus the query strings that make a page list more (a search,
another tab). For each page whose body names a student (given, family or preferred name), the
rows the request added to the audit trail must be exactly one of:

- a row about one student: its student_id is set, and it is the only student the page names;
- a list row: no student_id, and a count in its detail (how many were shown), as the student list
  and the referral queue write;

plus, at most, the audited reads of restricted notes the page showed (actions ending in ".read"),
each about a student the page names. A page that names a student and adds no row, or two page
rows, fails the test with its address.

Some answers carry students' records without their names (the calendar feed gives initials, a
student-level export SIS identifiers):
READS_WITHOUT_NAMES lists them, and they must write their row too.

Spanish: the crawl's user chose it (and the browser asks for English: her choice wins). An HTML
page that answers 2xx must be marked lang="es" and have no line that reads as English
(tests/support/pages.english_left: a line with an English-only word such as "the", "save",
"student", once the records' own words are taken out: every text the database holds, the
district's data in its own words, not interface text).
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from sqlalchemy import func, select

from school_prevention.access_record.views import LABELS
from school_prevention.audit.models import AuditEvent
from school_prevention.extensions import db
from school_prevention.students.models import Student
from tests.factories import make_flag, make_student
from tests.support.apps import module_world
from tests.support.endpoints import ALL, requests_for
from tests.support.pages import english_left, records_words
from tests.support.worlds import one_of_everything

# Pages that show more with a query string: endpoint -> query strings ({name} is a world value).
MORE = {
    "students.index": [
        "?q=zyxwa",
        "?q=quorvel&include_inactive=y",
        "?flag_status=current&plan=none&sort=severity",
        "?select=all&sort=last_contact",
        "?severity=bogus",
    ],
    "students.bulk_plans": ["?student={student_id}"],
    "students.bulk_enroll": ["?student={student_id}"],
    "students.bulk_assign": ["?student={student_id}"],
    "referrals.new": ["?q=zyxwa", "?q=quorvel", "?student={student_id}"],
    "referrals.queue": ["?show=decided"],
    "programs.index": ["?show=all"],
    "programs.detail": ["?q=zyxwa"],
    "programs.end": ["?status=completed"],
    "mentoring.matches": ["?show=closed", "?show=all"],
    "mentoring.mentors": ["?show=all"],
    "flags.new": ["?source=screening"],
    "checkins.plan_new": ["?flag_id={flag_id}"],
    "students.summary": ["?include_restricted=y"],
}
# Answers about students' records that name none of them (initials only): they write a row all the same.
READS_WITHOUT_NAMES = {"checkins.feed", "exports.student_export_download"}
# Audited reads of a restricted note: written beside the page's row, about the student it names.
NOTE_READ = re.compile(r"\.read$")


def _tag(n: int) -> str:
    """Four letters for n ("aaaa", "aaab", …): every name has the same length, none contains another."""
    letters = ""
    for _ in range(4):
        n, r = divmod(n, 26)
        letters = chr(ord("a") + r) + letters
    return letters


def _crawl_world():
    """One of everything a route names (tests/support/worlds.py) with names found nowhere else; one student
    also has a preferred name. A flagged student in no program is added, for the lists of students not
    yet helped (the coverage report)."""
    world = one_of_everything(db.session)
    make_flag(make_student(world["school"]), world["users"]["counselor"])
    students = db.session.scalars(select(Student).order_by(Student.id)).all()
    for n, student in enumerate(students):
        student.given_name, student.family_name = f"Zyxwa{_tag(n)}", f"Quorvel{_tag(n)}"
    students[0].preferred_name = f"Pimbrit{_tag(0)}"
    db.session.commit()
    return world


crawl_world = module_world(_crawl_world, name="crawl_world")  # built once for the module's crawls


def _names(db_session) -> dict[int, list[str]]:
    """student id -> the lower-case names a page could show."""
    return {
        s.id: [n.lower() for n in (s.given_name, s.family_name, s.preferred_name) if n]
        for s in db_session.scalars(select(Student))
    }


def _urls(app, objects, role):
    """(endpoint, url) of every GET route, and of its MORE variants."""
    values = {"student_id": objects["student"].id, "flag_id": objects["flag"].id}
    for endpoint, method, url in requests_for(app, objects, role):
        if method != "GET" or endpoint == "static":
            continue
        yield endpoint, url
        for extra in MORE.get(endpoint, []):
            yield endpoint, url + extra.format(**values)


def _text(response) -> str:
    """The answer as text: a page, a feed or a CSV as it is; a workbook (xlsx, a zip) as its XML parts."""
    data = response.get_data()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return "\n".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())
    return data.decode("utf-8", "replace")


def _last_id(db_session) -> int:
    return db_session.scalar(select(func.max(AuditEvent.id))) or 0


def _is_list_row(row: AuditEvent) -> bool:
    return row.student_id is None and any(
        isinstance(v, int) and not isinstance(v, bool) for v in (row.detail or {}).values()
    )


def audit_problem(body: str, rows: list[AuditEvent], names: dict[int, list[str]], reads_records: bool) -> str | None:
    """What is wrong with the audit rows a page wrote, or None. (Kept apart so it can be tested alone.)"""
    text = body.lower()
    named = {sid for sid, parts in names.items() if any(p in text for p in parts)}
    if not named and not reads_records:
        return None
    reads = [r for r in rows if NOTE_READ.search(r.action)]
    page_rows = [r for r in rows if not NOTE_READ.search(r.action)]
    if stray := [r.action for r in reads if r.student_id not in named]:
        return f"note reads about a student the page does not name: {stray}"
    if len(page_rows) != 1:
        return (
            f"names students {sorted(named)} and wrote {len(page_rows)} page rows "
            f"({[r.action for r in page_rows]}); exactly one is due"
        )
    row = page_rows[0]
    if row.student_id is not None:
        if named != {row.student_id}:
            return (
                f"wrote {row.action} about student {row.student_id} but names {sorted(named)}: "
                "a page naming several students writes one list row"
            )
        return None
    if not _is_list_row(row):
        return f"{row.action} names no student and carries no count: {row.detail}"
    return None


@pytest.mark.parametrize("role", sorted(ALL))
def test_every_page_writes_its_audit_row_and_reads_in_spanish(app, login_as, crawl_world, db_session, role):
    user = crawl_world["users"][role]
    user.locale = "es"
    db_session.commit()
    names = _names(db_session)
    words = records_words()
    client = app.test_client()
    login_as(user, client)
    problems, english, named_pages, pages = [], [], 0, 0
    for endpoint, url in _urls(app, crawl_world, role):
        before = _last_id(db_session)
        response = client.get(url, headers={"Accept-Language": "en"})  # her choice beats the browser's
        assert response.status_code < 500, (role, url, response.status_code)
        rows = db_session.scalars(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)).all()
        body = _text(response)
        reads_records = endpoint in READS_WITHOUT_NAMES and response.status_code == 200
        problem = audit_problem(body, rows, names, reads_records)
        if any(p in body.lower() for parts in names.values() for p in parts):
            named_pages += 1
        if problem:
            problems.append(f"{role} GET {url} ({endpoint}, {response.status_code}): {problem}")
        if response.status_code < 300 and response.mimetype == "text/html":
            pages += 1
            if '<html lang="es">' not in body:
                english.append(f"{url} ({endpoint}): not marked lang=es")
            if left := english_left(body, words):
                english.append(f"{url} ({endpoint}): {left[:6]}")
    assert not problems, "\n".join(problems)
    # What the record of access shows a parent or the privacy officer: "Opened a flag to edit it",
    # never "flag.edit.view". Every action written about a student has its plain description.
    actions = set(db_session.scalars(select(AuditEvent.action).where(AuditEvent.student_id.is_not(None))))
    assert not sorted(actions - set(LABELS)), "add a plain description to access_record.views.LABELS"
    if role == "counselor":
        assert len(actions) > 10, actions  # the crawl opened the pages that name a student
    if role in {"counselor", "principal", "staff"}:
        assert named_pages, f"the crawl as {role} met no page naming a student: the world no longer exercises it"
    assert pages > 5, f"the crawl as {role} opened only {pages} pages"
    assert not english, f"{len(english)} pages still read as English for a {role}:\n" + "\n".join(english)


def test_the_rule_itself():
    """audit_problem accepts one page row about the one named student, or one list row with a count."""
    names = {1: ["zyxwaaaaa", "quorvelaaaa"], 2: ["zyxwaaaab", "quorvelaaab"]}
    one, both = "<p>Quorvelaaaa, Zyxwaaaaa</p>", "<p>Quorvelaaaa</p><p>Zyxwaaaab</p>"
    about = lambda sid: AuditEvent(action="student.view", student_id=sid)  # noqa: E731
    listing = AuditEvent(action="student.list", detail={"shown": 2, "searched": True})
    assert audit_problem("<p>No one</p>", [], names, False) is None
    assert audit_problem(one, [about(1)], names, False) is None
    assert audit_problem(one, [AuditEvent(action="flag.note.read", student_id=1), about(1)], names, False) is None
    assert audit_problem(both, [listing], names, False) is None
    assert "wrote 0 page rows" in audit_problem(one, [], names, False)
    assert "wrote 2 page rows" in audit_problem(one, [about(1), about(1)], names, False)
    assert "one list row" in audit_problem(both, [about(1)], names, False)
    assert "carries no count" in audit_problem(both, [AuditEvent(action="x.list", detail={"ok": True})], names, False)
    assert "does not name" in audit_problem(
        one, [AuditEvent(action="flag.note.read", student_id=2), about(1)], names, False
    )
    assert "wrote 0 page rows" in audit_problem("BEGIN:VCALENDAR", [], names, True)
