"""Awareness pages: safe Markdown, per-role audience, versions, "I have read this", who has not read."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from school_prevention.awareness.models import AwarenessConfirmation, AwarenessPageVersion
from school_prevention.awareness.render import render_markdown
from school_prevention.awareness.services import confirm_read, save_page
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db
from tests.factories import make_school, make_user

SCHOOL_ROLES = ["staff", "counselor", "principal"]


@pytest.fixture
def world(db_session):
    north, south = make_school(name="North"), make_school(name="South")
    people = {
        "admin": make_user("admin", name="Ada Admin"),
        "principal": make_user("principal", schools=[north], name="Pia Principal"),
        "staff": make_user("staff", schools=[north], name="Sam Staff"),
        "staff2": make_user("staff", schools=[north], name="Tess Teacher"),
        "counselor": make_user("counselor", schools=[north], name="Cam Counselor"),
        "south_staff": make_user("staff", schools=[south], name="Sol South"),
        "district": make_user("district"),
    }
    pages = {
        "signs": save_page(
            people["admin"], None, title="Signs to watch for", body="## Signs\n- New phone", audience=SCHOOL_ROLES
        ),
        "screening": save_page(
            people["admin"], None, title="Screening with the CSE-IT", body="Counselors only.", audience=["counselor"]
        ),
    }
    db_session.commit()
    return {"north": north, **people, **pages}


def test_markdown_is_rendered_without_raw_html_or_script_links(app):
    with app.test_request_context():
        html = str(
            render_markdown(
                "## Hi\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
                "[bad](javascript:alert(1)) [good](https://example.org) ![pic](https://evil.example/x.png)\n\n"
                "| a | b |\n|---|---|\n| 1 | 2 |\n\nCall {hotline} or {child_welfare}."
            )
        )
        assert "<h2>Hi</h2>" in html
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "<img" not in html and "onerror" not in html.replace("&lt;img src=x onerror=alert(1)&gt;", "")
        assert 'href="javascript' not in html and '<a href="https://example.org">good</a>' in html
        assert "<table>" in html
        assert f"Call {app.config['SP_HOTLINE_NUMBER']} or {app.config['SP_CHILD_WELFARE_NUMBER']}." in html


def test_a_change_of_text_is_a_new_version_and_nothing_else_is(world):
    page = world["signs"]
    assert page.version == 1
    save_page(world["admin"], page, title=page.title, body=page.body + "\n- Older boyfriend", audience=SCHOOL_ROLES)
    assert page.version == 2
    save_page(world["admin"], page, title=page.title, body=page.body, audience=[*SCHOOL_ROLES, "district"])
    assert page.version == 2 and "district" in page.roles
    versions = db.session.scalars(
        select(AwarenessPageVersion.version).where(AwarenessPageVersion.page_id == page.id)
    ).all()
    assert sorted(versions) == [1, 2]
    with pytest.raises(AlreadyDone, match="already saved with this text by Ada Admin"):
        save_page(world["admin"], page, title=page.title, body=page.body, audience=page.roles)
    with pytest.raises(ServiceError, match="already a page with this title"):
        save_page(world["admin"], None, title="signs to watch FOR", body="Other", audience=["staff"])
    with pytest.raises(ServiceError, match="at least one role"):
        save_page(world["admin"], None, title="New", body="Text", audience=[])


def test_each_role_sees_only_its_pages(world, client, login_as):
    login_as(world["staff"])
    index = client.get("/awareness").get_data(as_text=True)
    assert "Signs to watch for" in index and "Screening with the CSE-IT" not in index
    assert client.get(f"/awareness/{world['screening'].id}").status_code == 404
    login_as(world["counselor"])
    assert client.get(f"/awareness/{world['screening'].id}").status_code == 200
    login_as(world["district"])
    assert client.get(f"/awareness/{world['signs'].id}").status_code == 404
    save_page(
        world["admin"],
        world["signs"],
        title="Signs to watch for",
        body=world["signs"].body,
        audience=SCHOOL_ROLES,
        is_published=False,
    )
    db.session.commit()
    login_as(world["staff"])
    assert client.get(f"/awareness/{world['signs'].id}").status_code == 404
    login_as(world["admin"])
    assert client.get(f"/awareness/{world['signs'].id}").status_code == 200  # the admin sees drafts


def test_staff_confirm_a_page_once_and_again_when_it_changes(world, client, login_as):
    page = world["signs"]
    login_as(world["staff"])
    shown = client.get(f"/awareness/{page.id}").get_data(as_text=True)
    assert "I have read this" in shown and "<h2>Signs</h2>" in shown
    for odd in ("²", "١", " ", "1" * 40):  # not plain ASCII digits, or too long: refused, nothing saved
        assert client.post(f"/awareness/{page.id}/confirm", data={"version": odd}).status_code == 400
    response = client.post(f"/awareness/{page.id}/confirm", data={"version": "1"})
    assert response.status_code == 302
    assert "You confirmed that you read this version" in client.get(f"/awareness/{page.id}").get_data(as_text=True)
    again = client.post(f"/awareness/{page.id}/confirm", data={"version": "1"})
    assert again.status_code == 409 and "You already confirmed" in again.get_data(as_text=True)
    save_page(world["admin"], page, title=page.title, body=page.body + "\n- Hotel key cards", audience=SCHOOL_ROLES)
    db.session.commit()
    assert "Changed: read again" in client.get("/awareness").get_data(as_text=True)
    stale = client.post(f"/awareness/{page.id}/confirm", data={"version": "1"}, follow_redirects=True)
    assert "The page was changed while you were reading it" in stale.get_data(as_text=True)
    assert client.post(f"/awareness/{page.id}/confirm", data={"version": "2"}).status_code == 302
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AwarenessConfirmation)
            .where(AwarenessConfirmation.user_id == world["staff"].id)
        )
        == 2
    )
    assert client.post(f"/awareness/{page.id}/confirm", data={}).status_code == 400
    assert client.post(f"/awareness/{world['screening'].id}/confirm", data={"version": "1"}).status_code == 404


def test_principal_sees_who_on_staff_has_not_confirmed(world, client, login_as):
    confirm_read(world["staff"], world["signs"], 1)
    db.session.commit()
    login_as(world["principal"])
    page = client.get("/awareness/readers").get_data(as_text=True)
    section = page[page.index('id="people-h"') :]
    assert "Tess Teacher" in section and "Cam Counselor" in section and "Pia Principal" in section
    assert "Sam Staff" not in section and "Sol South" not in section
    assert "Screening with the CSE-IT" in section  # the counselor's own page


def test_the_admin_writes_a_page(world, client, login_as):
    login_as(world["admin"])
    response = client.post(
        "/awareness/new",
        data={
            "title": "Whom to call",
            "body": "Call **911**.",
            "audience": ["staff", "counselor"],
            "position": "5",
            "is_published": "y",
        },
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<strong>911</strong>" in page and "Version 1" in page
    missing = client.post("/awareness/new", data={"title": "", "body": "", "audience": []})
    assert missing.status_code == 400 and "Give the page a title." in missing.get_data(as_text=True)
    assert "Choose at least one role" in missing.get_data(as_text=True)


def test_staff_home_links_the_pages_and_the_numbers(world, client, login_as, app):
    login_as(world["staff"])
    home = client.get("/").get_data(as_text=True)
    assert "Signs to watch for" in home and "1 page to read and confirm" in home
    assert app.config["SP_HOTLINE_NUMBER"] in home and app.config["SP_CHILD_WELFARE_NUMBER"] in home
    assert "call the state child abuse hotline as well" not in home  # the old one-line text is gone
