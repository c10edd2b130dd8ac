"""Roster import: real-world CSV, every kind of bad row, idempotence, bulk/delta, guards, atomicity."""
from __future__ import annotations

import zipfile

import pytest
from sqlalchemy import func, select

from school_prevention.audit import AuditEvent
from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.roster import importer as importer_module
from school_prevention.roster.models import RosterImport, StudentDemographics, StudentSchoolChange
from school_prevention.roster.services import import_roster, start_run
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests import roster_files as rf
from tests.factories import make_flag, make_user


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
        "orgs.csv": [rf.ORG_HEADER, rf.org("d1", "District", "district"), rf.org("s1", "Oak Elementary"),
                     rf.org("s2", "Pine High School")],
        "users.csv": [rf.USER_HEADER + ["unknownColumn"],
                      rf.student("a", "Ana", "Ruiz, Jr.", "s1", grade="PK", enabled="TRUE") + ["x"],
                      rf.student("b", "Ben", "O'Neil\nSmith", "s9,s2", grade="KG", enabled="False") + ["x"],
                      rf.student("c", "Cy", "Lee", "s2", grade="13") + ["x"],
                      rf.student("d", "Di", "Ng", "s2", grade="9") + ["x"],
                      rf.staff("t1", "Tess", "Teacher", "s1,s2") + ["x"],
                      rf.staff("p1", "Paul", "Parent", "s1", role="parent") + ["x"]],
        "demographics.csv": [rf.DEMO_HEADER, ["a", "", "", "2015-01-01", "female", "false", "false", "false", "false",
                                              "true", "false", "TRUE"]],
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
    assert report.counts["ignored_parent_rows"] == 1
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
    users = [rf.USER_HEADER,
             rf.student("ok1", "Ok", "One", "sch-1"),                                   # line 2
             rf.student("", "No", "Id", "sch-1"),                                       # 3
             rf.student("q", "Multi", "Line\nName", "sch-1"),                           # 4-5 (valid)
             rf.student("r1", "Bad", "Role", "sch-1")[:5] + ["wizard"] + rf.student("r1", "B", "R", "sch-1")[6:],  # 6
             rf.student("e1", "Bad", "Enabled", "sch-1", enabled="yes"),               # 7
             rf.student("o1", "No", "School", "nowhere"),                               # 8
             rf.student("g1", "Bad", "Grade", "sch-1", grade="14"),                     # 9
             rf.student("ok1", "Dup", "Licate", "sch-1"),                               # 10
             rf.student("x1", "Too", "Many", "sch-1") + ["extra"],                      # 11
             rf.student("n1", "", "", "sch-1"),                                         # 12
             rf.staff("t9", "Nomail", "Teacher", "sch-1", email="nomail"),             # 13
             rf.student("ok2", "Ok", "Two", "sch-2")]                                   # 14
    files = rf.district(0)
    files["users.csv"] = users
    path = rf.write(tmp_path / "bad", files)
    result = app.test_cli_runner().invoke(args=["roster", "import", str(path)])
    assert result.exit_code == 1
    lines = {(r["line"], r["reason"].split(" ")[0]) for r in run_report_rejected()}
    assert {line for line, _ in lines} == {3, 6, 7, 8, 9, 10, 11, 12, 13}
    for expected in ("users.csv line 3: sourcedId is empty", "line 6: role 'wizard'", "line 7: enabledUser must be true or false",
                     "line 8: none of orgSourcedIds (nowhere)", "line 9: grade '14'", "line 10: sourcedId ok1 appears more than once",
                     "line 11: more fields", "line 12: givenName and familyName are required", "line 13: a staff member needs an email"):
        assert expected in result.output, expected
    assert sorted(students_by_sid()) == ["ok1", "ok2", "q"]


def run_report_rejected():
    run = db.session.scalars(select(RosterImport).order_by(RosterImport.id.desc())).first()
    return run.rejected


