"""Check-in pages: my check-ins, plans, completing a check-in, the calendar feed, preferences."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.checkins import calendar
from school_prevention.checkins.forms import CompleteForm, PlanForm, RemindersForm, RescheduleForm
from school_prevention.checkins.models import CheckIn
from school_prevention.checkins.queries import (
    agenda,
    checkins_of_plan,
    get_checkin_or_404,
    get_checkin_plan_or_404,
    handoff_plans,
    recently_done,
    visible_checkin_plans,
    visible_checkins,
)
from school_prevention.checkins.services import (
    BACKDATE_LIMIT,
    COMPLETE_WINDOW,
    cancel,
    complete,
    create_plan,
    end_plan,
    mark_missed,
    plan_form_problems,
    read_note,
    require_active,
    reschedule,
    save_reminder_leads,
    update_plan,
)
from school_prevention.db import utcnow
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.flags.queries import visible_flags
from school_prevention.forms import apply_problems, apply_service_error
from school_prevention.i18n import format_local
from school_prevention.permissions import (
    get_student_or_404,
    public,
    roles,
)
from school_prevention.programs.queries import visible_matches
from school_prevention.referrals.queries import counselors_of_school
from school_prevention.roles import Role
from school_prevention.timezones import district_zone

bp = Blueprint("checkins", __name__)


@bp.route("/checkins")
@roles(Role.COUNSELOR)
def index():
    """My check-ins: overdue, today, this week; match-support contacts due; plans to take over."""
    from school_prevention.programs.queries import active_matches_with_contact_due

    now = utcnow()
    tz = district_zone()
    local_now = now.astimezone(tz)
    today = local_now.date()
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time()).replace(tzinfo=tz)
    # "Next 7 days" means tomorrow through the same weekday next week (next Tuesday's weekly
    # check-in is listed on Tuesday).
    week_end = datetime.combine(today + timedelta(days=8), datetime.min.time()).replace(tzinfo=tz)
    items = db.session.scalars(agenda(visible_checkins(current_user), current_user.id, now, week_end)).all()
    groups = {
        "overdue": [c for c in items if c.due_at < now],
        "today": [c for c in items if now <= c.due_at < tomorrow],
        "week": [c for c in items if c.due_at >= tomorrow],
    }
    done = db.session.scalars(recently_done(visible_checkins(current_user), current_user.id, now)).all()
    support = active_matches_with_contact_due(visible_matches(current_user), today)
    handoffs = db.session.scalars(handoff_plans(visible_checkin_plans(current_user))).all()
    audit.record("checkin.list", actor=current_user, detail={"shown": len(items) + len(done)})
    return render_template("checkins/index.html", groups=groups, done=done, support=support, handoffs=handoffs, now=now)


def _counselors_for(student):
    return db.session.scalars(counselors_of_school(student.school_id).order_by(User.name)).all()


def _flags_for(student):
    return db.session.scalars(
        visible_flags(current_user).where(RiskFlag.student_id == student.id, RiskFlag.status != "resolved")
    ).all()


def _plan_values(form) -> dict:
    return {
        "cadence": form.cadence.data,
        "rrule": form.rrule.data,
        "starts_on": form.starts_on.data,
        "local_time": form.local_time.data,
        "duration_minutes": form.duration_minutes.data,
        "non_school_day": form.non_school_day.data,
        "reason": form.reason.data,
    }


def _plan_form_valid(form, student, counselors, values: dict) -> bool:
    """The form's checks and the service's together, so every problem shows in one round."""
    valid = form.validate()
    problems = plan_form_problems(
        student, _pick(counselors, form.counselor_id.data), today=utcnow().astimezone(district_zone()).date(), **values
    )
    apply_problems(form, problems, skip_fields_with_errors=True)
    return valid and not problems


def _pick(items, item_id):
    return next((i for i in items if i.id == item_id), None)


@bp.route("/students/<int:student_id>/checkin-plans/new", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def plan_new(student_id: int):
    """Start a check-in plan for a student."""
    student = get_student_or_404(current_user, student_id)
    counselors, flags = _counselors_for(student), _flags_for(student)
    only_flag = flags[0].id if len(flags) == 1 else 0  # the student's one flag is the plan's, unless changed
    form = PlanForm(
        counselors,
        flags,
        counselor_id=current_user.id,
        flag_id=request.args.get("flag_id", only_flag, type=int),
        starts_on=utcnow().astimezone(district_zone()).date(),
    )
    status = 200
    if request.method == "POST":
        status = 400
        values = _plan_values(form)
        if form.until.data:
            values["until"] = form.until.data
        if _plan_form_valid(form, student, counselors, values):
            try:
                with db.session.begin_nested():
                    plan = create_plan(
                        current_user,
                        student,
                        _pick(counselors, form.counselor_id.data),
                        now=utcnow(),
                        flag=_pick(flags, form.flag_id.data),
                        **values,
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                cadence = plan.cadence_label if plan.cadence == "custom" else plan.cadence_label.lower()
                flash(
                    gettext(
                        "Check-in plan started: %(cadence)s at %(time)s.",
                        cadence=cadence,
                        time=format_local(plan.local_time, "%-I:%M %p"),
                    ),
                    "success",
                )
                return redirect(url_for("checkins.plan_detail", plan_id=plan.id))
    audit.record(
        "checkin_plan.form.view", actor=current_user, obj=student, student=student
    )  # the form names the student
    return render_template("checkins/plan_form.html", form=form, student=student, plan=None), status


@bp.route("/checkin-plans/<int:plan_id>")
@roles(Role.COUNSELOR)
def plan_detail(plan_id: int):
    """A plan with its check-ins, past and ahead."""
    plan = get_checkin_plan_or_404(current_user, plan_id)
    checkins = db.session.scalars(checkins_of_plan(plan.id)).all()
    audit.record("checkin_plan.view", actor=current_user, obj=plan, student=plan.student)
    return render_template("checkins/plan.html", plan=plan, checkins=checkins, now=utcnow())


@bp.route("/checkin-plans/<int:plan_id>/edit", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def plan_edit(plan_id: int):
    """Change a plan; only check-ins still ahead move."""
    plan = get_checkin_plan_or_404(current_user, plan_id)
    require_active(plan)
    counselors, flags = _counselors_for(plan.student), _flags_for(plan.student)
    form = PlanForm(counselors, flags, obj=plan if request.method == "GET" else None)
    if request.method == "GET":
        form.flag_id.data = plan.flag_id or 0
    status = 200
    if request.method == "POST":
        status = 400
        values = _plan_values(form)
        values["until"] = form.until.data or plan.until
        if _plan_form_valid(form, plan.student, counselors, values):
            try:
                with db.session.begin_nested():
                    changed = update_plan(
                        current_user,
                        plan,
                        _pick(counselors, form.counselor_id.data),
                        now=utcnow(),
                        flag=_pick(flags, form.flag_id.data),
                        **values,
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
                plan = get_checkin_plan_or_404(current_user, plan_id)
            else:
                flash(
                    ngettext(
                        "Plan saved. %(num)d upcoming check-in changed; past ones are kept as they were.",
                        "Plan saved. %(num)d upcoming check-ins changed; past ones are kept as they were.",
                        changed,
                    ),
                    "success",
                )
                return redirect(url_for("checkins.plan_detail", plan_id=plan.id))
    audit.record("checkin_plan.edit.view", actor=current_user, obj=plan, student=plan.student)
    return render_template("checkins/plan_form.html", form=form, student=plan.student, plan=plan), status


@bp.route("/checkin-plans/<int:plan_id>/end", methods=["POST"])
@roles(Role.COUNSELOR)
def plan_end(plan_id: int):
    """End a plan; its upcoming check-ins are cancelled."""
    plan = get_checkin_plan_or_404(current_user, plan_id)
    cancelled = end_plan(current_user, plan, now=utcnow())  # an ended plan: errors.AlreadyDone, a 409
    flash(
        ngettext(
            "Plan ended; %(num)d upcoming check-in cancelled.",
            "Plan ended; %(num)d upcoming check-ins cancelled.",
            cancelled,
        ),
        "success",
    )
    return redirect(url_for("students.detail", student_id=plan.student_id))


def _render_checkin(checkin: CheckIn, form=None, reschedule_form=None, code: int = 200):
    note = read_note(current_user, checkin)
    local_due = checkin.due_at.astimezone(district_zone()).replace(tzinfo=None)
    context = {
        "checkin": checkin,
        "note": note,
        "form": form or CompleteForm(formdata=None),
        "reschedule_form": reschedule_form or RescheduleForm(formdata=None, when=local_due),
        "now": utcnow(),
        "window_hours": int(COMPLETE_WINDOW.total_seconds() // 3600),
        "backdate_days": BACKDATE_LIMIT.days,
    }
    audit.record("checkin.view", actor=current_user, obj=checkin, student=checkin.student)
    return render_template("checkins/detail.html", **context), code


@bp.route("/checkins/<int:checkin_id>", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def detail(checkin_id: int):
    """One check-in; complete it with an outcome and a restricted note."""
    if request.method == "GET":
        return _render_checkin(get_checkin_or_404(current_user, checkin_id))
    form = CompleteForm()
    return _form_action(
        checkin_id,
        form,
        "form",
        lambda c: complete(current_user, c, outcome=form.outcome.data, note=form.note.data, now=utcnow()),
        # Flashed messages travel in the session cookie, which is signed, not encrypted: they name no one.
        lambda c: (
            str(COMPLETED[c.outcome])
            if c.outcome in COMPLETED
            else gettext("Check-in completed (%(outcome)s).", outcome=c.outcome_label)
        ),
    )


# The message after completing a check-in, one sentence per outcome (no name: it travels in the cookie).
COMPLETED = {
    "doing_well": _l("Check-in completed: the student is doing well."),
    "some_concerns": _l("Check-in completed, with some concerns noted."),
    "needs_follow_up": _l("Check-in completed; it needs follow-up."),
    "escalated": _l("Check-in completed and escalated (flag, referral or report)."),
}


def _form_action(checkin_id: int, form, form_name: str, action, message):
    """Validate form, run action(checkin) and commit; else show the check-in with the problem beside the fields."""
    checkin = get_checkin_or_404(current_user, checkin_id)
    if form.validate():
        try:
            with db.session.begin_nested():
                action(checkin)
        except ServiceError as exc:
            apply_service_error(form, exc)
            checkin = get_checkin_or_404(current_user, checkin_id)
        else:
            flash(message(checkin), "success")
            return redirect(url_for("checkins.index"))
    return _render_checkin(checkin, code=400, **{form_name: form})


def _simple_action(checkin_id: int, action, message: str):
    checkin = get_checkin_or_404(current_user, checkin_id)
    try:
        with db.session.begin_nested():
            action(checkin)
    except ServiceError as exc:
        form = CompleteForm(formdata=None)
        form.form_errors.append(exc.message)
        return _render_checkin(get_checkin_or_404(current_user, checkin_id), form=form, code=409)
    flash(str(message), "success")
    return redirect(url_for("checkins.index"))


@bp.route("/checkins/<int:checkin_id>/missed", methods=["POST"])
@roles(Role.COUNSELOR)
def missed(checkin_id: int):
    """The meeting did not happen."""
    return _simple_action(
        checkin_id, lambda c: mark_missed(current_user, c, now=utcnow()), _l("Check-in marked missed.")
    )


@bp.route("/checkins/<int:checkin_id>/cancel", methods=["POST"])
@roles(Role.COUNSELOR)
def cancel_(checkin_id: int):
    """Call this one check-in off."""
    return _simple_action(checkin_id, lambda c: cancel(current_user, c), _l("Check-in cancelled."))


@bp.route("/checkins/<int:checkin_id>/reschedule", methods=["POST"])
@roles(Role.COUNSELOR)
def reschedule_(checkin_id: int):
    """Move one check-in to another time."""
    form = RescheduleForm()
    return _form_action(
        checkin_id,
        form,
        "reschedule_form",
        lambda c: reschedule(current_user, c, local=form.when.data, now=utcnow()),
        lambda c: gettext("Check-in moved to %(when)s.", when=format_local(form.when.data, "%a %b %-d, %-I:%M %p")),
    )


# --- calendar feed and preferences -------------------------------------------------------------


@bp.route("/calendar/<token>.ics")
@public
def feed(token: str):
    """A counselor's check-ins as iCalendar; the token is the key (revocable), entries carry initials only."""
    user = calendar.user_for_token(token)
    if user is None:
        abort(404)
    body = calendar.feed_for(user, utcnow())
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": "inline; filename=check-ins.ics", "Cache-Control": "no-store"},
    )


