"""Command groups: users, demo (db comes from Flask-Migrate)."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from school_prevention.extensions import db

users_cli = AppGroup("users", help="Manage user accounts.")
demo_cli = AppGroup("demo", help="Demo and synthetic data.")
scheduler_cli = AppGroup("scheduler", help="The one scheduler process.")
crypto_cli = AppGroup("crypto", help="Encryption keys for restricted notes.")
roster_cli = AppGroup("roster", help="Roster import from the SIS (OneRoster 1.1 CSV).")
jobs_cli = AppGroup("jobs", help="Run scheduled jobs by hand.")
export_cli = AppGroup("export", help="Exports that are safe to share (suppressed aggregates).")


def _read_password() -> str:
    """From standard input when it is not a terminal (scripts), otherwise a hidden prompt."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["staff", "counselor", "principal", "district", "admin"]))
@click.option("--name", required=True, help="The person's full name.")
@click.option(
    "--school",
    "schools",
    multiple=True,
    metavar="SCHOOL_SOURCED_ID",
    help="A school (by SIS sourcedId) the user works at; repeat for several.",
)
@click.option("--grant-student-export", is_flag=True, help="District users only: may export student-level data.")
@click.option(
    "--privacy-officer",
    is_flag=True,
    help="District users only: may look up and download any student's record of access.",
)
def users_create(email, role, name, schools, grant_student_export, privacy_officer):
    """Create a user; the password is read from standard input when it is not a terminal.

    The operator's tool on the server (the first admin and district accounts are made with it): what
    it gives needs no district approval, since whoever runs it has the server's shell and database
    anyway. The audit row says so (detail "approval": "operator"). In the app, an admin's grant of
    case data waits for a district user's approval (Access requests).
    """
    from sqlalchemy import select

    from school_prevention.auth.passwords import password_problems
    from school_prevention.auth.services import create_user
    from school_prevention.errors import ServiceError
    from school_prevention.schools.models import School

    password = _read_password()
    problems = password_problems(password, [email, name])
    if problems:
        raise click.ClickException(problems[0])
    found = {s.sourced_id: s.id for s in db.session.scalars(select(School).where(School.sourced_id.in_(schools)))}
    missing = [s for s in schools if s not in found]
    if missing:
        raise click.ClickException(f"No school with sourcedId {', '.join(missing)}.")
    try:
        user = create_user(
            None,
            email=email,
            name=name,
            role=role,
            password=password,
            school_ids=list(found.values()),
            must_change_password=False,
            can_export_student_level=grant_student_export,
            is_privacy_officer=privacy_officer,
        )
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users_cli.command("invite")
@click.argument("email")
def users_invite(email):
    """Email an invitation link (single use, 7 days) so the person chooses their own password."""
    from school_prevention.auth import tokens
    from school_prevention.auth.queries import user_by_email
    from school_prevention.notifications import mail

    user = db.session.scalars(user_by_email(email)).one_or_none()
    if user is None:
        raise click.ClickException(f"No account with the email {email}.")
    if not tokens.can_invite(user):
        raise click.ClickException(f"{user.email} is deactivated; reactivate the account first.")
    tokens.issue(user, tokens.INVITE, actor=None)
    db.session.commit()
    where = (
        "it goes out with the scheduler's next delivery"
        if mail.is_configured()
        else "no MAIL_SERVER is configured, so it waits in the email outbox (Admin > Email outbox)"
    )
    click.echo(f"Invitation queued for {user.email}: {where}.")


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when any user exists already.")
def demo_seed(if_empty):
    """Create a small demo district with one user per role, and print the sign-in details."""
    from school_prevention.demo import DEMO_PASSWORD, seed_demo

    created = seed_demo(if_empty=if_empty)
    db.session.commit()
    if created is None:
        click.echo("Users exist already; demo data not added.")
        return
    click.echo(f"Demo district ready: {created['schools']} schools, {created['students']} students.")
    click.echo(
        f"Sign in at {current_app.config['SP_BASE_URL'].rstrip('/')}/login with one of these (password for all: "
        f"{DEMO_PASSWORD}):"
    )
    for role, email in created["users"]:
        click.echo(f"  {role:<10} {email}")
    click.echo(
        "Counselor, principal and district accounts set up an authenticator app (a phone app that "
        "shows six-digit codes) at their first sign-in: the page shows a QR code and a key to type."
    )


