"""Identical requests released together, each on its own thread and database connection.

A double click, two tabs, or two counselors acting on one record at the same moment: the database
must let exactly one of them have its effect (a conditional UPDATE, a row lock, a unique index).
Use with the race_app fixture (its own committed database, on SQLite and on PostgreSQL):

    responses = fire_together(race_app, counselor_id, "POST", f"/referrals/{rid}/accept", data, n=8)
    assert_one_effect(responses)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from school_prevention.auth import sessions
from school_prevention.auth.models import User
from school_prevention.extensions import db

N = 8  # requests released together; the pool of race_app holds more connections than this


@dataclass
class Answer:
    """What one of the concurrent requests got back."""

    status: int
    location: str | None
    text: str


def signed_in_clients(app, user_id: int, n: int) -> list:
    """n clients of app signed in as the user, each with a server-side session of its own."""
    clients = []
    with app.app_context():
        user = db.session.get(User, user_id)
        tokens = [sessions.start_session(user, ip="127.0.0.1", user_agent=f"race-{i}") for i in range(n)]
        db.session.commit()
    for token in tokens:
        client = app.test_client()
        with client.session_transaction() as cookie:
            cookie["sid"], cookie["_user_id"], cookie["_fresh"] = token, str(user_id), True
        clients.append(client)
    return clients


def fire_together(
    app, user_ids: int | list[int], method: str, url: str, data: dict | None = None, n: int = N
) -> list[Answer]:
    """n identical requests (by one user, or one each by several users) released at the same moment."""
    ids = user_ids if isinstance(user_ids, list) else [user_ids] * n
    return fire_each(app, [(uid, method, url, data) for uid in ids])


def fire_each(app, requests: list[tuple[int, str, str, dict | None]], jobs: tuple = ()) -> list[Answer]:
    """Different requests, each (user id, method, url, data), released at the same moment, each on its own
    thread and database connection (fire_together sends one request n times); jobs: functions run at
    the same moment in their own app context and committed, as the scheduler runs them."""
    clients = [signed_in_clients(app, user_id, 1)[0] for user_id, *_ in requests]
    barrier = threading.Barrier(len(requests) + len(jobs))
    answers: list[Answer | None] = [None] * len(requests)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        _, method, url, data = requests[i]
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                response = clients[i].open(url, method=method, data=data)
                answers[i] = Answer(
                    response.status_code, response.headers.get("Location"), response.get_data(as_text=True)
                )
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    def run(job) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                job()
                db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))] + [
        threading.Thread(target=run, args=(job,)) for job in jobs
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert all(a is not None for a in answers), "a request did not finish"
    return answers  # type: ignore[return-value]


def assert_one_effect(
    answers: list[Answer],
    *,
    done: tuple[int, ...] = (302, 303),
    refused: tuple[int, ...] = (409,),
    says: str | None = None,
) -> Answer:
    """Exactly one request did it; every other one was refused with a clear message; no 5xx.
    says: words every refusal must contain (for example "already accepted")."""
    statuses = sorted(a.status for a in answers)
    assert all(s < 500 for s in statuses), [a.text[:400] for a in answers if a.status >= 500]
    winners = [a for a in answers if a.status in done]
    assert len(winners) == 1, statuses
    losers = [a for a in answers if a is not winners[0]]
    assert all(a.status in refused for a in losers), statuses
    if says:
        for a in losers:
            assert says.lower() in a.text.lower(), a.text[:600]
    return winners[0]
