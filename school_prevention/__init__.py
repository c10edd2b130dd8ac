"""School Prevention Program Manager: the application factory."""

from __future__ import annotations

from flask import Flask

from school_prevention.config import PROJECT_ROOT, Config, config_from_env


def create_app(config: Config | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, commands, hooks."""
    from school_prevention.web import App

    app = App(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    config = config or config_from_env()
    app.config.from_object(config)
    register_extensions(app)
    register_converters(app)
    register_blueprints(app)
    register_hooks(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind the bare extension instances to this app."""
    from school_prevention import models  # noqa: F401  (every model known to SQLAlchemy and Alembic)
    from school_prevention.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    from school_prevention import i18n

    # Flask-Login's own words, translated when flashed (a lazy string would travel in the session cookie).
    login_manager.login_message = i18n.N_("Please log in to access this page.")
    login_manager.localize_callback = i18n.translate

    i18n.init_app(app)
    # Sessions live on the server (auth.sessions); binding them to an IP address would sign
    # counselors out whenever a school laptop moves between wireless access points.
    login_manager.session_protection = "basic"
    if app.config.get("SP_TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["SP_TRUSTED_PROXIES"]
        # Flask's documented way to add WSGI middleware; its stubs declare wsgi_app a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]


def register_converters(app: Flask) -> None:
    """URL converters; set before the blueprints so their routes use them."""
    from school_prevention.web import IdConverter

    app.url_map.converters["int"] = IdConverter


def register_blueprints(app: Flask) -> None:
    """Register every feature's blueprint."""
    from school_prevention.access_record.views import bp as access_record_bp
    from school_prevention.admin.catalogue_views import bp as catalogue_bp
    from school_prevention.admin.views import bp as admin_bp
    from school_prevention.agencies.views import bp as agencies_bp
    from school_prevention.auth.account_views import bp as account_bp
    from school_prevention.auth.views import bp as auth_bp
    from school_prevention.awareness.views import bp as awareness_bp
    from school_prevention.checkins.schooldays_views import bp as schooldays_bp
    from school_prevention.checkins.views import bp as checkins_bp
    from school_prevention.disclosures.views import bp as disclosures_bp
    from school_prevention.exports.views import bp as exports_bp
    from school_prevention.flags.views import bp as flags_bp
    from school_prevention.grants.views import bp as grants_bp
    from school_prevention.notifications.outbox_views import bp as outbox_bp
    from school_prevention.notifications.views import bp as notifications_bp
    from school_prevention.pages.home.views import bp as home_bp

    # Views of a feature's blueprint that compose layers above it live at the page layer (same URLs and
    # endpoints); they add themselves to that blueprint on import, so before it is registered.
    from school_prevention.pages.programs import mentoring_views, views  # noqa: F401
    from school_prevention.pages.students.views import bp as students_bp
    from school_prevention.programs.mentoring_views import bp as mentoring_bp
    from school_prevention.programs.views import bp as programs_bp
    from school_prevention.referrals.views import bp as referrals_bp
    from school_prevention.reports.views import bp as reports_bp
    from school_prevention.roster.views import bp as roster_bp
    from school_prevention.screenings.views import bp as screenings_bp
    from school_prevention.tiers.views import bp as tiers_bp
    from school_prevention.training.views import bp as training_bp

    for bp in (
        auth_bp,
        account_bp,
        home_bp,
        students_bp,
        admin_bp,
        catalogue_bp,
        flags_bp,
        referrals_bp,
        screenings_bp,
        notifications_bp,
        roster_bp,
        programs_bp,
        mentoring_bp,
        checkins_bp,
        schooldays_bp,
        outbox_bp,
        reports_bp,
        exports_bp,
        agencies_bp,
        disclosures_bp,
        training_bp,
        awareness_bp,
        access_record_bp,
        grants_bp,
        tiers_bp,
    ):
        app.register_blueprint(bp)


def register_hooks(app: Flask) -> None:
    """Policy enforcement, security headers, error pages and template helpers."""
    from school_prevention import web

    web.init_app(app)


def register_commands(app: Flask) -> None:
    """Command groups of DESIGN.md (db comes from Flask-Migrate)."""
    from school_prevention.cli import register

    register(app)