@demo_cli.command("generate")
@click.option("--students", type=click.IntRange(1, 5_000_000), default=100_000, show_default=True)
@click.option("--schools", type=click.IntRange(1, 10_000), default=150, show_default=True)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="Random seed (the same seed on the same day gives the same district).",
)
def demo_generate(students, schools, seed):
    """Write a large synthetic district (flags, programs, plans, check-ins) for benchmarks."""
    import time

    from school_prevention.demo_generate import analyze, generate_district

    if schools > students:
        raise click.ClickException("--schools cannot exceed --students.")
    started = time.perf_counter()
    try:
        written = generate_district(students, schools, seed=seed)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    analyze()
    click.echo(
        f"Generated in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{n:,} {table}" for table, n in written.items())
    )
    click.echo("Sign in as principal.1@gen.demo.school (or any principal.N, counselor.N.1) with the demo password.")


@export_cli.command("district")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True, help="File to write.")
@click.option(
    "--level",
    help="Only schools of this level (elementary, middle, high, other), or of levels reported together (middle-high).",
)
@click.option(
    "--period",
    "period_key",
    metavar="KEY",
    help="A reporting period: a month (2026-11), a term (2026-27-t1, 2026-27-t2) or a school year "
    "(2026-27-sy); default: the last month that is over.",
)
@click.option(
    "--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day of a whole month, term or school year."
)
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day of the same period.")
def export_district(fmt, out, level, period_key, start, end):
    """One row per school with suppressed counts and shares (docs/exports.md describes the columns)."""
    from school_prevention.db import utcnow
    from school_prevention.exports.district import write_district
    from school_prevention.reports.district import district_report
    from school_prevention.reports.periods import FilterError, choose
    from school_prevention.timezones import district_zone

    now = utcnow()
    try:
        period = choose(period_key, start.date() if start else None, end.date() if end else None, now, district_zone())
        report = district_report(
            period, level or None, current_app.config["SP_SUPPRESSION_MIN_N"], now, table_only=fmt == "csv"
        )
        with open(out, "wb") as fh:
            count = write_district(fh, fmt, report, actor=None)
    except FilterError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Wrote {count} school row(s) and a total row to {out} ({period.label}).")


@scheduler_cli.command("run")
def scheduler_run():
    """Run every registered job on its schedule; a second scheduler waits and runs nothing."""
    import logging

    from flask import current_app

    from school_prevention.scheduler import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run_scheduler(current_app._get_current_object())


@jobs_cli.command("run")
@click.argument("name")
@click.option(
    "--now", "now_text", metavar="ISO8601", help="Run as if it were this time (with a zone, e.g. 2026-11-23T15:00:00Z)."
)
def jobs_run(name, now_text):
    """Run one job once and print what it did."""
    from datetime import datetime

    from flask import current_app

    from school_prevention.scheduler import load_jobs, run_job

    jobs = load_jobs()
    if name not in jobs:
        raise click.ClickException(f"No job named {name!r}. Jobs: {', '.join(sorted(jobs))}.")
    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        except ValueError:
            raise click.ClickException(f"--now must be an ISO 8601 time, not {now_text!r}.") from None
        if now.tzinfo is None:
            raise click.ClickException("--now needs a time zone, e.g. 2026-11-23T15:00:00Z.")
    count = run_job(current_app._get_current_object(), name, now)
    click.echo(f"{name}: {count}")


@jobs_cli.command("list")
def jobs_list():
    """List the registered jobs and their schedules."""
    from school_prevention.scheduler import load_jobs

    for spec in sorted(load_jobs().values(), key=lambda s: s.name):
        schedule = ", ".join(f"{k}={v}" for k, v in spec.trigger_args.items())
        click.echo(f"{spec.name:<28} {spec.trigger}({schedule})  {spec.description}")


