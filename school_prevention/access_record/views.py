"""A student's record of access, for the counselors of the student's school and the district's
privacy officer (a district user with the privacy-officer grant), who can also download it."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_login import current_user

from school_prevention import audit
from school_prevention.access_record.queries import access_of, kind_of, student_by_sis_id
from school_prevention.extensions import db
from school_prevention.forms import MAX_PAGE
from school_prevention.i18n import N_
from school_prevention.permissions import get_student_or_404, roles
from school_prevention.roles import Role
from school_prevention.spreadsheets import csv_bytes
from school_prevention.timezones import district_zone

bp = Blueprint("access_record", __name__)

# What each audit action means to a parent or a privacy officer; others are shown by their name.
# The page shows them in the reader's language; the CSV keeps them in English (a stable file).
LABELS = {
    "student.view": N_("Opened the student's page"),
    "flag.view": N_("Opened a flag"),
    "flag.note.read": N_("Read a restricted note"),
    "flag.created": N_("Opened a flag"),
    "flag.updated": N_("Changed a flag"),
    "flag.status": N_("Changed a flag's status"),
    "flag.report_recorded": N_("Recorded a mandated report to an outside agency"),
    "referral.created": N_("Referred a concern"),
    "referral.view": N_("Opened a referral"),
    "referral.observation.read": N_("Read a referral's observation"),
    "referral.in_review": N_("Took a referral into review"),
    "referral.accepted": N_("Accepted a referral"),
    "referral.closed": N_("Closed a referral"),
    "screening.created": N_("Recorded a screening"),
    "checkin.view": N_("Opened a check-in"),
    "checkin.note.read": N_("Read a check-in note"),
    "checkin.completed": N_("Recorded a check-in"),
    "checkin.missed": N_("Marked a check-in missed"),
    "checkin.rescheduled": N_("Moved a check-in"),
    "checkin.cancelled": N_("Cancelled a check-in"),
    "checkin_plan.created": N_("Started a check-in plan"),
    "checkin_plan.updated": N_("Changed a check-in plan"),
    "checkin_plan.ended": N_("Ended a check-in plan"),
    "checkin_plan.view": N_("Opened a check-in plan"),
    "match.view": N_("Opened a mentoring match"),
    "match.contact": N_("Logged a mentoring contact"),
    "enrollment.promoted": N_("Given a seat from the waitlist"),
    "export.student_level": N_("Included in a student-level export"),
    "access_record.view": N_("Looked at this record of access"),
    "access_record.export": N_("Downloaded this record of access"),
    # Forms opened about the student (they show the student's name and records).
    "flag.form.view": N_("Opened the form for a new flag"),
    "flag.edit.view": N_("Opened a flag to edit it"),
    "flag.report.view": N_("Opened the form to record a mandated report"),
    "checkin_plan.form.view": N_("Opened the form for a new check-in plan"),
    "checkin_plan.edit.view": N_("Opened a check-in plan to edit it"),
    "checkin.list": N_("Listed check-ins"),
    "screening.form.view": N_("Opened the screening form"),
    "referral.form.view": N_("Opened the referral form"),
    "referral.list": N_("Listed referrals"),
    "referral.mine.list": N_("Listed their own referrals"),
    "referral.routed": N_("Routed a referral"),
    "referral.student_search": N_("Searched students to refer"),
    "referral.waiting.view": N_("Opened a referral's confirmation"),
    "enrollment.form.view": N_("Opened the form to enroll in a program"),
    "enrollment.end.view": N_("Opened the form to end an enrollment"),
    "program.view": N_("Opened a program"),
    "program.session.view": N_("Opened a program session"),
    "program_session.recorded": N_("Recorded attendance at a program session"),
    "program_session.updated": N_("Changed attendance at a program session"),
    "match.list": N_("Listed mentoring matches"),
    "match.inquiry": N_("Asked about a mentoring match"),
    "student.list": N_("Listed students"),
    "student.summary.print": N_("Printed the student's summary"),
    "student.tier.view": N_("Opened the student's tier of support"),
    "student.tier_changed": N_("Changed the tier of support"),
    "student.counselor.assigned": N_("Assigned a counselor"),
    "intervention_plan.form.view": N_("Opened the form for an intervention plan"),
    "intervention_plan.created": N_("Started an intervention plan"),
    "intervention_plan.view": N_("Opened an intervention plan"),
    "intervention_plan.progress": N_("Recorded progress on an intervention plan"),
    "intervention_plan.reviewed": N_("Reviewed an intervention plan"),
    "caseload.bulk.form.view": N_("Opened a bulk action on selected students"),
    "caseload.bulk.results": N_("Saw the results of a bulk action"),
    "home.lists.view": N_("Saw the student on a home page list"),
    "home.uncovered.view": N_("Saw the student among those not yet covered"),
    "agency_referral.form.view": N_("Opened the form to refer to an agency"),
    "agency_referral.created": N_("Referred to an outside agency"),
    "agency_referral.view": N_("Opened a referral to an agency"),
    "agency_referral.note.read": N_("Read a note on a referral to an agency"),
    "agency_referral.status": N_("Changed the status of a referral to an agency"),
    "agency_referral.follow_up": N_("Followed up a referral to an agency"),
    "disclosure.form.view": N_("Opened the form to record a sharing"),
    "disclosure.record.view": N_("Opened the disclosure record"),
    "disclosure.recorded": N_("Recorded a sharing of the student's records"),
    "disclosure.corrected": N_("Corrected a recorded sharing"),
    "consent.form.view": N_("Opened the form to record a consent"),
    "consent.recorded": N_("Recorded a consent"),
    "consent.revoked": N_("Recorded that a consent was withdrawn"),
    "inspection.form.view": N_("Opened the form for a request to inspect the record"),
    "inspection.logged": N_("Logged a request to inspect the record"),
    "inspection.answered": N_("Answered a request to inspect the record"),
    "inspection.export.view": N_("Opened the copy of the record for an inspection"),
    "export.district": N_("Downloaded a district export"),
    "export.student_level.download": N_("Downloaded a student-level export"),
    "calendar.feed": N_("Calendar feed of check-ins read"),
    "report.coverage": N_("Opened the coverage report"),
    "report.coverage.district": N_("Opened the district's coverage report"),
    "roster.import": N_("Imported the roster"),
    "roster.retry": N_("Retried a roster import"),
    "roster.discard": N_("Discarded a roster import"),
}
PER_PAGE = 100


def label(action: str) -> str:
    """The plain-language description of an audit action."""
    return LABELS.get(action, action.replace("_", " ").replace(".", ": "))


# The kinds of access as the page words them (the CSV keeps queries.KINDS as they are).
KIND_WORDS = {
    "viewed": lambda: pgettext("access kind", "viewed"),
    "changed": lambda: pgettext("access kind", "changed"),
    "exported": lambda: pgettext("access kind", "exported"),
    "disclosed": lambda: pgettext("access kind", "disclosed"),
}


def _label_shown(action: str) -> str:
    """label() in the page's language."""
    return _(LABELS[action]) if action in LABELS else label(action)


