"""Roster import: real-world CSV, every kind of bad row, idempotence, bulk/delta, guards, atomicity."""

from __future__ import annotations

import io
import re
import threading
import zipfile
from datetime import date, time, timedelta

import pytest
from sqlalchemy import event, func, select, update

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.db import utcnow
from school_prevention.disclosures.models import Guardian
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.programs.models import Enrollment
from school_prevention.programs.services import enroll
from school_prevention.roster import jobs as roster_jobs
from school_prevention.roster import uploads as roster_uploads
from school_prevention.roster.models import (
    RosterImport,
    RosterUpload,
    RosterUploadChunk,
    StudentDemographics,
    StudentSchoolChange,
)
from school_prevention.roster.pipeline import read as read_module
from school_prevention.roster.pipeline import run as run_module
from school_prevention.roster.pipeline import stage as stage_module
from school_prevention.roster.pipeline.report import count_rows
from school_prevention.roster.services import ApplyError, import_roster, retry_run, start_apply, start_run, start_upload
from school_prevention.roster.sources import RosterSource
from school_prevention.roster.uploads import UploadError, delete_uploads
from school_prevention.roster.worker import claim, claim_next, run_claimed
from school_prevention.scheduler import run_job
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests.factories import make_flag, make_program, make_user
from tests.support import roster_files as rf


@pytest.fixture(autouse=True)
def small_batches(app, monkeypatch):
    """Three students per batch: every rule below also holds across batches."""
    monkeypatch.setitem(app.config, "ROSTER_BATCH_SIZE", 3)


def run_import(path, dry_run=False, allow=False):
    run = start_run(None, str(path), dry_run=dry_run)
    return import_roster(run.id, path, dry_run=dry_run, allow_mass_deactivation=allow)


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def students_by_sid():
    return {s.sourced_id: s for s in db.session.scalars(select(Student))}


def test_real_world_csv_imports(tmp_path, db_session):
    files = {
        "manifest.csv": rf.manifest(demographics="bulk"),
        "orgs.csv": [
            rf.ORG_HEADER,
            rf.org("d1", "District", "district"),
            rf.org("s1", "Oak Elementary"),
            rf.org("s2", "Pine High School"),
        ],
        "users.csv": [
            rf.USER_HEADER + ["unknownColumn"],
            rf.student("a", "Ana", "Ruiz, Jr.", "s1", grade="PK", enabled="TRUE") + ["x"],
            rf.student("b", "Ben", "O'Neil\nSmith", "s9,s2", grade="KG", enabled="False") + ["x"],
            rf.student("c", "Cy", "Lee", "s2", grade="13") + ["x"],
            rf.student("d", "Di", "Ng", "s2", grade="9") + ["x"],
            rf.staff("t1", "Tess", "Teacher", "s1,s2") + ["x"],
            rf.guardian("p1", "Paul", "Parent", "a,b") + ["x"],
        ],
        "demographics.csv": [
            rf.DEMO_HEADER,
            ["a", "", "", "2015-01-01", "female", "false", "false", "false", "false", "true", "false", "TRUE"],
        ],
        "enrollments.csv": [["sourcedId"], ["e1"]],
    }
    report = run_import(rf.write(tmp_path / "set", files, bom=True, crlf=True))
    assert report.rejected == []
    students = students_by_sid()
    assert students["a"].family_name == "Ruiz, Jr." and students["a"].grade == "PK" and students["a"].is_active
    assert students["b"].family_name == "O'Neil\nSmith" and students["b"].grade == "KG" and not students["b"].is_active
    schools = {s.sourced_id: s for s in db.session.scalars(select(School))}
    assert students["b"].school_id == schools["s2"].id  # first org that is a school
    assert students["c"].grade == "13" and students["d"].grade == "09"
    assert schools["s1"].level == "elementary" and schools["s2"].level == "high"
    assert "d1" not in schools
    teacher = db.session.scalars(select(User).where(User.sourced_id == "t1")).one()
    assert teacher.role == "staff" and not teacher.is_active and teacher.password_hash is None
    assert sorted(s.sourced_id for s in teacher.schools) == ["s1", "s2"]
    assert report.counts["guardians_created"] == 1
    parent = db.session.scalars(select(Guardian).where(Guardian.sourced_id == "p1")).one()
    assert sorted(s.sourced_id for s in parent.students) == ["a", "b"] and parent.phone == "555-0100"
    assert db.session.get(StudentDemographics, students["a"].id).hispanic_or_latino is True
    assert any("enrollments.csv" in m for m in report.messages)


def test_second_import_changes_nothing_and_says_so(tmp_path, db_session):
    path = rf.write(tmp_path / "set", rf.district(30))
    first = run_import(path)
    assert first.counts["students_created"] == 30
    second = run_import(path)
    assert second.changes == 0 and second.counts["students_unchanged"] == 30
    assert "No changes" in " ".join(second.messages)


def test_every_kind_of_bad_row_is_reported_with_its_line_and_the_rest_imported(app, tmp_path, db_session):
    users = [
        rf.USER_HEADER,
        rf.student("ok1", "Ok", "One", "sch-1"),  # line 2
        rf.student("", "No", "Id", "sch-1"),  # 3
        rf.student("q", "Multi", "Line\nName", "sch-1"),  # 4-5 (valid)
        rf.student("r1", "Bad", "Role", "sch-1")[:5] + ["wizard"] + rf.student("r1", "B", "R", "sch-1")[6:],  # 6
        rf.student("e1", "Bad", "Enabled", "sch-1", enabled="yes"),  # 7
        rf.student("o1", "No", "School", "nowhere"),  # 8
        rf.student("g1", "Bad", "Grade", "sch-1", grade="14"),  # 9
        rf.student("ok1", "Dup", "Licate", "sch-1"),  # 10
        rf.student("x1", "Too", "Many", "sch-1") + ["extra"],  # 11
        rf.student("n1", "", "", "sch-1"),  # 12
        rf.staff("t9", "Nomail", "Teacher", "sch-1", email="nomail"),  # 13
        rf.student("ok2", "Ok", "Two", "sch-2"),
    ]  # 14
    files = rf.district(0)
    files["users.csv"] = users
    path = rf.write(tmp_path / "bad", files)
    result = app.test_cli_runner().invoke(args=["roster", "import", str(path)])
    assert result.exit_code == 1
    lines = {(r["line"], r["reason"].split(" ")[0]) for r in run_report_rejected()}
    assert {line for line, _ in lines} == {3, 6, 7, 8, 9, 10, 11, 12, 13}
    for expected in (
        "users.csv line 3: sourcedId is empty",
        "line 6: role 'wizard'",
        "line 7: enabledUser must be true or false",
        "line 8: none of orgSourcedIds (nowhere)",
        "line 9: grade '14'",
        "line 10: sourcedId ok1 appears more than once",
        "line 11: more fields",
        "line 12: givenName and familyName are required",
        "line 13: a staff member needs an email",
    ):
        assert expected in result.output, expected
    assert sorted(students_by_sid()) == ["ok1", "ok2", "q"]


def run_report_rejected():
    run = db.session.scalars(select(RosterImport).order_by(RosterImport.id.desc())).first()
    return run.rejected


def test_missing_required_column_rejects_that_file_naming_it(tmp_path, db_session):
    files = rf.district(5)
    files["users.csv"] = [[c for c in rf.USER_HEADER if c != "familyName"]] + [
        r[:9] + r[10:] for r in files["users.csv"][1:]
    ]
    report = run_import(rf.write(tmp_path / "set", files))
    assert report.rejected == [
        {"file": "users.csv", "line": 1, "reason": "missing required column(s) familyName: the whole file was not read"}
    ]
    assert count(Student) == 0 and count(School) == 2  # orgs.csv was still applied


def test_bulk_file_missing_half_the_students_is_refused(app, tmp_path, db_session):
    run_import(rf.write(tmp_path / "full", rf.district(40)))
    half = rf.district(40)
    half["users.csv"] = half["users.csv"][:21]
    path = rf.write(tmp_path / "half", half)
    result = app.test_cli_runner().invoke(args=["roster", "import", str(path)])
    assert result.exit_code == 1 and "REFUSED" in result.output and "20 of 40" in result.output
    assert count(Student, Student.is_active.is_(True)) == 40
    allowed = run_import(path, allow=True)
    assert allowed.counts["students_deactivated"] == 20
    assert count(Student) == 40 and count(Student, Student.is_active.is_(True)) == 20


def test_deactivated_student_keeps_flags_and_comes_back(tmp_path, db_session):
    run_import(rf.write(tmp_path / "full", rf.district(40)))
    gone = students_by_sid()["stu-40"]
    counselor = make_user("counselor", schools=[gone.school])
    make_flag(gone, counselor)
    db_session.commit()
    fewer = rf.district(40)
    fewer["users.csv"] = fewer["users.csv"][:-1]  # 1 of 40 missing: under the 5% guard
    run_import(rf.write(tmp_path / "fewer", fewer))
    db_session.expire_all()
    assert not gone.is_active and count(RiskFlag, RiskFlag.student_id == gone.id) == 1
    back = run_import(rf.write(tmp_path / "full2", rf.district(40)))
    assert back.counts["students_reactivated"] == 1


