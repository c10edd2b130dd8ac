"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the email tests.

Besides accepting, it can answer like real relays do: refuse a recipient (550), greylist (451 to
the first try of each recipient, then accept), answer RCPT or DATA with a reply of a test's
choosing, and run a test's hook before it accepts each message (in a worker thread, so a hook may
block on an event while the server goes on serving other connections): a slow relay.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)
SUBJECT = re.compile(rb"^Subject:\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _header(pattern: re.Pattern, data: bytes) -> str:
    found = pattern.search(data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n"))
    return found.group(1).decode() if found else ""


class Sink:
    """Collects every message accepted; refuses recipients listed in `refuse`.

    greylist: answer 451 to each recipient's first RCPT. rcpt_replies: a reply per recipient
    ("452 4.2.2 Mailbox full"). data_reply: the reply to every DATA instead of accepting it.
    before_accept(content): run (in a thread) when a message's data has arrived, before 250.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.raw: list[bytes] = []
        self.refuse: set[str] = set()
        self.greylist = False
        self.greylisted: list[str] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply: str | None = None
        self.before_accept: Callable[[bytes], None] | None = None
        self._lock = threading.Condition()
        self._seen: set[str] = set()
        self._controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        if self.greylist and address not in self._seen:
            self._seen.add(address)
            self.greylisted.append(address)
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        content = bytes(envelope.content)
        if self.before_accept is not None:
            await asyncio.to_thread(self.before_accept, content)
        with self._lock:
            self.raw.append(content)
            self._lock.notify_all()
        return "250 Message accepted for delivery"

    def start(self) -> Sink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.raw)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until at least count messages were accepted; False when timeout seconds passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.raw) >= count, timeout)

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            raw = list(self.raw)
        return [message_from_bytes(data, policy=policy.default) for data in raw]

    def message_ids(self) -> list[str]:
        """The Message-ID of every message received, in order (cheap: no full parse)."""
        with self._lock:
            raw = list(self.raw)
        return [_header(MESSAGE_ID, data) for data in raw]

    def subjects_and_ids(self) -> list[tuple[str, str]]:
        """(Subject, Message-ID) of every message received, in order."""
        with self._lock:
            raw = list(self.raw)
        return [(_header(SUBJECT, data), _header(MESSAGE_ID, data)) for data in raw]
