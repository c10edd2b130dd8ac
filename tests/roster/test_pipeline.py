"""The roster import's stages on their own: read rejects every bad row by line, stage holds what was
valid, upsert is idempotent, and reports read in the admin's language."""

from __future__ import annotations

from datetime import date, time

from flask_babel import force_locale
from sqlalchemy import func, select

from school_prevention.checkins.models import CheckInPlan
from school_prevention.extensions import db
from school_prevention.roster.models import StudentSchoolChange
from school_prevention.roster.pipeline import validate
from school_prevention.roster.pipeline.report import ImportReport, count_rows
from school_prevention.roster.pipeline.stage import STAGE, StudentStage, stage_students
from school_prevention.roster.services import import_roster, start_run
from school_prevention.roster.sources import RosterSource
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests.factories import make_user
from tests.support import roster_files as rf


def read_users(path, schools):
    """Run users.csv through validate.users; returns (student rows, staff, report)."""
    report, staff, guardians = ImportReport(dry_run=True), [], []
    source = RosterSource(path)
    try:
        with source.open_text("users.csv") as fh:
            _, rows = source.rows(fh, "users.csv")
            students = list(validate.users(rows, "bulk", report, schools, staff, guardians))
    finally:
        source.close()
    return students, staff, report


def test_read_rejects_every_bad_row_with_its_line_and_keeps_the_rest(tmp_path, db_session):
    users = [
        rf.USER_HEADER,
        rf.student("stu-1", "Ana", "Lopez", "sch-1"),  # line 2: fine
        rf.student("stu-2", "Ben", "Ng", "sch-1", grade="Z9"),  # line 3: bad grade
        rf.student("stu-1", "Ana", "Again", "sch-1"),  # line 4: duplicate sourcedId
        rf.student("stu-4", "", "Ortiz", "sch-1"),  # line 5: no given name
        rf.student("stu-5", "Cy", "Park", "nowhere"),  # line 6: unknown school
        rf.student("stu-6", "Di", "Reyes", "sch-1", enabled="maybe"),  # line 7: enabledUser not a boolean
        rf.student("stu-7", "Ed", "Sol", "sch-1") + ["extra"],  # line 8: one field too many
        rf.staff("t-1", "Tia", "Moss", "sch-1"),  # line 9: a teacher, fine
        rf.student("stu-9", "Fay", "Quinn", "sch-1", grade="k"),
    ]  # line 10: fine (k is KG)
    path = rf.write(tmp_path / "set", {"users.csv": users})
    students, staff, report = read_users(path, {"sch-1": 11})
    assert [(s.line, s.sid, s.school_id, s.grade) for s in students] == [
        (2, "stu-1", 11, "07"),
        (10, "stu-9", 11, "KG"),
    ]
    assert [s.sid for s in staff] == ["t-1"]
    assert [(r["line"], r["reason"]) for r in report.rejected] == [
        (3, "grade 'Z9' is not a OneRoster grade (PK, KG, 01..13, ...)"),
        (4, "sourcedId stu-1 appears more than once in users.csv"),
        (5, "givenName and familyName are required"),
        (6, "none of orgSourcedIds (nowhere) is a school in orgs.csv or already known"),
        (7, "enabledUser must be true or false, not 'maybe'"),
        (8, "more fields than the header has columns"),
    ]
    assert {r["file"] for r in report.rejected} == {"users.csv"} and report.counts["rows_rejected"] == 6


def test_stage_holds_the_valid_rows_in_batches(tmp_path, db_session):
    students, _, _ = read_users(rf.write(tmp_path / "set", rf.district(7, schools=1)), {"sch-1": 5})
    stage = StudentStage()
    stage.create()
    stage_students(stage, iter(students), batch_size=3)
    stage.close()
    staged = db.session.execute(
        select(STAGE.c.line, STAGE.c.sourced_id, STAGE.c.school_id, STAGE.c.is_active, STAGE.c.is_deleted).order_by(
            STAGE.c.line
        )
    ).all()
    assert staged == [(n + 1, f"stu-{n}", 5, True, False) for n in range(1, 8)]
    stage.drop()


def run(path, actor=None, dry_run=False):
    started = start_run(actor, str(path), dry_run=dry_run)
    return import_roster(started.id, path, dry_run=dry_run)


def test_importing_the_same_file_twice_changes_nothing_the_second_time(tmp_path, db_session):
    files = rf.district(9)
    files["users.csv"].append(rf.student("stu-10", "Gil", "Vega", "sch-1", grade="", enabled="false"))
    first = run(rf.write(tmp_path / "a", files))
    assert first.counts["students_created"] == 10
    before = db.session.execute(
        select(
            Student.id,
            Student.sourced_id,
            Student.school_id,
            Student.grade,
            Student.identifier,
            Student.is_active,
            Student.updated_at,
        ).order_by(Student.id)
    ).all()
    moves = db.session.scalar(select(func.count()).select_from(StudentSchoolChange))
    again = run(rf.write(tmp_path / "b", files))
    assert {k: v for k, v in again.counts.items() if v} == {"students_unchanged": 10}
    assert again.messages[-1] == "No changes: the database already matches these files."
    db.session.expire_all()
    after = db.session.execute(
        select(
            Student.id,
            Student.sourced_id,
            Student.school_id,
            Student.grade,
            Student.identifier,
            Student.is_active,
            Student.updated_at,
        ).order_by(Student.id)
    ).all()
    assert after == before  # not even updated_at moved
    assert db.session.scalar(select(func.count()).select_from(StudentSchoolChange)) == moves