def test_delta_applies_tobedeleted_and_leaves_others(tmp_path, db_session):
    run_import(rf.write(tmp_path / "full", rf.district(10)))
    delta = {
        "manifest.csv": rf.manifest(users="delta", orgs="absent"),
        "users.csv": [
            rf.USER_HEADER,
            rf.student("stu-1", "Given1", "Family1", "sch-2", status="tobedeleted"),
            rf.student("stu-99", "New", "Kid", "sch-1", status="active"),
            rf.student("stu-98", "No", "Status", "sch-1"),
        ],
    }
    report = run_import(rf.write(tmp_path / "delta", delta))
    students = students_by_sid()
    assert not students["stu-1"].is_active and students["stu-99"].is_active
    assert count(Student, Student.is_active.is_(True)) == 10
    assert report.rejected == [
        {"file": "users.csv", "line": 4, "reason": "status must be active or tobedeleted in a delta file"}
    ]


def test_school_move_keeps_history(tmp_path, db_session):
    run_import(rf.write(tmp_path / "a", rf.district(4)))
    moved = rf.district(4)
    moved["users.csv"][1] = rf.student("stu-1", "Given1", "Family1", "sch-1")  # was sch-2
    report = run_import(rf.write(tmp_path / "b", moved))
    assert report.counts["students_moved_school"] == 1
    change = db.session.scalars(select(StudentSchoolChange)).one()
    student = students_by_sid()["stu-1"]
    assert change.student_id == student.id and change.to_school_id == student.school_id
    assert "hand-off" in change.note


def test_zip_and_dry_run_change_nothing_but_report(tmp_path, db_session):
    folder = rf.write(tmp_path / "set", rf.district(12))
    archive = tmp_path / "roster.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in folder.iterdir():
            zf.write(file, f"export-2026/{file.name}")
    report = run_import(archive, dry_run=True)
    assert report.counts["students_created"] == 12 and count(Student) == 0 and count(School) == 0
    applied = run_import(archive)
    assert applied.counts["students_created"] == 12 and count(Student) == 12
    actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("roster.%"))))
    assert actions == ["roster.dry_run", "roster.import"]


def test_a_change_in_any_compared_field_is_applied_and_the_rest_stay_unchanged(tmp_path, db_session):
    files = rf.district(12)
    run_import(rf.write(tmp_path / "one", files))
    users = files["users.csv"]
    changed = {  # row index in users.csv -> the same student with one field changed
        1: rf.student("stu-1", "Renamed", "Family1", "sch-2"),
        2: rf.student("stu-2", "Given2", "Newfamily", "sch-1"),
        3: rf.student("stu-3", "Given3", "Family3", "sch-2", grade="08"),
        4: rf.student("stu-4", "Given4", "Family4", "sch-1", identifier="NEW-ID-4"),
        5: rf.student("stu-5", "Given5", "Family5", "sch-2", enabled="false"),
        6: rf.student("stu-6", "Given6", "Family6", "sch-2"),  # moves from sch-1
    }
    for index, row in changed.items():
        users[index] = row
    users.append(rf.student("stu-13", "Given13", "Family13", "sch-1"))  # new
    report = run_import(rf.write(tmp_path / "two", files))
    counts = report.counts
    assert (
        counts["students_updated"],
        counts["students_deactivated"],
        counts["students_moved_school"],
        counts["students_created"],
        counts["students_unchanged"],
    ) == (5, 1, 1, 1, 6)
    s = students_by_sid()
    schools = {school.sourced_id: school.id for school in db.session.scalars(select(School))}
    assert s["stu-1"].given_name == "Renamed" and s["stu-2"].family_name == "Newfamily"
    assert s["stu-3"].grade == "08" and s["stu-4"].identifier == "NEW-ID-4" and not s["stu-5"].is_active
    assert s["stu-6"].school_id == schools["sch-2"] and s["stu-13"].is_active
    assert run_import(rf.write(tmp_path / "two", files)).changes == 0


def test_a_bulk_users_file_missing_a_column_deactivates_no_one_even_when_mass_deactivation_is_allowed(
    tmp_path, db_session
):
    run_import(rf.write(tmp_path / "one", rf.district(10)))
    files = rf.district(10)
    files["users.csv"] = [[c for c in row if c != "givenName"] for row in files["users.csv"][:1]] + [
        row[:8] + row[9:] for row in files["users.csv"][1:]
    ]  # the givenName column dropped
    report = run_import(rf.write(tmp_path / "two", files), allow=True)
    assert any(r["line"] == 1 and "givenName" in r["reason"] for r in report.rejected)
    assert "users.csv was not read, so no student was deactivated." in report.messages
    assert report.counts.get("students_deactivated", 0) == 0
    assert count(Student, Student.is_active.is_(True)) == 10


def test_a_changed_row_among_unchanged_ones_updates_that_student_only(tmp_path, db_session):
    files = rf.district(12)
    run_import(rf.write(tmp_path / "one", files))
    files["users.csv"][3] = rf.student("stu-3", "Changed", "Family3", "sch-2")
    report = run_import(rf.write(tmp_path / "two", files))
    assert (report.counts["students_updated"], report.counts["students_unchanged"]) == (1, 11)
    assert students_by_sid()["stu-3"].given_name == "Changed"


def test_imports_on_postgresql_take_turns(tmp_path, db_session, backend, app):
    if backend != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's; SQLite allows one writer at a time anyway")
    from sqlalchemy import text

    run_import(rf.write(tmp_path / "set", rf.district(3)))
    held = db.session.scalar(
        text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND granted"),
        {"key": run_module.IMPORT_LOCK_KEY},
    )
    assert held == 1  # taken in the import's transaction (the test's), released only when it ends


