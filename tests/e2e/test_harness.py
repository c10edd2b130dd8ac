"""The accessibility guard itself: it must fail on a page a screen-reader user could not use."""

from __future__ import annotations

import pytest


def test_axe_guard_fails_on_serious_violations(journey):
    journey.page.set_content("<html><body><img src='x.png'><input type='text'></body></html>")
    with pytest.raises(pytest.fail.Exception, match="image-alt"):
        journey.axe()


def test_unchecked_pages_are_reported(journey, live_server):
    journey.page.goto("/login")
    assert journey.unchecked() == [f"{live_server.url}/login"]
    journey.axe()
    assert journey.unchecked() == []
