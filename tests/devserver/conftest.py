"""A development mail server per test module, in a subprocess on free loopback ports.

Independent of Django: the server gets its data directory and ports on the command line.
"""

from __future__ import annotations

import email
import imaplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from webmail.devserver.supervisor import wait_for_port

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DevMail:
    base_dir: Path
    imap_port: int
    smtp_port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def imap(self, user: str, password: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        client.login(user, password)
        return client

    def wait_for(self, user: str, password: str, match: Callable[[EmailMessage], bool],
                 timeout: float = 10.0) -> EmailMessage:
        """The newest INBOX message of ``user`` that ``match`` accepts, polling until then."""
        deadline = time.monotonic() + timeout
        client = self.imap(user, password)
        try:
            while True:
                client.select("INBOX", readonly=True)
                _, data = client.uid("SEARCH", "ALL")
                for uid in reversed(data[0].split()[-10:]):
                    msg = email.message_from_bytes(fetch_raw(client, uid), policy=policy.default)
                    assert isinstance(msg, EmailMessage)
                    if match(msg):
                        return msg
                if time.monotonic() > deadline:
                    raise AssertionError(f"no matching message for {user} within {timeout} s")
                time.sleep(0.2)
        finally:
            client.logout()


def fetch_raw(client: imaplib.IMAP4, uid: bytes) -> bytes:
    """The full message of ``uid``; unsolicited FETCH FLAGS lines in the answer are skipped."""
    _, fetched = client.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
    for item in fetched:
        if isinstance(item, tuple) and b"BODY[]" in item[0] and isinstance(item[1], bytes):
            return item[1]
    raise AssertionError(f"no BODY[] in {fetched!r}")


def start_devmail(base_dir: Path, *extra: str) -> DevMail:
    imap_port, smtp_port = free_port(), free_port()
    log = base_dir.parent / f"{base_dir.name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "webmail.devserver.mailserver", "--dir", str(base_dir),
             "--imap-port", str(imap_port), "--smtp-port", str(smtp_port), *extra],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )
    server = DevMail(base_dir, imap_port, smtp_port, proc, log)
    for port in (imap_port, smtp_port):
        if not wait_for_port("127.0.0.1", port, 30, alive=proc):
            stop_devmail(server)
            raise AssertionError(f"devmail did not start:\n{log.read_text()}")
    return server


def stop_devmail(server: DevMail) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="module")
def devmail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevMail]:
    server = start_devmail(tmp_path_factory.mktemp("devmail") / "data", "--seed-demo",
                           "--report-delay", "0.3")
    yield server
    stop_devmail(server)
