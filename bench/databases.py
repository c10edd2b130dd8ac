"""A throwaway database for a benchmark run: a SQLite file, or a new PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

PG_ADMIN = os.environ.get("SP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def new_database(backend: str, tmp: Path) -> str:
    """The URL of an empty database: a file under tmp for SQLite, CREATE DATABASE for PostgreSQL."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
    import sqlalchemy as sa

    name = f"sp_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a PostgreSQL database made by new_database (a SQLite file goes with its folder)."""
    if url.startswith("sqlite"):
        return
    import sqlalchemy as sa

    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)'))
    engine.dispose()