def test_missing_required_column_rejects_that_file_naming_it(tmp_path, db_session):
    files = rf.district(5)
    files["users.csv"] = [[c for c in rf.USER_HEADER if c != "familyName"]] + [r[:9] + r[10:] for r in files["users.csv"][1:]]
    report = run_import(rf.write(tmp_path / "set", files))
    assert report.rejected == [{"file": "users.csv", "line": 1,
                                "reason": "missing required column(s) familyName: the whole file was not read"}]
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
    delta = {"manifest.csv": rf.manifest(users="delta", orgs="absent"),
             "users.csv": [rf.USER_HEADER, rf.student("stu-1", "Given1", "Family1", "sch-2", status="tobedeleted"),
                           rf.student("stu-99", "New", "Kid", "sch-1", status="active"),
                           rf.student("stu-98", "No", "Status", "sch-1")]}
    report = run_import(rf.write(tmp_path / "delta", delta))
    students = students_by_sid()
    assert not students["stu-1"].is_active and students["stu-99"].is_active
    assert count(Student, Student.is_active.is_(True)) == 10
    assert report.rejected == [{"file": "users.csv", "line": 4, "reason": "status must be active or tobedeleted in a delta file"}]


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


def test_a_failure_in_the_middle_changes_nothing(tmp_path, db_session, monkeypatch):
    files = rf.district(10)
    files["manifest.csv"] = rf.manifest(demographics="bulk")
    files["demographics.csv"] = [rf.DEMO_HEADER, ["stu-1", "", "", "", "male"] + ["false"] * 7]

    def explode(self, *args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer_module.RosterImporter, "_demographics", explode)
    report = run_import(rf.write(tmp_path / "set", files))
    assert "changed nothing" in report.refused
    assert count(Student) == 0 and count(School) == 0
    run = db.session.scalars(select(RosterImport)).one()
    assert run.status == "failed"


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


def test_admin_uploads_sees_dry_run_then_applies(client, login_as, tmp_path, db_session):
    admin = make_user("admin")
    db_session.commit()
    login_as(admin)
    files = rf.district(8)
    files["users.csv"].append(rf.student("bad", "No", "School", "nowhere"))
    archive = _zip_of(rf.write(tmp_path / "set", files), tmp_path / "export.zip")
    with open(archive, "rb") as fh:
        response = client.post("/admin/roster", data={"archive": (fh, "export.zip")}, content_type="multipart/form-data")
    assert response.status_code == 302
    report_page = client.get(response.headers["Location"]).data.decode()
    assert "Dry run: nothing has changed yet" in report_page and "Students created" in report_page
    assert "users.csv</td><td class=\"num\">10</td><td>none of orgSourcedIds (nowhere)" in report_page
    assert count(Student) == 0
    dry = db.session.scalars(select(RosterImport)).one()
    applied = client.post(f"/admin/roster/{dry.id}/apply")
    assert applied.status_code == 302
    assert count(Student) == 8
    assert "Import applied" in client.get(applied.headers["Location"]).data.decode()


@pytest.mark.parametrize("payload, message", [
    ({}, b"Choose the zip file"),
    ({"archive": "notes.txt"}, b"Upload the export as a .zip"),
    ({"archive": "fake.zip"}, b"not a readable zip"),
])
def test_bad_uploads_are_refused(client, login_as, tmp_path, db_session, payload, message):
    admin = make_user("admin")
    db_session.commit()
    login_as(admin)
    data = {}
    if "archive" in payload:
        fake = tmp_path / payload["archive"]
        fake.write_text("not a zip")
        data["archive"] = (open(fake, "rb"), payload["archive"])
    response = client.post("/admin/roster", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and message in response.data
    assert count(RosterImport) == 0


def test_staff_account_from_the_roster_cannot_sign_in_until_activated(client, tmp_path, db_session):
    files = rf.district(2)
    files["users.csv"].append(rf.staff("t1", "Tess", "Teacher", "sch-1", email="tess@school.example"))
    run_import(rf.write(tmp_path / "set", files))
    response = client.post("/login", data={"email": "tess@school.example", "password": "anything-at-all-long"})
    assert response.status_code == 401


def test_admin_activates_an_imported_staff_account_with_a_temporary_password(app, client, login_as, tmp_path, db_session):
    files = rf.district(2)
    files["users.csv"].append(rf.staff("t1", "Tess", "Teacher", "sch-1", email="tess@school.example"))
    run_import(rf.write(tmp_path / "set", files))
    admin = make_user("admin")
    db_session.commit()
    login_as(admin)
    tess = db.session.scalars(select(User).where(User.sourced_id == "t1")).one()
    assert b"cannot sign in until you set a temporary password" in client.get(f"/admin/users/{tess.id}").data
    client.post(f"/admin/users/{tess.id}", data={"name": tess.name, "role": "staff", "schools": [s.id for s in tess.schools],
                                                 "new_password": "harbor violet meadow 58"})
    response = app.test_client().post("/login", data={"email": "tess@school.example", "password": "harbor violet meadow 58"})
    assert response.status_code == 302
