"""Alembic environment: migrates the app's database with the app's own metadata."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from school_prevention.db import UTCDateTime

config = context.config
if config.config_file_name and not config.attributes.get("quiet"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate_ext = current_app.extensions["migrate"]
target_metadata = migrate_ext.db.metadata


def render_item(type_, obj, autogen_context):
    """Write our UTC timestamp type as a plain timezone-aware DateTime in migration files."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def skip_empty(context_, revision, directives):
    """Do not write an empty revision when autogenerate finds no change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations_online():
    """Run the migrations on the app's engine (or a connection a test hands in)."""
    options = dict(migrate_ext.configure_args)
    options.setdefault("process_revision_directives", skip_empty)
    options.setdefault("render_item", render_item)
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    with migrate_ext.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `flask --app app db upgrade`.")
run_migrations_online()
