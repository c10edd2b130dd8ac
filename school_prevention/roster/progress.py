"""Progress of imports running in this process, for the admin page to poll.

Kept in memory because an import is one database transaction: on SQLite nothing else may write
while it runs, so progress cannot go through the database. A page served by another worker
process shows "running" without the figures until the report is stored.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
_progress: dict[int, dict] = {}


def update(run_id: int, done: int, total: int, current: str) -> None:
    with _lock:
        _progress[run_id] = {"done": done, "total": total, "current": current}


def get(run_id: int) -> dict | None:
    with _lock:
        return dict(_progress[run_id]) if run_id in _progress else None


def forget(run_id: int) -> None:
    with _lock:
        _progress.pop(run_id, None)