def _kind_shown(action: str) -> str:
    """kind_of() in the page's language."""
    kind = kind_of(action)
    return KIND_WORDS[kind]() if kind in KIND_WORDS else kind


def _page_number() -> int:
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_PAGE:
        abort(400, description=_("page must be a whole number from 1 to %(max)s.", max=MAX_PAGE))
    return page


def _render(student, csv_url: str, back_url: str | None):
    page = _page_number()
    rows = db.session.execute(access_of(student.id).limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)).all()
    audit.record("access_record.view", actor=current_user, obj=student, student=student, detail={"page": page})
    return render_template(
        "access_record/student.html",
        student=student,
        rows=rows[:PER_PAGE],
        page=page,
        has_next=len(rows) > PER_PAGE,
        label=_label_shown,
        kind_of=_kind_shown,
        csv_url=csv_url,
        back_url=back_url,
    )


def _download(student):
    rows = db.session.execute(access_of(student.id)).all()
    audit.record(
        "access_record.export",
        actor=current_user,
        obj=student,
        student=student,
        purpose="record of access (FERPA 34 CFR 99.32)",
        detail={"rows": len(rows)},
    )
    body = csv_bytes(
        ["when", "who", "role", "kind", "what", "purpose"],
        (
            [
                r.at.astimezone(district_zone()).strftime("%Y-%m-%d %H:%M"),
                r.actor_name or "(system)",
                r.actor_role or "",
                kind_of(r.action),
                label(r.action),
                r.purpose or "",
            ]
            for r in rows
        ),
    )
    name = f"record-of-access-{student.sourced_id}.csv"
    return current_app.response_class(
        body, mimetype="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@bp.route("/students/<int:student_id>/access")
@roles(Role.COUNSELOR)
def student_access(student_id: int):
    """Who has viewed, changed, exported or disclosed this student's record."""
    student = get_student_or_404(current_user, student_id)
    return _render(student, f"/students/{student.id}/access.csv", f"/students/{student.id}")


@bp.route("/students/<int:student_id>/access.csv")
@roles(Role.COUNSELOR)
def student_access_csv(student_id: int):
    """The same record as CSV."""
    return _download(get_student_or_404(current_user, student_id))


def _officer_student():
    """The student named by ?student=<SIS id>, for the privacy officer; None when none was asked for."""
    if not current_user.is_privacy_officer:
        abort(403)
    sis_id = (request.args.get("student") or "").strip()
    if not sis_id:
        return None, sis_id
    if len(sis_id) > 255:
        abort(400, description=_("A SIS id is at most 255 characters."))
    found = db.session.scalars(student_by_sis_id(sis_id)).all()
    if len(found) != 1:
        return None, sis_id
    return found[0], sis_id


@bp.route("/privacy/access")
@roles(Role.DISTRICT)
def privacy_access():
    """The privacy officer finds a student by SIS id and reads their record of access."""
    student, sis_id = _officer_student()
    if student is None:
        code = 404 if sis_id else 200
        return render_template("access_record/find.html", sis_id=sis_id, not_found=bool(sis_id)), code
    return _render(student, f"/privacy/access.csv?student={student.sourced_id}", None)


@bp.route("/privacy/access.csv")
@roles(Role.DISTRICT)
def privacy_access_csv():
    """The privacy officer's download of a student's record of access."""
    student, sis_id = _officer_student()
    if student is None:
        abort(404 if sis_id else 400, description=_("Give the student's SIS id."))
    return _download(student)
