"""The export worker: claims queued student-level exports one at a time and makes each (queue.make).

It runs in the scheduler process (the exports.work job, every few seconds); several workers may
share the queue, each claim being race-free. An error fails the export with a plain message; the
log names the export's number and the kind of error, never a row of it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from school_prevention.db import utcnow
from school_prevention.exports.queue import BATCH, claim_next, fail, make, worker_name
from school_prevention.extensions import db
from school_prevention.i18n import N_

log = logging.getLogger(__name__)


def work(worker: str | None = None, now: datetime | None = None, batch: int = BATCH) -> int:
    """Make queued exports until none is left to take; returns how many this worker finished."""
    worker = worker or worker_name()
    made = 0
    while (owner := claim_next(worker, now or utcnow())) is not None:
        try:
            if make(owner, batch):
                made += 1
        except Exception as exc:
            db.session.rollback()
            # The error's text can carry a query's parameters (students' identifiers): its kind only.
            log.error("student export #%s stopped with an error (%s)", owner.export_id, type(exc).__name__)
            try:
                # Stored in English, shown in the reader's language (exports/status.html translates it).
                fail(
                    owner,
                    N_(
                        "The export could not be made because of an error on the server. Ask for it again; "
                        "if it fails again, tell whoever runs the server."
                    ),
                )
            except Exception as second:
                db.session.rollback()
                log.error("student export #%s could not be marked failed (%s)", owner.export_id, type(second).__name__)
    return made