def test_a_failure_in_the_middle_changes_nothing(tmp_path, db_session, monkeypatch):
    files = rf.district(10)
    files["manifest.csv"] = rf.manifest(demographics="bulk")
    files["demographics.csv"] = [rf.DEMO_HEADER, ["stu-1", "", "", "", "male"] + ["false"] * 7]

    def explode(self, *args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(run_module._Import, "demographics", explode)
    report = run_import(rf.write(tmp_path / "set", files))
    assert "changed nothing" in report.refused
    assert count(Student) == 0 and count(School) == 0
    run = db.session.scalars(select(RosterImport)).one()
    assert run.status == "failed"


def test_a_failure_in_a_student_batch_changes_nothing(tmp_path, db_session, monkeypatch):
    real_write = stage_module.StudentStage.write
    batches = []

    def fail_on_the_third(self, batch):
        batches.append(len(batch))
        if len(batches) == 3:
            raise RuntimeError("connection lost")
        real_write(self, batch)

    monkeypatch.setattr(stage_module.StudentStage, "write", fail_on_the_third)
    report = run_import(rf.write(tmp_path / "set", rf.district(20)))
    assert report.refused == "The import failed and changed nothing: RuntimeError: connection lost"
    assert batches == [3, 3, 3]  # the reader stopped at the failed batch; nothing after it was staged
    assert count(Student) == 0 and count(School) == 0
    assert db.session.scalars(select(RosterImport)).one().status == "failed"


def test_not_a_roster_path(app, tmp_path, db_session):
    bogus = tmp_path / "file.txt"
    bogus.write_text("hello")
    result = app.test_cli_runner().invoke(args=["roster", "import", str(bogus)])
    assert result.exit_code == 1 and "neither a folder nor a zip" in result.output


def _zip_of(folder, target):
    with zipfile.ZipFile(target, "w") as zf:
        for file in folder.iterdir():
            zf.write(file, file.name)
    return target


def work() -> int:
    """What the scheduler does every few seconds: the roster.work job, called directly."""
    return roster_jobs.work_queue(utcnow())


def newest_run() -> RosterImport:
    return db.session.scalars(select(RosterImport).order_by(RosterImport.id.desc())).first()


def _upload(client, folder, tmp_path, name="export.zip", run=True):
    """Upload a folder as a zip through the page: its dry run is queued; with run, the worker runs it."""
    archive = _zip_of(folder, tmp_path / name)
    with open(archive, "rb") as fh:
        response = client.post("/admin/roster", data={"archive": (fh, name)}, content_type="multipart/form-data")
    assert response.status_code == 302
    dry = newest_run()
    assert dry.status == "queued" and dry.is_dry_run
    if run:
        assert work() == 1
        db.session.expire_all()
    return dry


def _signed_in_admin(login_as, db_session):
    admin = make_user("admin")
    db_session.commit()
    login_as(admin)
    return admin


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return response.data.decode()


def _run_id(response) -> int:
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_an_upload_is_queued_run_by_the_worker_and_applied(client, login_as, tmp_path, db_session, monkeypatch):
    monkeypatch.setattr(roster_uploads, "CHUNK_BYTES", 256)  # the zip is kept in several chunks, read back in order
    _signed_in_admin(login_as, db_session)
    files = rf.district(8)
    files["users.csv"].append(rf.student("bad", "No", "School", "nowhere"))
    dry = _upload(client, rf.write(tmp_path / "set", files), tmp_path, run=False)
    # The request only kept the file and queued the dry run: nothing was read yet.
    assert count(RosterUpload) == 1 and count(RosterUploadChunk) > 1
    queued = _page(client, f"/admin/roster/{dry.id}")
    assert "The import worker picks it up within a few seconds." in queued and "Import progress" in queued
    assert client.get(f"/admin/roster/{dry.id}/progress.json").json["status"] == "queued"
    assert work() == 1
    assert work() == 0  # nothing left in the queue
    report_page = _page(client, f"/admin/roster/{dry.id}")
    assert "Dry run: nothing has changed yet" in report_page and "Students created" in report_page
    assert 'users.csv</td><td class="num">10</td><td>none of orgSourcedIds (nowhere)' in report_page
    assert '<strong>1 row will be skipped</strong> (<a href="#rejected">see below</a>)' in report_page
    assert "Import progress" not in report_page
    assert count(Student) == 0
    applied = client.post(f"/admin/roster/{dry.id}/apply")
    assert applied.status_code == 303
    run_id = _run_id(applied)
    assert count(Student) == 0 and "Import progress" in _page(client, applied.headers["Location"])  # queued
    assert work() == 1
    assert count(Student) == 8
    assert "Import applied" in _page(client, applied.headers["Location"])
    # The upload is deleted once applied; the dry run points to the run that applied it, without Apply.
    db_session.expire_all()
    assert count(RosterUpload) == 0 and count(RosterUploadChunk) == 0
    assert [
        (r.upload_id, r.status, r.attempts) for r in db.session.scalars(select(RosterImport).order_by(RosterImport.id))
    ] == [(None, "done", 1), (None, "done", 1)]
    dry_page = _page(client, f"/admin/roster/{dry.id}")
    assert f'Applied as <a href="/admin/roster/{run_id}">run #{run_id}</a>' in dry_page
    assert "Apply this import" not in dry_page and "nothing has changed yet" not in dry_page


def test_no_skipped_rows_note_when_every_row_is_accepted(client, login_as, tmp_path, db_session):
    _signed_in_admin(login_as, db_session)
    dry = _upload(client, rf.write(tmp_path / "set", rf.district(3)), tmp_path)
    page = _page(client, f"/admin/roster/{dry.id}")
    assert "Apply this import" in page and "will be skipped" not in page


def test_apply_clicked_twice_queues_one_apply(client, login_as, tmp_path, db_session):
    """Double-click, a second tab or the back button: the second POST is told where the first went."""
    _signed_in_admin(login_as, db_session)
    dry = _upload(client, rf.write(tmp_path / "set", rf.district(8)), tmp_path)
    first = client.post(f"/admin/roster/{dry.id}/apply")
    second = client.post(f"/admin/roster/{dry.id}/apply")
    assert second.status_code == 303 and second.headers["Location"] == first.headers["Location"]
    run_id = _run_id(first)
    assert f"This dry run is already being applied as run #{run_id}; it was not started again." in _page(
        client, second.headers["Location"]
    )
    assert count(RosterImport, RosterImport.is_dry_run.is_(False)) == 1
    assert work() == 1
    third = client.post(f"/admin/roster/{dry.id}/apply")
    assert third.headers["Location"] == first.headers["Location"]
    assert f"This dry run was already applied as run #{run_id}; it was not applied again." in _page(
        client, third.headers["Location"]
    )
    assert count(RosterImport, RosterImport.is_dry_run.is_(False)) == 1
    assert count(AuditEvent, AuditEvent.action == "roster.import") == 1
    assert count(Student) == 8


def _zip_bytes_of(tmp_path, files) -> io.BytesIO:
    return io.BytesIO(_zip_of(rf.write(tmp_path / "set", files), tmp_path / "export.zip").read_bytes())


def test_the_claim_is_a_conditional_update_not_what_this_request_last_read(tmp_path, db_session):
    """Two servers read the dry run as unapplied; the other one claims it first: this one must lose."""
    admin = make_user("admin")
    dry = start_upload(admin, _zip_bytes_of(tmp_path, rf.district(4)), "a.zip")
    assert work() == 1
    db.session.refresh(dry)
    assert dry.applied_run_id is None and dry.can_apply  # what this request read
    other = RosterImport(source_name="a.zip", is_dry_run=False, status="queued", upload_id=dry.upload_id)
    db.session.add(other)
    db.session.flush()
    # The other server's claim, behind this session's back (no ORM refresh of `dry`).
    db.session.execute(
        update(RosterImport.__table__).where(RosterImport.__table__.c.id == dry.id).values(applied_run_id=other.id)
    )
    with pytest.raises(ApplyError) as lost:
        start_apply(admin, dry)
    assert lost.value.run_id == other.id and f"already being applied as run #{other.id}" in str(lost.value)
    assert count(RosterImport, RosterImport.is_dry_run.is_(False)) == 1  # no second run was created


def test_a_refused_apply_can_be_tried_again_and_then_counts(client, login_as, tmp_path, db_session):
    run_import(rf.write(tmp_path / "full", rf.district(40)))
    admin = _signed_in_admin(login_as, db_session)
    half = rf.district(40)
    half["users.csv"] = half["users.csv"][:21]
    dry = _upload(client, rf.write(tmp_path / "half", half), tmp_path)
    assert dry.status == "refused"
    page = _page(client, f"/admin/roster/{dry.id}")
    assert "would deactivate\n  <strong>20 of 40</strong> active students" in page  # the dry run says how many
    assert "--allow-mass-deactivation" not in page  # nothing about the command line
    # One click does not deactivate anyone: the number must be typed, and typed right.
    applies = count(RosterImport, RosterImport.is_dry_run.is_(False))
    for typed, message in (
        ("", "Type the number of students to deactivate (20) to confirm."),
        ("40", "Type 20 (the number of students this import deactivates)"),
    ):
        refused = client.post(f"/admin/roster/{dry.id}/apply", data={"confirm_deactivation": typed})
        assert refused.status_code == 400 and message in refused.data.decode()
        assert count(RosterImport, RosterImport.is_dry_run.is_(False)) == applies
    # A run refused by the worker (an earlier attempt without the flag) can be tried again.
    refused_run = start_apply(admin, dry)
    refused_id = refused_run.id
    db_session.commit()
    assert work() == 1
    assert db.session.get(RosterImport, refused_id).status == "refused"
    page = _page(client, f"/admin/roster/{dry.id}")
    assert f"run #{refused_id}</a>, was refused and changed nothing" in page and "Apply this import" in page
    done = client.post(f"/admin/roster/{dry.id}/apply", data={"confirm_deactivation": "20"})
    done_id = _run_id(done)
    assert work() == 1
    db_session.expire_all()
    assert done_id != refused_id and db.session.get(RosterImport, done_id).status == "done"
    assert db.session.get(RosterImport, done_id).allow_mass_deactivation
    assert db.session.get(RosterImport, dry.id).applied_run_id == done_id
    assert count(Student, Student.is_active.is_(True)) == 20


def test_a_run_queued_with_no_worker_says_what_it_waits_for(client, login_as, tmp_path, db_session):
    _signed_in_admin(login_as, db_session)
    first = _upload(client, rf.write(tmp_path / "one", rf.district(3)), tmp_path, "one.zip", run=False)
    first.queued_at = utcnow() - timedelta(minutes=1)
    db_session.commit()
    page = _page(client, f"/admin/roster/{first.id}")
    assert "Waiting for the import worker…" in page and "flask --app app scheduler run" in page
    progress = client.get(f"/admin/roster/{first.id}/progress.json").json
    assert (progress["status"], progress["heading"]) == ("queued", "Waiting for the import worker…")
    # Another run at work (its worker alive): the queued one waits its turn, and says for which.
    second = _upload(client, rf.write(tmp_path / "two", rf.district(3)), tmp_path, "two.zip", run=False)
    assert claim(first.id, "busy-host:1") is not None
    db_session.commit()
    assert f"Waiting for import #{first.id} to finish: imports take turns." in _page(
        client, f"/admin/roster/{second.id}"
    )


def test_the_worker_takes_one_import_at_a_time(tmp_path, db_session, backend):
    """SQLite: an import holds the write lock for its whole transaction, so a second worker leaves
    the queue alone while one works; PostgreSQL: it claims, and its import waits on the advisory lock."""
    admin = make_user("admin")
    first = start_upload(admin, _zip_bytes_of(tmp_path / "a", rf.district(3)), "a.zip")
    second = start_upload(admin, _zip_bytes_of(tmp_path / "b", rf.district(3)), "b.zip")
    db_session.commit()
    assert claim_next("worker-a:1").run_id == first.id
    taken = claim_next("worker-b:2")
    if backend == "sqlite":
        assert taken is None
    else:
        assert taken.run_id == second.id


def _stop_worker(run: RosterImport, minutes: int = 3) -> None:
    """A worker claimed the run and went away: its last heartbeat is minutes old, and nothing beats."""
    assert claim(run.id, "gone-host:4242", utcnow() - timedelta(minutes=minutes)) is not None
    db.session.commit()
    db.session.refresh(run)


def test_a_run_whose_worker_went_away_is_shown_stopped_and_retried(client, login_as, tmp_path, db_session, caplog):
    _signed_in_admin(login_as, db_session)
    dry = _upload(client, rf.write(tmp_path / "set", rf.district(5)), tmp_path, run=False)
    _stop_worker(dry)
    page = _page(client, f"/admin/roster/{dry.id}")
    assert "Stopped: the worker went away." in page and "worker gone-host:4242" in page
    assert ">Retry</button>" in page and ">Discard</button>" in page
    assert "js/progress.js" not in page  # nothing to poll: the admin decides
    assert client.get(f"/admin/roster/{dry.id}/progress.json").json["stalled"] is True
    assert "Stopped: worker went away" in _page(client, "/admin/roster")
    # The job's sweep notices it too (and says so once, not every few seconds).
    with caplog.at_level("WARNING", logger="school_prevention.roster.jobs"):
        assert work() == 0  # a stopped run is not taken by another worker on its own
        work()
    assert [r.getMessage() for r in caplog.records].count(
        f"roster import #{dry.id} stopped: its worker gone-host:4242 went away; an admin can retry or discard it "
        "under Roster import"
    ) == 1

    response = client.post(f"/admin/roster/{dry.id}/retry")
    assert response.status_code == 303
    assert "is back in the queue" in _page(client, response.headers["Location"])
    db_session.expire_all()
    assert (dry.status, dry.claimed_by, dry.heartbeat_at) == ("queued", None, None)
    again = client.post(f"/admin/roster/{dry.id}/retry")  # a second click: nothing more
    assert "is already back in the queue" in _page(client, again.headers["Location"])
    assert work() == 1
    db_session.expire_all()
    assert (dry.status, dry.attempts, dry.counts["students_created"]) == ("done", 2, 5)
    assert count(AuditEvent, AuditEvent.action == "roster.retry") == 1


def test_a_stopped_apply_is_discarded_and_the_dry_run_can_be_applied_again(client, login_as, tmp_path, db_session):
    _signed_in_admin(login_as, db_session)
    dry = _upload(client, rf.write(tmp_path / "set", rf.district(5)), tmp_path)
    applying = db.session.get(RosterImport, _run_id(client.post(f"/admin/roster/{dry.id}/apply")))
    _stop_worker(applying)
    assert "Apply this import" not in _page(client, f"/admin/roster/{dry.id}")  # being applied, as far as anyone knows
    response = client.post(f"/admin/roster/{applying.id}/discard")
    assert "was discarded; nothing was changed" in _page(client, response.headers["Location"])
    db_session.expire_all()
    assert applying.status == "abandoned" and count(Student) == 0
    assert "Discarded:" in _page(client, f"/admin/roster/{applying.id}")
    assert "Retry" not in _page(client, f"/admin/roster/{applying.id}")
    dry_page = _page(client, f"/admin/roster/{dry.id}")
    assert f"run #{applying.id}</a>, was discarded and changed nothing" in dry_page and "Apply this import" in dry_page
    client.post(f"/admin/roster/{dry.id}/apply")
    assert work() == 1
    assert count(Student) == 5
    assert count(AuditEvent, AuditEvent.action == "roster.discard") == 1


def test_a_worker_that_beats_again_is_not_retried_or_discarded(client, login_as, tmp_path, db_session):
    _signed_in_admin(login_as, db_session)
    dry = _upload(client, rf.write(tmp_path / "set", rf.district(3)), tmp_path, run=False)
    _stop_worker(dry)
    page = _page(client, f"/admin/roster/{dry.id}")  # the admin sees it stopped ...
    assert "Stopped: the worker went away." in page
    dry.heartbeat_at = utcnow()  # ... and then its worker beats again
    db_session.commit()
    for action in ("retry", "discard"):
        response = client.post(f"/admin/roster/{dry.id}/{action}")
        assert "is working: its worker is alive. Nothing was changed." in _page(client, response.headers["Location"])
    db_session.expire_all()
    assert (dry.status, dry.claimed_by, dry.attempts) == ("running", "gone-host:4242", 1)


def test_a_queued_run_can_be_discarded_before_it_runs(client, login_as, tmp_path, db_session):
    _signed_in_admin(login_as, db_session)
    dry = _upload(client, rf.write(tmp_path / "set", rf.district(3)), tmp_path, run=False)
    client.post(f"/admin/roster/{dry.id}/discard")
    db_session.expire_all()
    assert dry.status == "abandoned" and count(RosterUpload) == 0  # a discarded dry run's file goes too
    assert work() == 0


def test_a_finished_run_is_neither_retried_nor_discarded(client, login_as, tmp_path, db_session):
    _signed_in_admin(login_as, db_session)
    dry = _upload(client, rf.write(tmp_path / "set", rf.district(3)), tmp_path)
    for action in ("retry", "discard"):
        response = client.post(f"/admin/roster/{dry.id}/{action}")
        assert f"Run #{dry.id} has finished (done); nothing was changed." in _page(client, response.headers["Location"])
    assert db.session.get(RosterImport, dry.id).status == "done"


def test_an_old_worker_that_finishes_after_its_run_was_retried_keeps_nothing(tmp_path, db_session):
    """A worker taken for dead (its beats stopped reaching the database) finishes after all: its claim
    is no longer the run's, so its import is rolled back, and the retry's counts."""
    admin = make_user("admin")
    run = start_upload(admin, _zip_bytes_of(tmp_path, rf.district(4)), "a.zip")
    run.is_dry_run = False
    db_session.commit()
    old = claim_next("old-host:1")
    db.session.execute(
        update(RosterImport.__table__)
        .where(RosterImport.__table__.c.id == run.id)
        .values(heartbeat_at=utcnow() - timedelta(minutes=5))
    )
    db_session.expire_all()
    retry_run(admin, db.session.get(RosterImport, run.id))
    db_session.commit()
    new = claim_next("new-host:2")
    assert (new.run_id, new.attempt) == (run.id, 2)
    run_claimed(old)  # the old worker comes back and finishes
    assert count(Student) == 0
    db_session.expire_all()
    assert (run.status, run.claimed_by) == ("running", "new-host:2")
    run_claimed(new)
    db_session.expire_all()
    assert (run.status, count(Student)) == ("done", 4)
    assert count(AuditEvent, AuditEvent.action == "roster.import") == 1


def test_a_run_whose_upload_is_gone_fails_saying_so(tmp_path, db_session):
    admin = make_user("admin")
    run = start_upload(admin, _zip_bytes_of(tmp_path, rf.district(2)), "a.zip")
    db_session.commit()
    owner = claim_next("w:1")
    delete_uploads([run.upload_id])
    db_session.commit()
    run_claimed(owner)
    db_session.expire_all()
    assert run.status == "failed" and "no longer kept" in run.report["refused"]


def test_an_upload_over_the_size_limit_is_refused_and_keeps_nothing(app, tmp_path, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 100)
    with pytest.raises(UploadError, match="the largest export the import takes is"):
        start_upload(None, _zip_bytes_of(tmp_path, rf.district(3)), "big.zip")
    assert count(RosterUpload) == 0 and count(RosterImport) == 0


def test_roster_work_command_runs_the_queue(app, tmp_path, db_session):
    start_upload(None, _zip_bytes_of(tmp_path, rf.district(2)), "a.zip")
    db_session.commit()
    result = app.test_cli_runner().invoke(args=["roster", "work"])
    assert result.exit_code == 0 and "1 import run(s) done." in result.output
    assert newest_run().status == "done"


def test_report_counts_read_in_order_with_words(client, login_as, tmp_path, db_session):
    run_import(rf.write(tmp_path / "first", rf.district(30)))
    _signed_in_admin(login_as, db_session)
    files = rf.district(30)
    users = files["users.csv"]
    users[1] = rf.student("stu-1", "Given1", "Family1", "sch-1")  # moves school (was sch-2)
    users[2] = rf.student("stu-2", "Renamed", "Family2", "sch-1")  # updated
    del users[30]  # stu-30 leaves: deactivated
    users += [
        rf.student("stu-31", "New", "Kid", "sch-1"),
        rf.staff("t1", "Tess", "Teacher", "sch-1"),
        rf.guardian("g1", "Gus", "Guardian", "stu-3", role="guardian"),
        rf.student("bad", "No", "School", "nowhere"),
    ]
    dry = _upload(client, rf.write(tmp_path / "second", files), tmp_path)
    page = _page(client, f"/admin/roster/{dry.id}")
    table = page.split('<caption class="visually-hidden">Counts</caption>')[1].split("</table>")[0]
    rows = re.findall(r'<th scope="row">([^<]+)</th><td class="num">([\d,]+)</td>', table)
    assert rows == [
        ("Students created", "1"),
        ("Students updated", "2"),
        ("Students unchanged", "27"),
        ("Students deactivated", "1"),
        ("Students who moved school", "1"),
        ("Staff accounts created", "1"),
        ("Parents and guardians created", "1"),
        ("Rows rejected", "1"),
    ]


def test_unknown_counts_keep_a_readable_label_before_rejected_rows():
    assert count_rows({"rows_rejected": 0, "zebras_counted": 2, "students_created": 1}) == [
        ("Students created", 1),
        ("Zebras counted", 2),
        ("Rows rejected", 0),
    ]
    assert count_rows({}) == []


def _progress_calls(path, clock):
    calls = []
    source = RosterSource(path)
    try:
        run_module.import_roster(source, dry_run=True, progress=lambda *a: calls.append(a), clock=clock)
    finally:
        source.close()
        db.session.rollback()
    return calls


def test_progress_names_each_file_from_its_first_row_and_ends_exact(tmp_path, db_session):
    files = rf.district(30)
    files["users.csv"][5] = rf.student("stu-5", "Two", "Line\nName", "sch-1")  # 31 lines, 30 records
    calls = _progress_calls(rf.write(tmp_path / "set", files), clock=lambda: 0.0)
    total = 3 + 31
    assert calls == [
        (0, total, "orgs.csv"),
        (3, total, "orgs.csv"),
        (3, total, "users.csv"),
        (total, total, "users.csv"),
    ]


def test_progress_is_reported_by_time_not_every_5000_rows(tmp_path, db_session):
    path = rf.write(tmp_path / "set", rf.district(1000, schools=1))
    ticks = iter(range(10**6))
    moving = [
        done for done, _, name in _progress_calls(path, clock=lambda: float(next(ticks))) if name == "users.csv"
    ]  # a second passes at each look at the clock
    assert moving == [2] + list(range(100, 1001, 100)) + [1002]
    frozen = [done for done, _, name in _progress_calls(path, clock=lambda: 0.0) if name == "users.csv"]
    assert frozen == [2, 1002]  # no time passed: only where a file starts and ends


def test_old_unapplied_uploads_are_deleted_and_the_page_says_so(app, client, login_as, tmp_path, db_session):
    _signed_in_admin(login_as, db_session)
    old = _upload(client, rf.write(tmp_path / "old", rf.district(3)), tmp_path, "old.zip")
    recent = _upload(client, rf.write(tmp_path / "recent", rf.district(3)), tmp_path, "recent.zip")
    busy = _upload(client, rf.write(tmp_path / "busy", rf.district(3)), tmp_path, "busy.zip")
    applying = RosterImport(source_name="busy.zip", is_dry_run=False, status="queued", upload_id=busy.upload_id)
    db.session.add(applying)
    db.session.flush()
    busy.applied_run_id = applying.id
    now = utcnow()
    for run in (old, busy):
        db.session.get(RosterUpload, run.upload_id).created_at = now - timedelta(days=8)
    db_session.commit()
    ids = {run.source_name: run.id for run in (old, recent, busy)}
    applying_id = applying.id
    uploads = {run.source_name: run.upload_id for run in (old, recent, busy)}

    assert run_job(app, "roster.expire_uploads", now) == 1  # the old dry run's; busy's is queued to be applied
    assert run_job(app, "roster.expire_uploads", now) == 0  # a second run finds nothing
    assert set(db.session.scalars(select(RosterUpload.id))) == {uploads["recent.zip"], uploads["busy.zip"]}
    assert count(RosterUploadChunk, RosterUploadChunk.upload_id == uploads["old.zip"]) == 0
    kept = dict(db.session.execute(select(RosterImport.id, RosterImport.upload_id)).all())
    assert kept[ids["old.zip"]] is None and kept[ids["recent.zip"]] == uploads["recent.zip"]

    page = _page(client, f"/admin/roster/{ids['old.zip']}")
    assert "The uploaded file has expired" in page and "Apply this import" not in page
    response = client.post(f"/admin/roster/{ids['old.zip']}/apply")
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/roster")
    assert "The uploaded file has expired" in _page(client, "/admin/roster")
    assert count(RosterImport, RosterImport.is_dry_run.is_(False)) == 1  # only the one set up above
    busy_page = _page(client, f"/admin/roster/{ids['busy.zip']}")
    assert f'Being applied now as <a href="/admin/roster/{applying_id}">run #{applying_id}</a>' in busy_page
    assert "Apply this import" not in busy_page


def test_the_roster_jobs_are_registered():
    from school_prevention.scheduler import load_jobs

    jobs = load_jobs()
    assert "roster.expire_uploads" in jobs
    assert jobs["roster.work"].trigger == "interval" and jobs["roster.work"].trigger_args == {"seconds": 3}


def _plan(student, counselor, status="active"):
    plan = CheckInPlan(
        student_id=student.id,
        school_id=student.school_id,
        counselor_id=counselor.id,
        cadence="weekly",
        local_time=time(10, 0),
        starts_on=date(2026, 9, 1),
        until=date(2027, 6, 1),
        status=status,
    )
    db.session.add(plan)
    db.session.flush()
    return plan


def test_a_student_who_moves_school_takes_active_plans_along(app, tmp_path, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "ROSTER_BATCH_SIZE", 2000)  # one batch: its statements are counted below
    run_import(rf.write(tmp_path / "a", rf.district(6)))
    students = students_by_sid()
    schools = {s.sourced_id: s.id for s in db.session.scalars(select(School))}
    moving = [students[f"stu-{n}"] for n in (1, 3, 5)]  # all at sch-2
    staying = students["stu-2"]  # at sch-1
    staying_school = staying.school_id
    old_school = db.session.get(School, schools["sch-2"])
    counselor = make_user("counselor", schools=[old_school, db.session.get(School, schools["sch-1"])])
    plans = {s.sourced_id: _plan(s, counselor) for s in moving}
    ended = _plan(moving[0], counselor, status="ended")
    kept = _plan(staying, counselor)
    past = CheckIn(
        plan_id=plans["stu-1"].id,
        student_id=moving[0].id,
        school_id=old_school.id,
        counselor_id=counselor.id,
        occurrence=date(2026, 9, 1),
        due_at=utcnow() - timedelta(days=30),
        status="completed",
        outcome="doing_well",
    )
    upcoming = CheckIn(
        plan_id=plans["stu-1"].id,
        student_id=moving[0].id,
        school_id=old_school.id,
        counselor_id=counselor.id,
        occurrence=date(2027, 1, 5),
        due_at=utcnow() + timedelta(days=3),
        status="scheduled",
    )
    db.session.add_all([past, upcoming])
    make_flag(moving[0], counselor)
    program = make_program(old_school, counselor)
    enroll(counselor, program, [moving[0]])
    db_session.commit()

    statements = []

    def record(conn, cursor, statement, *args):
        if "checkin_plan" in statement:
            statements.append(statement.split()[0].upper())

    moved = rf.district(6)
    for n in (1, 3, 5):
        moved["users.csv"][n] = rf.student(f"stu-{n}", f"Given{n}", f"Family{n}", "sch-1")
    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        report = run_import(rf.write(tmp_path / "b", moved))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # The counselor works at both schools: the plans stay theirs and go to the new school.
    assert report.counts["students_moved_school"] == 3 and report.counts["checkin_plans_kept_by_counselor"] == 3, (
        report.refused,
        report.messages,
    )
    # One batch: one query finds the plans, one the counselors' caseloads, one executemany moves them;
    # then one query finds no plan of a student who left.
    assert statements == ["SELECT", "SELECT", "UPDATE", "SELECT"]
    assert ("Check-in plans kept by a counselor of both schools", 3) in count_rows(report.counts)

    db_session.expire_all()
    for plan in plans.values():
        assert (plan.school_id, plan.counselor_id, plan.needs_handoff, plan.status) == (
            schools["sch-1"],
            counselor.id,
            False,
            "active",
        )
    assert (ended.school_id, ended.needs_handoff) == (old_school.id, False)  # history as it was
    assert (kept.school_id, kept.needs_handoff) == (staying_school, False)  # stu-2 did not move
    assert db.session.get(CheckIn, past.id).school_id == old_school.id  # the check-in happened there
    assert db.session.get(CheckIn, upcoming.id).school_id == schools["sch-1"]  # the next one goes with the plan
    assert count(RiskFlag, RiskFlag.student_id == moving[0].id) == 1
    assert count(Enrollment, Enrollment.student_id == moving[0].id) == 1
    assert count(StudentSchoolChange) == 3


def test_a_dry_run_reports_hand_offs_but_moves_no_plan(tmp_path, db_session):
    run_import(rf.write(tmp_path / "a", rf.district(4)))
    student = students_by_sid()["stu-1"]
    plan = _plan(student, make_user("counselor", schools=[student.school]))
    db_session.commit()
    moved = rf.district(4)
    moved["users.csv"][1] = rf.student("stu-1", "Given1", "Family1", "sch-1")
    report = run_import(rf.write(tmp_path / "b", moved), dry_run=True)
    assert report.counts["checkin_plans_marked_for_handoff"] == 1
    db_session.expire_all()
    assert plan.school_id == student.school_id and not plan.needs_handoff


@pytest.mark.parametrize(
    "payload, message",
    [
        ({}, b"Choose the zip file"),
        ({"archive": "notes.txt"}, b"Upload the export as a .zip"),
        ({"archive": "fake.zip"}, b"not a readable zip"),
    ],
)
def test_bad_uploads_are_refused(client, login_as, tmp_path, db_session, payload, message):
    admin = make_user("admin")
    db_session.commit()
    login_as(admin)
    data = {}
    if "archive" in payload:
        fake = tmp_path / payload["archive"]
        fake.write_text("not a zip")
        data["archive"] = (open(fake, "rb"), payload["archive"])  # noqa: SIM115 - the test client closes it
    response = client.post("/admin/roster", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and message in response.data
    assert count(RosterImport) == 0


def test_staff_account_from_the_roster_cannot_sign_in_until_activated(client, tmp_path, db_session):
    files = rf.district(2)
    files["users.csv"].append(rf.staff("t1", "Tess", "Teacher", "sch-1", email="tess@school.example"))
    run_import(rf.write(tmp_path / "set", files))
    response = client.post("/login", data={"email": "tess@school.example", "password": "anything-at-all-long"})
    assert response.status_code == 401


def test_admin_activates_an_imported_staff_account_with_a_temporary_password(
    app, client, login_as, tmp_path, db_session
):
    files = rf.district(2)
    files["users.csv"].append(rf.staff("t1", "Tess", "Teacher", "sch-1", email="tess@school.example"))
    run_import(rf.write(tmp_path / "set", files))
    admin = make_user("admin")
    db_session.commit()
    login_as(admin)
    tess = db.session.scalars(select(User).where(User.sourced_id == "t1")).one()
    page = client.get(f"/admin/users/{tess.id}").data
    assert b"This person cannot sign in until you" in page and b"set a temporary password" in page
    client.post(
        f"/admin/users/{tess.id}",
        data={
            "name": tess.name,
            "role": "staff",
            "schools": [s.id for s in tess.schools],
            "new_password": "harbor violet meadow 58",
        },
    )
    response = app.test_client().post(
        "/login", data={"email": "tess@school.example", "password": "harbor violet meadow 58"}
    )
    assert response.status_code == 302


def _with_bytes(tmp_path, name, **files):
    """A clean district of four, with some files replaced by raw bytes (users="users.csv" etc.)."""
    folder = rf.write(tmp_path / name, rf.district(4))
    for stem, data in files.items():
        (folder / f"{stem}.csv").write_bytes(data)
    return folder


def _csv_bytes(rows, encoding="utf-8"):
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


@pytest.mark.parametrize(
    "encoding, expected",
    [
        ("latin-1", "users.csv is not UTF-8 text: line 3 has the byte 0xe9"),
        ("utf-16", "users.csv is saved as UTF-16"),
    ],
)
def test_a_file_not_in_utf8_is_refused_saying_which_and_where(app, tmp_path, db_session, encoding, expected):
    users = rf.district(4)["users.csv"]
    users[2] = rf.student("stu-2", "José", "Núñez", "sch-1")
    path = _with_bytes(tmp_path, "set", users=_csv_bytes(users, encoding))
    result = app.test_cli_runner().invoke(args=["roster", "import", str(path)])
    assert result.exit_code == 1 and expected in result.output and 'as "CSV UTF-8"' in result.output
    assert "Error" not in result.output  # no exception class names: a sentence an admin can act on
    assert count(School) == 0 and count(Student) == 0
    assert db.session.scalars(select(RosterImport)).one().status == "failed"


def test_a_quote_never_closed_refuses_the_file_instead_of_swallowing_the_rows_after_it(tmp_path, db_session):
    rows = rf.district(6)["users.csv"]
    text = _csv_bytes(rows[:3]) + b'stu-9,,,true,sch-1,student,x,,"Unclosed,Quote\r\n' + _csv_bytes(rows[3:])
    report = run_import(_with_bytes(tmp_path, "set", users=text))
    assert report.refused == (
        'users.csv line 4: a quote (") opened on this line is never closed, so lines 4 to 8 '
        "read as one value. Correct the file and try again. Nothing was changed."
    )
    assert count(School) == 0 and count(Student) == 0


def test_a_value_over_the_field_limit_is_refused_clearly(tmp_path, db_session):
    import csv

    files = rf.district(4)
    files["users.csv"][3] = rf.student("stu-3", "G" * 2000, "F", "sch-1")
    limit = csv.field_size_limit(1000)  # 10 MB in earnest; a small file shows the same
    try:
        report = run_import(rf.write(tmp_path / "set", files))
    finally:
        csv.field_size_limit(limit)
    assert report.refused.startswith("users.csv line 4: a value is longer than") and "never closed" in report.refused
    assert count(Student) == 0


def test_nul_characters_and_values_too_long_for_their_column_reject_only_their_rows(tmp_path, db_session):
    files = rf.district(0)
    files["orgs.csv"] += [rf.org("sch-nul", "Nul\x00 School"), rf.org("sch-long", "N" * 300)]
    files["users.csv"] += [
        rf.student("ok", "Ok", "Kid", "sch-1"),  # line 2
        rf.student("nul", "Nu\x00l", "Kid", "sch-1"),  # 3
        rf.student("long-name", "G" * 300, "Kid", "sch-1"),  # 4
        rf.student("s" * 256, "Long", "Id", "sch-1"),  # 5
        rf.student("long-identifier", "Long", "Ident", "sch-1", identifier="I" * 256),  # 6
        rf.staff("t1", "T" * 200, "S" * 60, "sch-1"),  # 7
        rf.staff("t2", "Tess", "Long", "sch-1", email="a" * 320 + "@school.example"),  # 8
        rf.student("ok2", "Ok", "Two", "sch-2"),  # 9
    ]
    files["manifest.csv"] = rf.manifest(demographics="bulk")
    files["demographics.csv"] = [rf.DEMO_HEADER, ["ok\x00", "", "", "", "male"] + ["false"] * 7]
    report = run_import(rf.write(tmp_path / "set", files))
    assert report.refused is None
    assert [(r["file"], r["line"], r["reason"]) for r in report.rejected] == [
        ("orgs.csv", 5, "a value holds a NUL character (0x00), which cannot be stored"),
        ("orgs.csv", 6, "name is 300 characters long; at most 255 can be stored"),
        ("users.csv", 3, "a value holds a NUL character (0x00), which cannot be stored"),
        ("users.csv", 4, "givenName is 300 characters long; at most 255 can be stored"),
        ("users.csv", 5, "sourcedId is 256 characters long; at most 255 can be stored"),
        ("users.csv", 6, "identifier is 256 characters long; at most 255 can be stored"),
        (
            "users.csv",
            7,
            "givenName and familyName together are longer than the 255 characters a staff account's name can hold",
        ),
        ("users.csv", 8, "email is 335 characters long; at most 320 can be stored"),
        ("demographics.csv", 2, "a value holds a NUL character (0x00), which cannot be stored"),
    ]
    assert sorted(students_by_sid()) == ["ok", "ok2"] and count(School) == 2 and count(User) == 0


def test_grade_values_from_real_exports(tmp_path, db_session):
    files = rf.district(0)
    grades = ["K", "13", "14", "PK,KG", "kg", "0", "²", "9.0", ""]
    files["users.csv"] += [rf.student(f"g{i}", "G", "F", "sch-1", grade=g) for i, g in enumerate(grades)]
    report = run_import(rf.write(tmp_path / "set", files))
    assert {r["line"]: r["reason"] for r in report.rejected} == {
        line: f"grade {grade!r} is not a OneRoster grade (PK, KG, 01..13, ...)"
        for line, grade in ((4, "14"), (7, "0"), (8, "²"), (9, "9.0"))
    }
    assert {sid: s.grade for sid, s in students_by_sid().items()} == {
        "g0": "KG",
        "g1": "13",
        "g3": "PK",
        "g4": "KG",
        "g8": None,
    }


def test_a_student_twice_in_demographics_rejects_the_second_row_not_the_import(tmp_path, db_session):
    files = rf.district(4)
    files["manifest.csv"] = rf.manifest(demographics="bulk")
    files["demographics.csv"] = [
        rf.DEMO_HEADER,
        ["stu-1", "", "", "", "male"] + ["false"] * 7,
        ["stu-1", "", "", "", "female"] + ["false"] * 7,
    ]
    report = run_import(rf.write(tmp_path / "set", files))
    assert report.rejected == [
        {"file": "demographics.csv", "line": 3, "reason": "sourcedId stu-1 appears more than once in demographics.csv"}
    ]
    assert db.session.get(StudentDemographics, students_by_sid()["stu-1"].id).sex == "male"


def _zip_bytes(target, entries, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(target, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return target


def _district_entries(prefix=""):
    return {f"{prefix}{name}": _csv_bytes(rows) for name, rows in rf.district(4).items()}


def _corrupt(target):
    _zip_bytes(target, _district_entries(), zipfile.ZIP_STORED)
    data = target.read_bytes()
    target.write_bytes(data.replace(b"Given2", b"Given9"))  # the CRC no longer matches
    return target


@pytest.mark.parametrize(
    "make, expected",
    [
        (
            lambda p: _zip_bytes(p, {}),
            "Nothing to import: the export holds none of orgs.csv, users.csv, demographics.csv "
            "(found: no files at all). Nothing was changed.",
        ),
        (lambda p: _zip_bytes(p, {"notes.txt": b"hello"}), "(found: notes.txt)"),
        (
            lambda p: _zip_bytes(p, {**_district_entries("2025/"), **_district_entries("2026/")}),
            "The zip holds manifest.csv more than once (2025/manifest.csv and 2026/manifest.csv): upload a zip of one export.",
        ),
        (_corrupt, "users.csv is damaged inside the zip (Bad CRC-32 for file 'users.csv'). Export it again."),
        (
            lambda p: _zip_bytes(
                p, {**_district_entries(), "users.csv": _csv_bytes(rf.district(4)["users.csv"]) + b"\r\n" * 200_000}
            ),
            "users.csv would inflate from",
        ),
    ],
)
def test_empty_ambiguous_damaged_or_bomb_zips_are_refused_clearly(tmp_path, db_session, monkeypatch, make, expected):
    from school_prevention.roster import sources

    monkeypatch.setattr(sources, "ZIP_BOMB_BYTES", 100_000)
    report = run_import(make(tmp_path / "export.zip"))
    assert expected in report.refused and "Error" not in report.refused
    assert count(School) == 0 and count(Student) == 0


def test_nested_folders_in_a_zip_are_read(tmp_path, db_session):
    report = run_import(_zip_bytes(tmp_path / "export.zip", _district_entries("exports/2026/district/")))
    assert report.refused is None and count(Student) == 4


@pytest.mark.parametrize(
    "header, expected",
    [
        (rf.USER_HEADER + ["givenName"], "column(s) givenName appear more than once in the header"),
        (
            [h.lower() if h == "givenName" else h for h in rf.USER_HEADER],
            "missing required column(s) givenName (the header has givenname: column names are case-sensitive)",
        ),
    ],
)
def test_a_duplicate_or_miscased_header_rejects_the_file_saying_why(tmp_path, db_session, header, expected):
    files = rf.district(4)
    files["users.csv"] = [header] + [row + [""] * (len(header) - len(row)) for row in files["users.csv"][1:]]
    report = run_import(rf.write(tmp_path / "set", files))
    assert report.rejected == [{"file": "users.csv", "line": 1, "reason": f"{expected}: the whole file was not read"}]
    assert count(Student) == 0


def test_an_upload_in_the_wrong_encoding_shows_why_and_offers_no_apply(client, login_as, tmp_path, db_session):
    _signed_in_admin(login_as, db_session)
    users = rf.district(3)["users.csv"]
    users[1] = rf.student("stu-1", "José", "Family1", "sch-2")
    dry = _upload(client, _with_bytes(tmp_path, "set", users=_csv_bytes(users, "cp1252")), tmp_path)
    page = _page(client, f"/admin/roster/{dry.id}")
    assert dry.status == "failed" and "users.csv is not UTF-8 text: line 2 has the byte 0xe9" in page
    assert "Apply this import" not in page and count(Student) == 0


# --- several workers and app servers on one committed database (real connections) ---------------


@pytest.fixture
def shared(race_app):
    """race_app: an app on its own committed database, each thread on its own connection; the
    roster queue and uploads are emptied after each test."""
    yield race_app
    with race_app.app_context():
        runs = RosterImport.__table__
        db.session.execute(update(runs).values(applied_run_id=None))
        db.session.execute(runs.delete())
        db.session.execute(RosterUploadChunk.__table__.delete())
        db.session.execute(RosterUpload.__table__.delete())
        db.session.commit()


def _queued_upload(app, tmp_path, files=None, name="export.zip") -> tuple[int, int]:
    """(admin id, run id) of a dry run queued by an admin, committed."""
    with app.app_context():
        admin = make_user("admin")
        run = start_upload(admin, _zip_bytes_of(tmp_path, files or rf.district(4)), name)
        db.session.commit()
        return admin.id, run.id


def test_two_workers_claim_one_queued_run_and_exactly_one_gets_it(shared, tmp_path, backend, monkeypatch):
    """Two workers released together, each on its own connection. On PostgreSQL both have read the
    run as queued before either claims (a second barrier inside claim): the conditional UPDATE decides.
    On SQLite the claim's transaction holds the write lock, so the second waits and finds it taken."""
    from school_prevention.roster import worker as worker_module

    _, run_id = _queued_upload(shared, tmp_path)
    start, both_looked = threading.Barrier(2), threading.Barrier(2)
    real_claim = worker_module.claim

    def claim_after_both_looked(*args, **kwargs):
        both_looked.wait(10)
        return real_claim(*args, **kwargs)

    if backend == "postgresql":
        monkeypatch.setattr(worker_module, "claim", claim_after_both_looked)
    claims: list = [None, None]
    errors: list = []

    def worker(i: int) -> None:
        try:
            with shared.app_context():
                start.wait(10)
                claims[i] = claim_next(f"worker-{i}:{i}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and (winners[0].run_id, winners[0].attempt) == (run_id, 1)
    with shared.app_context():
        run = db.session.get(RosterImport, run_id)
        assert (run.status, run.claimed_by, run.attempts) == ("running", winners[0].claimed_by, 1)
        run_claimed(winners[0])
        db.session.expire_all()
        assert db.session.get(RosterImport, run_id).status == "done"


class HeldBeat:
    """Holds an import at its first report from inside a file (its transaction open; on SQLite it
    holds the write lock), after the worker's beat has written those figures."""

    def __init__(self, monkeypatch):
        from school_prevention.roster import progress as progress_module

        self.reported, self.release = threading.Event(), threading.Event()
        monkeypatch.setattr(read_module, "PROGRESS_SECONDS", 0)
        monkeypatch.setattr(progress_module, "BEAT_SECONDS", 0.05)
        real_update = progress_module.Beat.update

        def update(beat, done, total, current):
            real_update(beat, done, total, current)
            if current == "users.csv" and 2 < done < total and not self.release.is_set():  # past orgs.csv
                beat.write()
                self.figures = (done, total)
                self.reported.set()
                self.release.wait(30)

        monkeypatch.setattr(progress_module.Beat, "update", update)


def test_progress_is_the_same_on_every_app_server(shared, tmp_path, monkeypatch):
    """The worker works in one process; another app server (its own app, engine and connections)
    answers progress.json with the worker's figures while the import's transaction is open."""
    from school_prevention import create_app
    from school_prevention.config import TestConfig
    from tests.support.apps import sign_in

    admin_id, run_id = _queued_upload(shared, tmp_path, rf.district(250, schools=1))
    other = create_app(TestConfig(shared.config["SQLALCHEMY_DATABASE_URI"]))
    browser = sign_in(other, admin_id)
    held = HeldBeat(monkeypatch)
    done: list = []

    def scheduler() -> None:
        with shared.app_context():
            done.append(work())

    thread = threading.Thread(target=scheduler)
    thread.start()
    try:
        assert held.reported.wait(30), "the import never reported"
        answer = browser.get(f"/admin/roster/{run_id}/progress.json")
        assert answer.status_code == 200
        done_rows, total = held.figures
        assert 2 < done_rows < total == 252  # orgs.csv's 2 rows, then users.csv's 250: held inside users.csv
        assert answer.json == {
            "status": "running",
            "done": done_rows,
            "total": total,
            "current": "users.csv",
            "stalled": False,
            "heading": "Working…",
            "message": "Starting…",
        }
        page = browser.get(f"/admin/roster/{run_id}").get_data(as_text=True)
        assert f"{done_rows} of 252 rows read" in page and "Reading users.csv" in page
    finally:
        held.release.set()
        thread.join(60)
    assert done == [1]
    assert browser.get(f"/admin/roster/{run_id}/progress.json").json["status"] == "done"
    with other.app_context():
        db.engine.dispose()


def test_apply_sent_at_once_from_several_tabs_queues_one_apply(shared, tmp_path):
    from tests.support.concurrency import fire_together

    admin_id, dry_id = _queued_upload(shared, tmp_path)
    with shared.app_context():
        assert work() == 1
    answers = fire_together(shared, admin_id, "POST", f"/admin/roster/{dry_id}/apply", n=4)
    assert all(a.status == 303 for a in answers), [a.status for a in answers]
    with shared.app_context():
        applies = db.session.scalars(select(RosterImport).where(RosterImport.is_dry_run.is_(False))).all()
        assert len(applies) == 1 and applies[0].status == "queued"
        assert {a.location for a in answers} == {f"/admin/roster/{applies[0].id}"}
        assert db.session.get(RosterImport, dry_id).applied_run_id == applies[0].id


def test_retry_sent_at_once_requeues_a_stopped_run_once(shared, tmp_path):
    from tests.support.concurrency import fire_together

    admin_id, run_id = _queued_upload(shared, tmp_path)
    with shared.app_context():
        assert claim(run_id, "gone-host:1", utcnow() - timedelta(minutes=5)) is not None
        db.session.commit()
    answers = fire_together(shared, admin_id, "POST", f"/admin/roster/{run_id}/retry", n=4)
    assert all(a.status == 303 for a in answers), [a.status for a in answers]
    with shared.app_context():
        run = db.session.get(RosterImport, run_id)
        assert (run.status, run.attempts) == ("queued", 1)
        retries = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "roster.retry", AuditEvent.object_id == str(run_id))
        )
        assert retries == 1
        assert work() == 1
        db.session.expire_all()
        assert (db.session.get(RosterImport, run_id).status, db.session.get(RosterImport, run_id).attempts) == (
            "done",
            2,
        )


def test_the_upgrade_moves_waiting_uploads_into_the_database(backend, tmp_path, tmp_path_factory, postgres):
    """0011: a file a dry run still waits on is read into roster_upload (a missing one leaves it expired),
    and a run left 'running' by the old in-process thread is marked failed."""
    import flask_migrate
    from sqlalchemy import text

    from school_prevention import create_app
    from school_prevention.config import TestConfig
    from tests.support.databases import new_database_url

    app = create_app(TestConfig(new_database_url(backend, "upgrade", tmp_path_factory, postgres)))
    directory = app.extensions["migrate"].directory
    kept = _zip_of(rf.write(tmp_path / "set", rf.district(3)), tmp_path / "kept.zip")
    with app.app_context():
        flask_migrate.upgrade(directory=directory, revision="0010")
        with db.engine.begin() as connection:
            for name, status, path in (
                ("kept.zip", "done", str(kept)),
                ("gone.zip", "done", str(tmp_path / "gone.zip")),
                ("thread.zip", "running", None),
            ):
                connection.execute(
                    text(
                        "INSERT INTO roster_import (source_name, is_dry_run, status, started_at, "
                        "upload_path) VALUES (:name, :dry, :status, :at, :path)"
                    ),
                    {"name": name, "dry": True, "status": status, "at": utcnow(), "path": path},
                )
        flask_migrate.upgrade(directory=directory, revision="0011")
        runs = {r.source_name: r for r in db.session.scalars(select(RosterImport))}
        assert runs["kept.zip"].can_apply and runs["gone.zip"].upload_id is None and not runs["gone.zip"].can_apply
        assert (runs["thread.zip"].status, runs["thread.zip"].attempts) == ("failed", 1)
        assert "interrupted when the app was upgraded" in runs["thread.zip"].report["refused"]
        upload = db.session.get(RosterUpload, runs["kept.zip"].upload_id)
        assert (upload.file_name, upload.size_bytes) == ("kept.zip", kept.stat().st_size)
        # The moved file is the export: applying it works (with today's code, on today's schema).
        db.session.remove()
        flask_migrate.upgrade(directory=directory)
        runs = {r.source_name: r for r in db.session.scalars(select(RosterImport))}
        applying = start_apply(None, runs["kept.zip"])
        db.session.commit()
        assert work() == 1
        assert db.session.get(RosterImport, applying.id).status == "done" and count(Student) == 3
        db.session.remove()
        db.engine.dispose()


# -- parents and guardians (OneRoster users.csv, role parent or guardian) ----------------------------


def guardians_by_sid():
    return {g.sourced_id: g for g in db.session.scalars(select(Guardian))}


def linked(guardian):
    db.session.refresh(guardian)
    return sorted(s.sourced_id for s in guardian.students)


def test_guardians_are_imported_with_contacts_and_linked_to_their_students_in_the_same_pass(tmp_path, db_session):
    files = rf.district(6)
    users = files["users.csv"]
    # Guardians before and after their students, across the three-row batches, one for two siblings.
    users.insert(
        1,
        rf.guardian(
            "g-1", "Rosa", "Family1", "stu-1,stu-2", email="Rosa.F@Family.Example", phone="555-0101", sms="555-0199"
        ),
    )
    users += [
        rf.guardian("g-2", "Tom", "Family3", "stu-3", role="guardian"),
        rf.guardian("g-3", "Una", "Family6", "stu-6"),
        rf.staff("r-1", "Rel", "Ative", "sch-1", role="relative"),
    ]
    report = run_import(rf.write(tmp_path / "set", files))
    assert report.rejected == []
    assert (report.counts["students_created"], report.counts["guardians_created"]) == (6, 3)
    assert report.counts["ignored_relative_rows"] == 1
    found = guardians_by_sid()
    rosa = found["g-1"]
    assert (rosa.name, rosa.role, rosa.email, rosa.phone, rosa.sms, rosa.is_active) == (
        "Rosa Family1",
        "parent",
        "rosa.f@family.example",
        "555-0101",
        "555-0199",
        True,
    )
    assert linked(rosa) == ["stu-1", "stu-2"] and linked(found["g-2"]) == ["stu-3"]
    assert found["g-2"].role_label == "Guardian"
    again = run_import(rf.write(tmp_path / "again", files))
    assert again.counts["guardians_unchanged"] == 3 and not again.counts["guardians_created"]
    assert "No changes: the database already matches these files." in again.messages


def test_a_bulk_file_replaces_links_and_retires_guardians_it_no_longer_lists(tmp_path, db_session):
    files = rf.district(4)
    files["users.csv"] += [
        rf.guardian("g-1", "Rosa", "Family1", "stu-1,stu-2"),
        rf.guardian("g-2", "Tom", "Family3", "stu-3"),
    ]
    run_import(rf.write(tmp_path / "first", files))
    files["users.csv"] = files["users.csv"][:-2] + [
        rf.guardian("g-1", "Rosa", "Family1", "stu-2,stu-4", phone="555-0222")
    ]
    report = run_import(rf.write(tmp_path / "second", files))
    assert (report.counts["guardians_updated"], report.counts["guardians_deactivated"]) == (1, 1)
    found = guardians_by_sid()
    assert linked(found["g-1"]) == ["stu-2", "stu-4"] and found["g-1"].phone == "555-0222"
    # Not listed any more: kept (their consents are part of the record), no longer current.
    assert not found["g-2"].is_active and linked(found["g-2"]) == ["stu-3"]
    # A bulk file without any parent rows (an SIS that does not send them) leaves guardians alone.
    files["users.csv"] = files["users.csv"][:-1]
    third = run_import(rf.write(tmp_path / "third", files))
    assert not third.counts["guardians_deactivated"] and guardians_by_sid()["g-1"].is_active


def test_guardian_rows_are_checked_and_rejected_with_their_line(tmp_path, db_session):
    files = rf.district(3)
    files["users.csv"] += [
        rf.guardian("g-none", "No", "Kids", ""),  # line 5
        rf.guardian("g-gone", "Far", "Away", "stu-99"),  # line 6
        rf.guardian("g-half", "Half", "Known", "stu-1,stu-99"),  # line 7
        rf.guardian("g-long", "L" * 300, "Name", "stu-2"),  # line 8
        rf.guardian("g-bad", "Bad", "Flag", "stu-3", enabled="maybe"),
    ]  # line 9
    report = run_import(rf.write(tmp_path / "set", files))
    reasons = {r["line"]: r["reason"] for r in report.rejected}
    assert reasons[5] == "a parent needs agentSourcedIds naming their student(s)"
    assert reasons[6] == "none of agentSourcedIds (stu-99) is a student in users.csv or already known"
    assert "givenName is 300 characters long" in reasons[8] and "enabledUser must be true or false" in reasons[9]
    assert 7 not in reasons and report.counts["guardian_links_unknown"] == 1
    assert sorted(guardians_by_sid()) == ["g-half"] and linked(guardians_by_sid()["g-half"]) == ["stu-1"]


def test_a_delta_file_retires_a_guardian_marked_to_be_deleted_and_leaves_the_others(tmp_path, db_session):
    files = rf.district(3)
    files["users.csv"] += [
        rf.guardian("g-1", "Rosa", "Family1", "stu-1"),
        rf.guardian("g-2", "Tom", "Family2", "stu-2"),
    ]
    run_import(rf.write(tmp_path / "bulk", files))
    delta = {
        "manifest.csv": rf.manifest(users="delta", orgs="absent"),
        "users.csv": [rf.USER_HEADER, rf.guardian("g-1", "Rosa", "Family1", "", status="tobedeleted")],
    }
    report = run_import(rf.write(tmp_path / "delta", delta))
    assert report.rejected == [] and report.counts["guardians_deactivated"] == 1
    found = guardians_by_sid()
    assert not found["g-1"].is_active and found["g-2"].is_active


def test_a_dry_run_reports_guardians_and_saves_none(tmp_path, db_session):
    files = rf.district(2)
    files["users.csv"].append(rf.guardian("g-1", "Rosa", "Family1", "stu-1"))
    report = run_import(rf.write(tmp_path / "set", files), dry_run=True)
    assert report.counts["guardians_created"] == 1
    assert count(Guardian) == 0
