"""The audit trail is tamper-evident: `audit verify` names the first row changed, removed, replaced
or inserted out of order, even by someone who gets around the append-only triggers, and the rows
removed from a chain's end (each chain's sealed head)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from school_prevention import audit
from school_prevention.audit_chain import LANE, verify
from school_prevention.extensions import db
from tests.factories import make_user


@pytest.fixture
def trail(db_session):
    """Five committed audit rows; returns their ids in order."""
    user = make_user("counselor")
    for n in range(5):
        audit.record("student.view", actor=user, detail={"n": n})
    db_session.commit()
    ids = db_session.scalars(text("SELECT id FROM audit_event ORDER BY id")).all()
    return ids[-5:]


def _unguarded(db_session, statement: str, table: str = "audit_event", **params) -> None:
    """Run statement as someone who can lift the table's guard (the table's owner)."""
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        db_session.execute(text(statement), params)
        db_session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    else:
        triggers = db_session.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table"), {"table": table}
        ).all()
        for name, _ in triggers:
            db_session.execute(text(f"DROP TRIGGER {name}"))
        db_session.execute(text(statement), params)
        for _, sql in triggers:
            db_session.execute(text(sql))


def test_an_untouched_trail_verifies(db_session, trail):
    checked, finding = verify(db_session)
    assert finding is None and checked >= 5


def test_an_edited_row_is_named(db_session, trail):
    _unguarded(db_session, "UPDATE audit_event SET action = 'nothing.to.see' WHERE id = :id", id=trail[2])
    _, finding = verify(db_session)
    assert finding is not None and finding.row_id == trail[2] and "changed" in finding.problem


def test_a_removed_row_is_found_at_the_next_one(db_session, trail):
    _unguarded(db_session, "DELETE FROM audit_event WHERE id = :id", id=trail[1])
    _, finding = verify(db_session)
    assert finding is not None and finding.row_id == trail[2] and "missing or out of order" in finding.problem


def test_a_row_inserted_out_of_order_is_named(db_session, trail):
    # A copy of the last row's seal placed between two earlier rows: its predecessor is not the one it names.
    row = db_session.execute(text("SELECT * FROM audit_event WHERE id = :id"), {"id": trail[4]}).mappings().one()
    _unguarded(db_session, "DELETE FROM audit_event WHERE id = :id", id=trail[2])
    values = {k: v for k, v in row.items() if k != "detail"}
    values["id"] = trail[2]
    db_session.execute(
        text(f"INSERT INTO audit_event ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})"), values
    )
    _, finding = verify(db_session)
    assert finding is not None and finding.row_id == trail[2]


def test_a_row_written_outside_the_app_has_no_seal(db_session, trail):
    db_session.execute(text("INSERT INTO audit_event (at, action) VALUES (CURRENT_TIMESTAMP, 'forged')"))
    _, finding = verify(db_session)
    assert finding is not None and "no seal" in finding.problem


def _chain_of(db_session, row_id: int) -> int:
    return db_session.scalar(text("SELECT chain FROM audit_event WHERE id = :id"), {"id": row_id})


def test_a_removed_last_row_is_named_by_the_chains_head(db_session, trail):
    chain = _chain_of(db_session, trail[4])
    _unguarded(db_session, "DELETE FROM audit_event WHERE id = :id", id=trail[4])
    _, finding = verify(db_session)
    assert finding is not None and finding.row_id == trail[4]
    assert finding.problem == (
        f"the last 1 row(s) of chain {chain} are missing after row {trail[3]}: the chain ended at row {trail[4]}"
    )


@pytest.mark.parametrize("k", [2, 5])
def test_the_last_rows_removed_are_counted(db_session, trail, k):
    chain = _chain_of(db_session, trail[4])
    before = db_session.scalar(text("SELECT count(*) FROM audit_event WHERE chain = :c"), {"c": chain})
    _unguarded(db_session, "DELETE FROM audit_event WHERE id >= :id", id=trail[5 - k])
    _, finding = verify(db_session)
    assert finding is not None and finding.row_id == trail[4]
    assert f"the last {k} row(s) of chain {chain} are missing" in finding.problem
    assert ("(it has no rows left)" in finding.problem) == (before == k)


def test_a_removed_last_row_is_still_named_after_the_app_writes_on(db_session, trail):
    """The next row follows the head's seal, not the row the table now ends with: the gap shows there."""
    chain = _chain_of(db_session, trail[4])
    _unguarded(db_session, "DELETE FROM audit_event WHERE id = :id", id=trail[4])
    db_session.info[LANE] = chain  # the next transaction seals on the same chain (on PostgreSQL it picks one)
    audit.record("student.view", actor=None, detail={"n": "after"})
    db_session.commit()
    after = db_session.scalar(text("SELECT max(id) FROM audit_event"))
    _, finding = verify(db_session)
    assert finding is not None and finding.row_id == after and "missing or out of order" in finding.problem


