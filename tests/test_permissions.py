"""Every endpoint has a declared policy, and each role gets exactly what DESIGN.md gives it.

The expectations (tests/support/endpoints.py) are written out by hand from DESIGN.md's role table,
not read from the code, so a route that is opened (or closed) by mistake makes this test fail. A new
route makes it fail too until someone adds its line there: that is the point.
"""

from __future__ import annotations

import pytest

from school_prevention import create_app
from school_prevention.config import TestConfig
from school_prevention.permissions import policy_for
from tests.support.endpoints import ALL, EXPECTED, PUBLIC, requests_for
from tests.support.worlds import one_of_everything


@pytest.fixture
def world(db_session):
    return one_of_everything(db_session)


def test_every_endpoint_has_a_declared_policy_and_an_expectation(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    undeclared = sorted(e for e in endpoints if policy_for(app, e) is None)
    assert not undeclared, f"endpoints without a declared policy (add @public, @signed_in or @roles): {undeclared}"
    unexpected = sorted(endpoints - EXPECTED.keys())
    assert not unexpected, f"endpoints missing from tests/support/endpoints.py EXPECTED: {unexpected}"
    stale = sorted(EXPECTED.keys() - endpoints)
    assert not stale, f"EXPECTED lists endpoints that no longer exist: {stale}"


def test_an_endpoint_without_a_policy_is_refused(database_url):
    """Deny by default: a view that forgot its policy answers 403 before anything runs."""
    app = create_app(TestConfig(database_url))

    @app.route("/undeclared")
    def undeclared():  # pragma: no cover - must never run
        return "leaked"

    response = app.test_client().get("/undeclared")
    assert response.status_code == 403
    assert b"leaked" not in response.data


def test_anonymous_is_sent_to_sign_in(app, client, world):
    for endpoint, method, url in requests_for(app, world):
        response = client.open(url, method=method)
        if EXPECTED[endpoint] == PUBLIC:
            assert response.status_code in {200, 302}, (endpoint, response.status_code)
        else:
            assert response.status_code == 302, (endpoint, response.status_code)
            assert response.headers["Location"].startswith("/login"), endpoint


@pytest.mark.parametrize("role", sorted(ALL))
def test_role_matrix(app, login_as, world, role):
    client = app.test_client()
    login_as(world["users"][role], client)
    for endpoint, method, url in requests_for(app, world, role):
        if endpoint in ("auth.logout", "account.sessions_end_all"):
            continue  # signs the client out; covered in test_auth and test_twofactor
        allowed = EXPECTED[endpoint] == PUBLIC or role in EXPECTED[endpoint]
        response = client.open(url, method=method)
        location = response.headers.get("Location", "")
        if allowed:
            assert response.status_code not in {401, 403, 404}, (role, endpoint, response.status_code)
            assert not location.startswith("/login"), (role, endpoint)
        else:
            assert response.status_code == 403, (role, endpoint, response.status_code)


@pytest.mark.parametrize("huge", [2**31, 99999999999999999999])
def test_an_id_too_large_for_the_database_is_not_found_on_every_route(app, login_as, world, huge):
    """Out of the database's integer range, an id in the address is a 404 page, never a database error."""
    client = app.test_client()
    login_as(world["users"]["admin"], client)
    others = {"kind": "flag-categories", "token": "x", "filename": "css/app.css"}
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        url = rule.build({a: huge if f"<int:{a}>" in rule.rule else others[a] for a in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            assert response.status_code == 404, (method, url, response.status_code)
            assert b"Page not found" in response.data, (method, url)
