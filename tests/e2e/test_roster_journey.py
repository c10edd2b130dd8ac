"""An admin uploads the SIS's OneRoster export, watches it wait for the worker and work, reads its report and applies it."""

from __future__ import annotations

import re
import threading
import zipfile
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import func, select

from school_prevention.extensions import db
from school_prevention.roster import progress as progress_module
from school_prevention.roster import views as roster_views
from school_prevention.roster import worker as worker_module
from school_prevention.roster.models import RosterImport, RosterUpload
from school_prevention.roster.pipeline import read as read_module
from school_prevention.scheduler import run_job
from school_prevention.students.models import Student
from tests.e2e.journeys import sign_in
from tests.support import roster_files as rf

ARCHIVE = "sis-delta-export.zip"
SCHOOL = "demo-cedar-ms"  # the export adds students to a demo school the database already knows
NEW_STUDENTS = [
    ("e2e-roster-1", "Rowan", "Ashby", "06"),
    ("e2e-roster-2", "Juno", "Bellamy", "07"),
    ("e2e-roster-3", "Ezra", "Calloway", "08"),
    ("e2e-roster-4", "Wren", "Dufresne", "06"),
    ("e2e-roster-5", "Milo", "Eastwood", "07"),
    ("e2e-roster-6", "Ines", "Fairbanks", "08"),
]
BAD_SID, BAD_LINE = "e2e-roster-bad", 5  # users.csv: header on line 1, three students, then the bad row
# The importer reports progress by time, looking at the clock every PROGRESS_CHECK_ROWS rows; the
# journey sets the interval to 0 so it reports at each look, at the same rows on every run. Relative
# rows (ignored by the app, as in real exports) make the file long enough for a report mid-file.
REPORT_AT = read_module.PROGRESS_CHECK_ROWS
GUARDIANS = 2 * REPORT_AT
TOTAL_ROWS = len(NEW_STUDENTS) + 1 + GUARDIANS


def export_zip(tmp_path):
    """A delta export (orgs absent): a bulk users file without the demo's 600 students would be
    refused as a mass deactivation, and orgs would add schools the other journeys do not expect."""
    students = [
        rf.student(sid, given, family, SCHOOL, grade=grade, status="active")
        for sid, given, family, grade in NEW_STUDENTS
    ]
    bad = rf.student(BAD_SID, "Nova", "Gradeless", SCHOOL, grade="14", status="active")
    guardians = [
        rf.staff(f"e2e-relative-{n}", "Pat", f"Relative{n}", SCHOOL, role="relative", status="active")
        for n in range(1, GUARDIANS + 1)
    ]
    users = [rf.USER_HEADER, *students[:3], bad, *students[3:], *guardians]
    folder = rf.write(
        tmp_path / "export", {"manifest.csv": rf.manifest(users="delta", orgs="absent"), "users.csv": users}
    )
    archive = tmp_path / ARCHIVE
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.iterdir()):
            zf.write(file, f"oneroster/{file.name}")
    return archive


class HeldImport:
    """Holds the worker's import at its start and again at its first report from inside a file
    (after its beat has written those figures), so the journey sees the working page in each state
    without sleeping; everything else is real."""

    def __init__(self, monkeypatch):
        self.start, self.first_report = threading.Event(), threading.Event()
        monkeypatch.setattr(read_module, "PROGRESS_SECONDS", 0)
        monkeypatch.setattr(progress_module, "BEAT_SECONDS", 0.05)
        real_import, real_update = worker_module.import_roster, progress_module.Beat.update

        def held_import(*args, **kwargs):
            self.start.wait(30)
            return real_import(*args, **kwargs)

        def held_update(beat, done, total, current):
            real_update(beat, done, total, current)
            if 0 < done < total and not self.first_report.is_set():
                beat.write()
                self.first_report.wait(30)

        monkeypatch.setattr(worker_module, "import_roster", held_import)
        monkeypatch.setattr(progress_module.Beat, "update", held_update)

    def release_all(self):
        self.start.set()
        self.first_report.set()


class Scheduler:
    """The scheduler process's roster.work job, every 0.1 s on a thread of its own (as the real one,
    outside any web request), started when the journey wants a worker."""

    def __init__(self, app):
        self.app = app
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="e2e-roster-worker")

    def _run(self):
        while not self.stop.wait(0.1):
            run_job(self.app, "roster.work")

    def start(self):
        self.thread.start()

    def halt(self):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(60)


def imported(live_server):
    with live_server.app.app_context():
        return {
            s.sourced_id: (s.given_name, s.family_name, s.grade, s.is_active, s.school.sourced_id)
            for s in db.session.scalars(select(Student).where(Student.sourced_id.like("e2e-roster-%")))
        }


