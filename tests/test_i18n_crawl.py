"""The app in Spanish, page by page: every role, with Spanish chosen, opens every GET route of app.url_map
(the permissions world's objects fill the URLs) and no page may still read as English.

"Reads as English" is tests/test_i18n.english_left: a line with an English-only word ("the", "save",
"student"...) once the records' own words are taken out. The records' words are every text the
database holds (names of students, schools, programs, categories, courses: data in the district's words,
not interface text), so a page fails only for words the app itself wrote.
"""

from __future__ import annotations

import pytest

from tests.support.endpoints import ALL, requests_for
from tests.support.pages import english_left, records_words
from tests.support.worlds import one_of_everything

# Answers that are not pages for a reader: files, feeds and machine formats.
NOT_PAGES = {"static"}


@pytest.fixture
def world(db_session):
    """One of everything a route names (tests/support/worlds.py)."""
    return one_of_everything(db_session)


@pytest.mark.parametrize("role", sorted(ALL))
def test_no_page_reads_as_english_for_someone_who_chose_spanish(app, login_as, world, db_session, role):
    user = world["users"][role]
    user.locale = "es"
    db_session.commit()
    client = app.test_client()
    login_as(user, client)
    data = records_words()
    problems, pages = [], 0
    for endpoint, method, url in requests_for(app, world, role):
        if method != "GET" or endpoint in NOT_PAGES:
            continue
        response = client.get(url, headers={"Accept-Language": "en"})  # her choice beats the browser's
        if response.status_code >= 300 or response.mimetype != "text/html":
            continue
        pages += 1
        html = response.get_data(as_text=True)
        if '<html lang="es">' not in html:
            problems.append(f"{url} ({endpoint}): not marked lang=es")
        if left := english_left(html, data):
            problems.append(f"{url} ({endpoint}): {left[:6]}")
    assert pages > 5, f"the crawl as {role} opened only {pages} pages"
    assert not problems, f"{len(problems)} pages still read as English for a {role}:\n" + "\n".join(problems)
