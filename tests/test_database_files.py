"""The SQLite database holds children's records: only the app's own user may read its files."""

from __future__ import annotations

import os
import stat

import sqlalchemy as sa

import school_prevention.db  # noqa: F401  (its connect listener sets the pragmas and the mode)


def test_a_new_sqlite_database_and_its_journal_are_owner_only(tmp_path):
    path = tmp_path / "school.db"
    path.touch(mode=0o644)  # as a umask of 022 would leave a new file
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    with engine.connect() as conn:  # the next connection finds the write-ahead log too
        conn.execute(sa.text("SELECT 1"))
    engine.dispose()
    for name in ("school.db", "school.db-wal"):
        if (tmp_path / name).exists():
            assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name


def test_sqlite_commits_wait_for_the_disk(tmp_path):
    """A configuration check, not a behaviour test: with WAL, synchronous=NORMAL loses the last
    acknowledged commits only on power loss or an operating-system crash, which a test cannot cause
    (a killed process loses nothing either way), so the setting itself is what can be checked."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'school.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 2  # FULL: nothing acknowledged is lost
    engine.dispose()