def count_row(page, label):
    """The figure in the report's counts table for a row header such as 'Students created'."""
    return (
        page.get_by_role("table", name="Counts").get_by_role("row", name=re.compile(f"^{label} ")).get_by_role("cell")
    )


def expect_rejected_row(page):
    rejected = page.get_by_role("table", name="Rejected rows with file, line and reason")
    expect(rejected.get_by_role("row")).to_have_count(2)  # header + the one bad row
    expect(rejected.get_by_role("row").nth(1).get_by_role("cell")).to_have_text(
        ["users.csv", str(BAD_LINE), re.compile(r"grade '14' is not a OneRoster grade")]
    )


def test_admin_checks_a_roster_export_then_applies_it(journey, live_server, tmp_path, monkeypatch):
    archive = export_zip(tmp_path)
    hold = HeldImport(monkeypatch)
    page = journey.page
    scheduler = Scheduler(live_server.app)
    try:
        sign_in(journey, "admin@demo.school")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Roster import").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Roster import")
        journey.axe()

        # Upload: the page's only path is a dry run first. The request only queues it.
        page.get_by_label("OneRoster export (.zip)").set_input_files(archive)
        page.get_by_role("button", name="Check this export").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Dry run of {ARCHIVE}")
        bar = page.get_by_role("progressbar", name="Import progress")
        expect(bar).to_be_visible()
        expect(bar).not_to_have_attribute("value", re.compile(".*"))  # indeterminate until there are figures
        expect(page.get_by_role("heading", name="Queued")).to_be_visible()
        expect(page.get_by_text("The import worker picks it up within a few seconds.")).to_be_visible()
        journey.axe()

        # No worker takes it: after a while the page says what is missing.
        monkeypatch.setattr(roster_views, "WORKER_LATE", timedelta(0))
        expect(page.get_by_role("heading", name="Waiting for the import worker…")).to_be_visible()
        expect(page.get_by_text("flask --app app scheduler run")).to_be_visible()
        journey.axe()

        # The scheduler runs: its worker claims the run, and the page reloads itself into the working state.
        scheduler.start()
        expect(page.get_by_role("heading", name="Working…")).to_be_visible()
        expect(page.get_by_text("Starting…")).to_be_visible()
        expect(bar).not_to_have_attribute("value", re.compile(".*"))
        expect(page.get_by_role("button", name="Discard")).to_have_count(0)  # only a queued run is discarded so
        journey.axe()

        # The page polls and shows figures, and the file being read, while the worker imports.
        hold.start.set()
        figures = f"{REPORT_AT:,} of {TOTAL_ROWS:,} rows read"
        expect(page.get_by_text(figures)).to_be_visible()
        expect(page.get_by_text("Reading users.csv")).to_be_visible()
        expect(bar).to_have_js_property("value", REPORT_AT)
        expect(bar).to_have_js_property("max", TOTAL_ROWS)
        expect(bar).to_have_attribute("aria-valuetext", f"{figures}, reading users.csv")
        journey.axe()

        # When it is done the page reloads itself into the dry-run report.
        hold.first_report.set()
        expect(page.get_by_role("status").filter(has_text="Dry run")).to_contain_text("nothing has changed yet")
        expect(page.get_by_role("progressbar")).to_have_count(0)
        expect(page.get_by_role("heading", name="What would change")).to_be_visible()
        counts = page.get_by_role("table", name="Counts").get_by_role("rowheader")
        expect(counts).to_have_text(["Students created", "Relative rows ignored", "Rows rejected"])  # rejected last
        expect(count_row(page, "Students created")).to_have_text(str(len(NEW_STUDENTS)))
        expect(count_row(page, "Rows rejected")).to_have_text("1")
        expect(count_row(page, "Relative rows ignored")).to_have_text(f"{GUARDIANS:,}")
        expect(page.get_by_role("heading", name="Rejected rows (1)")).to_be_visible()
        expect_rejected_row(page)
        expect(page.get_by_text("1 row will be skipped")).to_be_visible()
        journey.axe()
        assert imported(live_server) == {}, "a dry run must change nothing"
        dry_url = page.url

        # A second tab holds the same dry run, as read before anyone applied it.
        other_tab = page.context.new_page()
        other_tab.goto(dry_url)

        # Apply it: queued, run by the worker, and the page turns into the applied report.
        page.get_by_role("button", name="Apply this import").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Import of {ARCHIVE}")
        expect(page.get_by_role("status").filter(has_text="Import applied")).to_be_visible()
        applied_url = page.url
        applied_id = applied_url.rsplit("/", 1)[1]
        expect(page.get_by_role("heading", name="What changed")).to_be_visible()
        expect(count_row(page, "Students created")).to_have_text(str(len(NEW_STUDENTS)))
        expect(count_row(page, "Rows rejected")).to_have_text("1")
        expect(page.get_by_role("button", name="Apply this import")).to_have_count(0)
        expect_rejected_row(page)
        journey.axe()

        # Apply from the stale tab: nothing runs twice; it lands on the run that applied the file.
        other_tab.get_by_role("button", name="Apply this import").click()
        expect(other_tab).to_have_url(applied_url)
        expect(other_tab.get_by_role("status").filter(has_text="already applied")).to_have_text(
            f"This dry run was already applied as run #{applied_id}; it was not applied again."
        )
        other_tab.close()

        # The dry run now says where it went, and offers no Apply.
        page.goto(dry_url)
        applied_note = page.get_by_role("status").filter(has_text="Applied as")
        expect(applied_note).to_have_text(f"Applied as run #{applied_id}.")
        expect(page.get_by_role("button", name="Apply this import")).to_have_count(0)
        journey.axe()
        applied_note.get_by_role("link", name=f"run #{applied_id}").click()
        expect(page).to_have_url(applied_url)
        journey.axe()

        # Both runs are listed on the import page, newest first.
        page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Roster import").click()
        runs = (
            page.get_by_role("table", name="Past roster imports, newest first")
            .get_by_role("row")
            .filter(has_text=ARCHIVE)
        )
        expect(runs).to_have_count(2)
        expect(runs.nth(0).get_by_role("cell")).to_have_text([ARCHIVE, "Applied", "Done", "1", "Alex Admin"])
        expect(runs.nth(1).get_by_role("cell")).to_have_text([ARCHIVE, "Dry run", "Done", "1", "Alex Admin"])
        journey.axe()
    finally:
        hold.release_all()
        scheduler.halt()

    assert imported(live_server) == {
        sid: (given, family, grade, True, SCHOOL) for sid, given, family, grade in NEW_STUDENTS
    }
    with live_server.app.app_context():
        runs = db.session.scalars(
            select(RosterImport).where(RosterImport.source_name == ARCHIVE).order_by(RosterImport.id)
        ).all()
        assert [(r.is_dry_run, r.status, r.actor.email, r.upload_id, r.attempts) for r in runs] == [
            (True, "done", "admin@demo.school", None, 1),
            (False, "done", "admin@demo.school", None, 1),
        ]
        assert runs[0].applied_run_id == runs[1].id
        assert db.session.scalar(select(func.count()).select_from(RosterUpload)) == 0, "the applied upload is deleted"


