"""The command line of DESIGN.md, and configuration that refuses to start unsafely."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from school_prevention.auth.models import User
from school_prevention.auth.passwords import verify_password
from school_prevention.config import ConfigError, ProductionConfig
from school_prevention.extensions import db
from school_prevention.students.models import Student
from tests.factories import make_school


def test_users_create_reads_the_password_from_stdin(app, db_session):
    school = make_school(sourced_id="sch-1")
    db_session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "Ana@School.org", "--role", "counselor", "--name", "Ana Ruiz", "--school", "sch-1"],
        input="maple orbit lantern 55\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User).where(User.email == "ana@school.org")).one()
    assert user.school_ids == [school.id] and verify_password(user.password_hash, "maple orbit lantern 55")


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (
            ["--role", "counselor", "--name", "A", "--school", "nope"],
            "maple orbit lantern 55\n",
            "No school with sourcedId nope",
        ),
        (["--role", "admin", "--name", "A"], "password\n", "at least 12 characters"),
        (["--role", "counselor", "--name", "A"], "maple orbit lantern 55\n", "at least one school"),
    ],
)
def test_users_create_refuses_bad_input(app, db_session, args, stdin, message):
    result = app.test_cli_runner().invoke(args=["users", "create", "x@school.org", *args], input=stdin)
    assert result.exit_code != 0 and message in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_demo_seed_makes_a_district_with_one_user_per_role(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "SP_BASE_URL", "http://127.0.0.1:5077/")  # bin/run sets it from PORT
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "Sign in at http://127.0.0.1:5077/login" in result.output
    assert "counselor@demo.school" in result.output and "lantern-harbor-meadow-42" in result.output
    roles = set(db.session.scalars(select(User.role)))
    assert roles == {"staff", "counselor", "principal", "district", "admin"}
    assert db.session.scalar(select(func.count()).select_from(Student)) == 600
    again = app.test_cli_runner().invoke(args=["demo", "seed", "--if-empty"])
    assert "not added" in again.output
    assert db.session.scalar(select(func.count()).select_from(Student)) == 600


def test_production_refuses_to_start_without_secrets(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/sp")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SP_DATA_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY and SP_DATA_KEY"):
        ProductionConfig()
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("SP_DATA_KEY", STRONG_DATA_KEY)
    config = ProductionConfig()
    assert config.SESSION_COOKIE_SECURE and config.SQLALCHEMY_DATABASE_URI.startswith("postgresql+psycopg://")


STRONG_SECRET = "q7Vd-2mXr_9KpLz4Tw8Ye1Nc6Hs0Gb3Ju5Fa"  # as secrets.token_urlsafe makes them
STRONG_DATA_KEY = "Ab1_9fKxLd2Qm0s3cYt7rTWtqGZbq3o8Gq0vW3m1JZk="


@pytest.mark.parametrize(
    "name, value, says",
    [
        ("SECRET_KEY", "x", "weak SECRET_KEY"),
        ("SECRET_KEY", "x" * 40, "weak SECRET_KEY"),
        ("SECRET_KEY", "correct horse battery staple", "weak SECRET_KEY"),
        ("SECRET_KEY", "abcabcabcabcabcabcabcabcabcabcabcabc", "weak SECRET_KEY"),
        ("SP_AUDIT_KEY", "audit-key", "weak SP_AUDIT_KEY"),
        ("SP_DATA_KEY", "k" * 44, "not a random Fernet key"),
        ("SP_DATA_KEY", "not-base64!", "not a random Fernet key"),
    ],
)
def test_production_refuses_weak_secrets(monkeypatch, name, value, says):
    for key, good in {
        "DATABASE_URL": "postgresql://db/sp",
        "SECRET_KEY": STRONG_SECRET,
        "SP_DATA_KEY": STRONG_DATA_KEY,
    }.items():
        monkeypatch.setenv(key, good)
    monkeypatch.delenv("SP_AUDIT_KEY", raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=says):
        ProductionConfig()


def test_instance_folder_is_owner_only(monkeypatch, tmp_path):
    import school_prevention.config as config_module

    folder = tmp_path / "instance"
    monkeypatch.setattr(config_module, "INSTANCE_DIR", folder)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    config_module.Config()
    assert folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o755)
    for key, good in {
        "DATABASE_URL": "postgresql://db/sp",
        "SECRET_KEY": STRONG_SECRET,
        "SP_DATA_KEY": STRONG_DATA_KEY,
    }.items():
        monkeypatch.setenv(key, good)
    config_module.ProductionConfig()
    assert folder.stat().st_mode & 0o777 == 0o700


def test_development_generates_secrets_into_instance(monkeypatch, tmp_path):
    import school_prevention.config as config_module

    monkeypatch.setattr(config_module, "INSTANCE_DIR", tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SP_DATA_KEY", raising=False)
    first = config_module.Config()
    second = config_module.Config()
    assert first.SECRET_KEY == second.SECRET_KEY and len(first.SECRET_KEY) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data_key").exists()


@pytest.mark.parametrize(
    "env, refused",
    [
        ({"WEB_CONCURRENCY": "4"}, True),
        ({"SP_APP_SERVERS": "2"}, True),
        ({"WEB_CONCURRENCY": "4", "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379"}, False),
        ({"WEB_CONCURRENCY": "1", "SP_APP_SERVERS": "1"}, False),
        ({}, False),
    ],
)
def test_production_refuses_sign_in_limits_in_memory_with_several_processes(monkeypatch, env, refused):
    for name, value in {
        "DATABASE_URL": "postgresql://db/sp",
        "SECRET_KEY": STRONG_SECRET,
        "SP_DATA_KEY": STRONG_DATA_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("WEB_CONCURRENCY", "SP_APP_SERVERS", "RATELIMIT_STORAGE_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if refused:
        with pytest.raises(ConfigError, match=r"RATELIMIT_STORAGE_URI=memory://.*redis://"):
            ProductionConfig()
    else:
        assert env.get("RATELIMIT_STORAGE_URI", "memory://") == ProductionConfig().RATELIMIT_STORAGE_URI


def test_gunicorn_tells_the_app_how_many_workers_serve(monkeypatch):
    """gunicorn.conf.py exports the worker count it really runs with (a -w flag included) before the app loads."""
    import os
    import runpy
    from types import SimpleNamespace

    from school_prevention.config import PROJECT_ROOT

    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    settings = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    assert settings["logger_class"] == "school_prevention.access_log.ScrubbingLogger"
    assert settings["accesslog"] == settings["errorlog"] == "-" and settings["workers"] == 1
    settings["post_fork"](SimpleNamespace(cfg=SimpleNamespace(workers=3)), None)
    assert os.environ["WEB_CONCURRENCY"] == "3"
