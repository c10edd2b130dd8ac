"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the email tests."""
from __future__ import annotations

import re
import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    """Collects every message accepted; refuses recipients listed in `refuse`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.raw: list[bytes] = []
        self.refuse: set[str] = set()
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.raw.append(bytes(envelope.content))
        return "250 Message accepted for delivery"

    def start(self) -> "Sink":
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

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            raw = list(self.raw)
        return [message_from_bytes(data, policy=policy.default) for data in raw]

    def message_ids(self) -> list[str]:
        """The Message-ID of every message received, in order (cheap: no full parse)."""
        with self._lock:
            raw = list(self.raw)
        ids = []
        for data in raw:
            found = MESSAGE_ID.search(data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n"))
            ids.append(found.group(1).decode() if found else "")
        return ids
