"""Names a reader can follow: every blueprint in a file named after it, every model in a models.py."""

from __future__ import annotations

import pytest

import school_prevention.models
from school_prevention import create_app
from school_prevention.config import TestConfig
from school_prevention.extensions import Model


def named_after(blueprint: str, module: str) -> bool:
    """Whether a module is the blueprint's file: <package>/views.py when the package has the blueprint's
    name, else <package>/<blueprint>_views.py."""
    package, _, file = module.rpartition(".")
    return file == f"{blueprint}_views" or (file == "views" and package.rpartition(".")[2] == blueprint)


def misplaced_views(app) -> list[str]:
    """Blueprints created outside their file, and views outside their blueprint's file.

    A blueprint too large for one file may spread its views over more *_views.py files of its own
    package (auth.signin_views), as long as such a file is not named after another blueprint.
    """
    problems = []
    for name, bp in app.blueprints.items():
        if not named_after(name, bp.import_name):
            problems.append(f"blueprint {name} is created in {bp.import_name}")
    for endpoint, view in app.view_functions.items():
        name, dot, _ = endpoint.partition(".")
        if not dot:
            continue  # static, healthz: the app's own
        module = view.__module__
        home = app.blueprints[name].import_name.rpartition(".")[0]
        part = (
            module.rpartition(".")[0] == home
            and module.endswith("_views")
            and not any(named_after(other, module) for other in app.blueprints)
        )
        if not (named_after(name, module) or part):
            problems.append(f"{endpoint} is defined in {module}")
    return problems


def models_outside_models_py() -> list[str]:
    """Mapped classes defined outside a models.py, or missing from school_prevention.models (Alembic's list)."""
    problems = []
    for mapper in Model.registry.mappers:
        cls = mapper.class_
        if cls.__module__.rpartition(".")[2] != "models":
            problems.append(f"{cls.__name__} is defined in {cls.__module__}")
        if getattr(school_prevention.models, cls.__name__, None) is not cls:
            problems.append(f"{cls.__name__} is not imported by school_prevention.models")
    return problems


@pytest.fixture(scope="module")
def app():
    return create_app(TestConfig("sqlite://"))


def test_every_blueprint_and_view_is_in_a_file_named_after_its_blueprint(app):
    assert misplaced_views(app) == []
    # Spot checks of the rule's two forms, so an empty list is not an empty app.
    assert app.blueprints["schooldays"].import_name == "school_prevention.checkins.schooldays_views"
    assert app.blueprints["programs"].import_name == "school_prevention.programs.views"
    assert app.view_functions["programs.index"].__module__ == "school_prevention.pages.programs.views"


def test_a_blueprint_in_a_file_named_otherwise_is_found(app):
    assert not named_after("schooldays", "school_prevention.checkins.admin_views")
    assert not named_after("catalogue", "school_prevention.admin.catalogue")
    assert not named_after("account", "school_prevention.auth.views")
    assert named_after("mentoring", "school_prevention.programs.mentoring_views")
    assert named_after("home", "school_prevention.pages.home.views")

    def stray():
        """A view of the account blueprint left in the auth blueprint's file."""

    stray.__module__ = "school_prevention.auth.views"
    app.view_functions["account.stray"] = stray
    try:
        assert misplaced_views(app) == ["account.stray is defined in school_prevention.auth.views"]
    finally:
        del app.view_functions["account.stray"]


def test_every_model_is_in_a_models_py_and_known_to_alembic(app):
    assert models_outside_models_py() == []
    assert len(list(Model.registry.mappers)) > 40


def test_a_model_outside_a_models_py_is_found(monkeypatch):
    mapper = next(iter(Model.registry.mappers))
    monkeypatch.setattr(mapper.class_, "__module__", "school_prevention.audit_chain")
    assert models_outside_models_py() == [f"{mapper.class_.__name__} is defined in school_prevention.audit_chain"]