def _me_locked() -> User:
    """The signed-in user's row, locked until the commit, for a change to their own settings: of two
    identical requests, the second waits and sees what the first saved."""
    me = db.session.get(User, current_user.id, with_for_update=True, populate_existing=True)
    assert me is not None  # current_user was loaded from this very row in this request
    return me


@bp.route("/account/calendar", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def calendar_settings():
    """Create (or replace) and revoke the calendar feed link."""
    url = None
    if request.method == "POST":
        action = request.form.get("action")
        if action not in ("create", "revoke"):
            abort(400, description=gettext("Choose to create or revoke the link."))
        me = _me_locked()
        if action == "revoke":
            calendar.revoke(me)
            flash(gettext("Calendar link revoked: calendars using it stop updating."), "success")
            return redirect(url_for("checkins.calendar_settings"))
        replaces = request.form.get("replaces")
        if not replaces:
            abort(
                400,
                description=gettext(
                    "This form is out of date. Open the calendar page again and create the link from there."
                ),
            )
        token = calendar.issue(me, replaces=replaces)
        url = url_for("checkins.feed", token=token, _external=True)
    return render_template(
        "checkins/calendar.html",
        url=url,
        has_feed=bool(current_user.calendar_token_hash),
        link_version=calendar.link_version(current_user),
    )


@bp.route("/account/reminders", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def reminders():
    """When to be reminded before each check-in."""
    form = RemindersForm(leads=current_user.reminder_lead_minutes if request.method == "GET" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            save_reminder_leads(_me_locked(), form.leads.data or [])
            flash(gettext("Reminder times saved."), "success")
            return redirect(url_for("checkins.reminders"))
    return render_template("checkins/reminders.html", form=form), status