def test_a_grade_cleared_or_an_identifier_removed_is_a_change(tmp_path, db_session):
    files = rf.district(3)
    run(rf.write(tmp_path / "a", files))
    files["users.csv"][1][16] = ""  # stu-1: grade removed (NULL)
    files["users.csv"][2][11] = ""  # stu-2: identifier removed (NULL)
    report = run(rf.write(tmp_path / "b", files))
    assert (report.counts["students_updated"], report.counts["students_unchanged"]) == (2, 1)
    students = {s.sourced_id: s for s in db.session.scalars(select(Student))}
    assert students["stu-1"].grade is None and students["stu-2"].identifier is None


def test_a_spanish_admin_reads_rejects_and_messages_in_spanish(tmp_path, db_session):
    admin = make_user("admin", locale="es")
    files = rf.district(3)
    files["users.csv"].append(rf.student("stu-9", "Fay", "Quinn", "sch-1", grade="Z9"))
    del files["manifest.csv"]
    report = run(rf.write(tmp_path / "set", files), actor=admin, dry_run=True)
    reason = report.rejected[0]["reason"]
    assert (report.rejected[0]["line"], reason) == (
        5,
        "el grado 'Z9' no es un grado de OneRoster (PK, KG, 01..13, ...)",
    )
    assert report.messages[0] == "Falta manifest.csv: cada archivo presente se lee como archivo bulk (completo)."
    english = run(rf.write(tmp_path / "again", files), dry_run=True)  # the command line: no admin, English
    assert english.rejected[0]["reason"] == "grade 'Z9' is not a OneRoster grade (PK, KG, 01..13, ...)"
    with force_locale("es"):  # as in a request of an admin who chose Spanish
        labels = [label for label, _ in count_rows({"students_created": 3, "rows_rejected": 1})]
    assert labels == ["Estudiantes creados", "Filas rechazadas"]


def test_a_damaged_file_is_refused_in_the_admins_language(tmp_path, db_session):
    admin = make_user("admin", locale="es")
    files = rf.district(2)
    path = rf.write(tmp_path / "set", files)
    (path / "users.csv").write_bytes((path / "users.csv").read_bytes() + b'stu-9,,,true,sch-1,student,"open\r\n')
    report = run(path, actor=admin)
    assert report.refused == (
        'users.csv línea 4: una comilla (") abierta en esta línea nunca se cierra. Corrija el '
        "archivo e inténtelo de nuevo. No se cambió nada."
    )
    assert db.session.scalar(select(func.count()).select_from(Student)) == 0


def test_more_movers_than_a_batch_are_handed_off_batch_by_batch(app, tmp_path, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "ROSTER_BATCH_SIZE", 2)  # five movers: three hand-off calls
    files = rf.district(10)
    run(rf.write(tmp_path / "a", files))
    schools = {s.sourced_id: s for s in db.session.scalars(select(School))}
    counselor = make_user("counselor", schools=list(schools.values()))
    movers = [s for s in db.session.scalars(select(Student).order_by(Student.id)) if s.school.sourced_id == "sch-2"]
    plans = []
    for student in movers:
        plans.append(
            CheckInPlan(
                student_id=student.id,
                school_id=student.school_id,
                counselor_id=counselor.id,
                cadence="weekly",
                local_time=time(10, 0),
                starts_on=date(2026, 9, 1),
                until=date(2027, 6, 1),
                status="active",
            )
        )
    db.session.add_all(plans)
    db.session.flush()
    for n in range(1, 11, 2):  # stu-1, 3, 5, 7, 9 are at sch-2
        files["users.csv"][n] = rf.student(f"stu-{n}", f"Given{n}", f"Family{n}", "sch-1")
    report = run(rf.write(tmp_path / "b", files))
    assert (report.counts["students_moved_school"], report.counts["checkin_plans_kept_by_counselor"]) == (5, 5)
    db.session.expire_all()
    assert {plan.school_id for plan in plans} == {schools["sch-1"].id}
    assert db.session.scalar(select(func.count()).select_from(StudentSchoolChange)) == 5


def test_a_spanish_admin_reads_the_report_page_in_spanish(client, login_as, tmp_path, db_session):
    admin = make_user("admin", locale="es")
    files = rf.district(3)
    files["users.csv"].append(rf.student("stu-9", "Fay", "Quinn", "sch-1", grade="Z9"))
    started = start_run(admin, str(tmp_path / "set"), dry_run=True)
    import_roster(started.id, rf.write(tmp_path / "set", files), dry_run=True)
    login_as(admin)
    page = client.get(f"/admin/roster/{started.id}").get_data(as_text=True)
    assert '<html lang="es">' in page
    for spanish in (
        "el grado &#39;Z9&#39; no es un grado de OneRoster",
        "Estudiantes creados",
        "Escuelas creadas",
        "Filas rechazadas",
    ):
        assert spanish in page
    for english in ("is not a OneRoster grade", "Students created", "Rows rejected"):
        assert english not in page
