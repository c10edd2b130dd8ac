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
    result = runner.invoke(args=["users", "create", "Ana@School.org", "--role", "counselor",
                                 "--name", "Ana Ruiz", "--school", "sch-1"],
                           input="maple orbit lantern 55\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User).where(User.email == "ana@school.org")).one()
    assert user.school_ids == [school.id] and verify_password(user.password_hash, "maple orbit lantern 55")


@pytest.mark.parametrize("args, stdin, message", [
    (["--role", "counselor", "--name", "A", "--school", "nope"], "maple orbit lantern 55\n", "No school with sourcedId nope"),
    (["--role", "admin", "--name", "A"], "password\n", "at least 12 characters"),
    (["--role", "counselor", "--name", "A"], "maple orbit lantern 55\n", "at least one school"),
])
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
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("SP_DATA_KEY", "k" * 44)
    config = ProductionConfig()
    assert config.SESSION_COOKIE_SECURE and config.SQLALCHEMY_DATABASE_URI.startswith("postgresql+psycopg://")


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
