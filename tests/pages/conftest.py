"""The caseload fixture the student list's and the home pages' tests share."""

from __future__ import annotations

import pytest

from tests.support.worlds import caseload_district


@pytest.fixture
def caseload(db_session):
    """One school's students each in a different situation, and one of another school (committed)."""
    return caseload_district(db_session)