def test_a_replaced_last_row_is_named(db_session, trail):
    row = db_session.execute(text("SELECT * FROM audit_event WHERE id = :id"), {"id": trail[3]}).mappings().one()
    _unguarded(db_session, "DELETE FROM audit_event WHERE id = :id", id=trail[4])
    values = {k: v for k, v in row.items() if k != "detail"}
    values["id"] = trail[4]
    db_session.execute(
        text(f"INSERT INTO audit_event ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})"), values
    )
    _, finding = verify(db_session)
    assert finding is not None and finding.row_id == trail[4]


def test_a_head_moved_back_over_removed_rows_is_named(db_session, trail):
    """Whoever removes the last row and points the head at the row before it cannot seal the head."""
    chain = _chain_of(db_session, trail[4])
    last = db_session.execute(text("SELECT id, row_hash FROM audit_event WHERE id = :id"), {"id": trail[3]}).one()
    _unguarded(db_session, "DELETE FROM audit_event WHERE id = :id", id=trail[4])
    _unguarded(
        db_session,
        "UPDATE audit_chain_head SET row_count = row_count - 1, last_id = :id, last_hash = :h WHERE chain = :c",
        table="audit_chain_head",
        id=last.id,
        h=last.row_hash,
        c=chain,
    )
    _, finding = verify(db_session)
    assert finding is not None and finding.problem == f"the head of chain {chain} was changed after it was written"


def test_a_removed_head_is_named(db_session, trail):
    chain = _chain_of(db_session, trail[4])
    _unguarded(db_session, "DELETE FROM audit_event WHERE id = :id", id=trail[4])
    _unguarded(db_session, "DELETE FROM audit_chain_head WHERE chain = :c", table="audit_chain_head", c=chain)
    _, finding = verify(db_session)
    assert finding is not None and finding.problem.startswith(f"chain {chain} has no head")


def test_rows_of_a_savepoint_rolled_back_leave_the_head_where_it_was(db_session, trail):
    with pytest.raises(RuntimeError):
        with db_session.begin_nested():
            audit.record("student.view", actor=None, detail={"n": "undone"})
            db_session.flush()
            raise RuntimeError("refused")
    audit.record("student.view", actor=None, detail={"n": "kept"})
    db_session.commit()
    checked, finding = verify(db_session)
    assert finding is None and checked >= 6


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_chain_head SET row_count = row_count - 1",
        "UPDATE audit_chain_head SET last_hash = 'x'",
        "DELETE FROM audit_chain_head",
    ],
)
def test_a_head_only_advances(db_session, trail, statement):
    with pytest.raises(DBAPIError, match="only advances"):
        with db_session.begin_nested():
            db_session.execute(text(statement))
    assert verify(db_session)[1] is None


def test_sqlite_refuses_insert_or_replace_of_a_head(db_session, backend, trail):
    if backend != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's")
    chain = _chain_of(db_session, trail[4])
    with pytest.raises(DBAPIError, match="only advances"):
        with db_session.begin_nested():
            db_session.execute(
                text(
                    "INSERT OR REPLACE INTO audit_chain_head (chain, row_count, last_id, last_hash, seal) "
                    "VALUES (:c, 1, 1, 'x', 'x')"
                ),
                {"c": chain},
            )