def test_admin_retries_an_import_whose_worker_went_away(journey, live_server, tmp_path):
    """A worker died while it checked an export: the page says so and offers Retry and Discard;
    Retry queues it again, and the scheduler's worker runs it to its report."""
    from io import BytesIO

    from school_prevention.auth.models import User
    from school_prevention.db import utcnow
    from school_prevention.roster.services import start_upload
    from school_prevention.roster.worker import claim

    name = "sis-export-worker-died.zip"
    with live_server.app.app_context():
        admin = db.session.scalars(select(User).where(User.email == "admin@demo.school")).one()
        run = start_upload(admin, BytesIO(export_zip(tmp_path).read_bytes()), name)
        db.session.flush()
        claim(run.id, "app-2.district.example:4242", utcnow() - timedelta(minutes=10))
        db.session.commit()
        run_id = run.id
    page = journey.page
    scheduler = Scheduler(live_server.app)
    try:
        sign_in(journey, "admin@demo.school")
        page.goto("/admin/roster")
        row = (
            page.get_by_role("table", name="Past roster imports, newest first").get_by_role("row").filter(has_text=name)
        )
        expect(row.get_by_role("cell").nth(2)).to_have_text("Stopped: worker went away")
        journey.axe()
        row.get_by_role("link").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Stopped: the worker went away.")
        expect(alert).to_contain_text("worker app-2.district.example:4242")
        expect(page.get_by_role("progressbar")).to_have_count(0)
        expect(page.get_by_role("button", name="Discard")).to_be_visible()
        journey.axe()

        page.get_by_role("button", name="Retry").click()
        expect(page.get_by_role("status").filter(has_text="back in the queue")).to_have_text(
            f"Run #{run_id} is back in the queue: a worker will start it afresh."
        )
        expect(page.get_by_role("progressbar", name="Import progress")).to_be_visible()
        journey.axe()
        scheduler.start()
        expect(page.get_by_role("status").filter(has_text="Dry run")).to_contain_text("nothing has changed yet")
        expect(page.get_by_role("heading", name="What would change")).to_be_visible()
        expect_rejected_row(page)
        journey.axe()
    finally:
        scheduler.halt()
    with live_server.app.app_context():
        run = db.session.get(RosterImport, run_id)
        assert (run.status, run.attempts, run.is_dry_run) == ("done", 2, True)