@crypto_cli.command("rotate")
def crypto_rotate():
    """Re-encrypt every stored restricted text with the first key of SP_DATA_KEY."""
    from sqlalchemy import select

    from school_prevention import crypto
    from school_prevention.models import RiskFlag  # noqa: F401  (registers every encrypted field)

    total = 0
    for model, attribute in crypto.ENCRYPTED_FIELDS:
        column = getattr(model, attribute)
        for row in db.session.scalars(select(model).where(column.is_not(None))).yield_per(500):
            setattr(row, attribute, crypto.rotate(getattr(row, attribute)))
            total += 1
    db.session.commit()
    click.echo(f"Re-encrypted {total} value(s) with the current key. The old key can now be removed.")


@roster_cli.command("import")
@click.argument("path", type=click.Path(exists=True))
@click.option("--dry-run", is_flag=True, help="Check and report what would change; change nothing.")
@click.option(
    "--allow-mass-deactivation", is_flag=True, help="Allow a bulk file to deactivate more than 5% of active students."
)
def roster_import(path, dry_run, allow_mass_deactivation):
    """Import a OneRoster 1.1 CSV folder or zip; exits 1 when rows were rejected or the import refused."""
    from tqdm import tqdm

    from school_prevention.roster.services import import_roster, start_run

    run = start_run(None, str(path), dry_run=dry_run)
    bar = tqdm(total=0, unit=" rows", desc="Importing", disable=None, file=sys.stderr)

    def progress(done, total, name):
        bar.total = total
        bar.set_description(name)
        bar.update(done - bar.n)

    report = import_roster(
        run.id, path, dry_run=dry_run, allow_mass_deactivation=allow_mass_deactivation, progress=progress
    )
    bar.close()
    click.echo(format_report(report))
    if report.refused or report.rejected:
        sys.exit(1)


@roster_cli.command("work")
def roster_work():
    """Run the queued roster imports now, one at a time (the scheduler does this every few seconds)."""
    from school_prevention.roster.worker import work

    click.echo(f"{work()} import run(s) done.")


def format_report(report) -> str:
    """The import report as text for a terminal or a log."""
    lines = [
        ("DRY RUN: nothing was changed." if report.dry_run else "Import applied.")
        if not report.refused
        else f"REFUSED: {report.refused}"
    ]
    lines.append("Files: " + ", ".join(f"{name} {mode}" for name, mode in report.modes.items()))
    from school_prevention.roster.importer import count_rows

    for label, value in count_rows(report.counts):
        lines.append(f"  {label}: {value:,}")
    lines.extend(report.messages)
    if report.rejected:
        lines.append(f"{len(report.rejected)} rejected row(s):")
        lines.extend(f"  {r['file']} line {r['line']}: {r['reason']}" for r in report.rejected)
    return "\n".join(lines)


audit_cli = AppGroup("audit", help="The audit trail.")


@audit_cli.command("verify")
def audit_verify():
    """Check the audit trail's hash chain; name the first row that was changed, removed or inserted out of order."""
    from school_prevention.audit_chain import verify
    from school_prevention.extensions import db

    checked, finding = verify(db.session)
    if finding is not None:
        raise click.ClickException(f"{finding}. {checked - 1} row(s) before it are intact.")
    click.echo(f"The audit trail is intact: {checked} row(s) checked.")


database_cli = AppGroup("database", help="Database roles (PostgreSQL).")


@database_cli.command("grant-app-role")
@click.argument("role")
def database_grant_app_role(role):
    """Let ROLE (the app's login) read and write rows but own nothing and only append audit rows.

    Run as the tables' owner, after `db upgrade`."""
    from school_prevention.db_roles import grant_app_role
    from school_prevention.extensions import db

    try:
        with db.engine.begin() as connection:
            statements = grant_app_role(connection, role)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Granted {role} what the app needs ({len(statements)} statements); it owns nothing and cannot "
        "change or remove audit rows."
    )


def register(app: Flask) -> None:
    """Add the command groups to app."""
    for group in (
        audit_cli,
        database_cli,
        users_cli,
        demo_cli,
        scheduler_cli,
        jobs_cli,
        crypto_cli,
        roster_cli,
        export_cli,
    ):
        app.cli.add_command(group)