def test_sqlite_refuses_insert_or_replace_of_an_existing_row(db_session, backend, trail):
    if backend != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's; on PostgreSQL an upsert is an UPDATE, refused by its trigger")
    with pytest.raises(DBAPIError, match="append-only"):
        with db_session.begin_nested():
            db_session.execute(
                text(
                    "INSERT OR REPLACE INTO audit_event (id, at, action) VALUES (:id, CURRENT_TIMESTAMP, 'rewritten')"
                ),
                {"id": trail[0]},
            )
    assert db_session.scalar(text("SELECT action FROM audit_event WHERE id = :id"), {"id": trail[0]}) == "student.view"


def test_postgresql_refuses_an_upsert_of_an_existing_row(db_session, backend, trail):
    if backend != "postgresql":
        pytest.skip("ON CONFLICT DO UPDATE as PostgreSQL writes it")
    with pytest.raises(DBAPIError, match="append-only"):
        with db_session.begin_nested():
            db_session.execute(
                text(
                    "INSERT INTO audit_event (id, at, action) VALUES (:id, now(), 'rewritten') "
                    "ON CONFLICT (id) DO UPDATE SET action = 'rewritten'"
                ),
                {"id": trail[0]},
            )


def test_rows_written_by_requests_at_once_stay_in_one_chain(race_app):
    """Eight page views committed at the same moment (each its own connection) seal one chain."""
    from tests.factories import make_school, make_student
    from tests.support.concurrency import fire_together

    with race_app.app_context():
        school = make_school()
        counselor = make_user("counselor", schools=[school])
        student = make_student(school)
        db.session.commit()
        ids = (counselor.id, student.id)
    answers = fire_together(race_app, ids[0], "GET", f"/students/{ids[1]}")
    assert [a.status for a in answers] == [200] * len(answers)
    with race_app.app_context():
        checked, finding = verify(db.session)
    assert finding is None and checked >= len(answers)


def test_the_nightly_check_alerts_admins_and_the_district(app, db_session, trail):
    from school_prevention.audit_chain import JOBS_NAME
    from school_prevention.scheduler import load_jobs

    admin, district = make_user("admin"), make_user("district")
    make_user("counselor")
    db_session.commit()
    _unguarded(db_session, "UPDATE audit_event SET detail = NULL WHERE id = :id", id=trail[3])
    load_jobs()[JOBS_NAME].func(audit.utcnow())
    told = db_session.execute(text("SELECT user_id, channel FROM notification WHERE kind = 'audit.broken'")).all()
    assert sorted(told) == sorted(
        [(admin.id, "in_app"), (admin.id, "email"), (district.id, "in_app"), (district.id, "email")]
    )


def test_audit_verify_command_names_the_row(app, db_session, trail):
    _unguarded(db_session, "UPDATE audit_event SET ip = '10.9.9.9' WHERE id = :id", id=trail[0])
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code != 0 and f"audit row {trail[0]}" in result.output


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM audit_chain_head",
        "TRUNCATE audit_chain_head",
        "UPDATE audit_chain_head SET row_count = 0",
        "ALTER TABLE audit_chain_head DISABLE TRIGGER USER",
    ],
)
def test_the_app_role_cannot_move_a_head_back(app_role, statement):
    with app_role.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_chain_head (chain, row_count, last_id, last_hash, seal) VALUES (99, 5, 5, 'x', 'x')"
            )
        )  # rolled back when the connection closes
        with pytest.raises(DBAPIError) as refused:
            conn.execute(text(statement))
        assert any(words in str(refused.value) for words in ("permission denied", "must be owner", "only advances"))


def test_the_app_role_can_advance_a_head(app_role):
    with app_role.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_chain_head (chain, row_count, last_id, last_hash, seal) VALUES (99, 5, 5, 'x', 'x')"
            )
        )
        conn.execute(text("UPDATE audit_chain_head SET row_count = 6, last_id = 6 WHERE chain = 99"))
        conn.rollback()


def test_the_nightly_check_logs_each_chains_head(app, db_session, trail, caplog):
    from school_prevention.audit_chain import JOBS_NAME
    from school_prevention.scheduler import load_jobs

    chain = _chain_of(db_session, trail[4])
    count = db_session.scalar(text("SELECT count(*) FROM audit_event WHERE chain = :c"), {"c": chain})
    with caplog.at_level("INFO", logger=app.logger.name):
        load_jobs()[JOBS_NAME].func(audit.utcnow())
    assert f" {chain}:{count}:{trail[4]}:" in " " + caplog.text.split("heads ", 1)[1]
