"""Shared fixtures: personas on the real Dovecot, signed-in clients, mailbox helpers.

Personas (Healthchecks style): ``alice`` owns the mail, ``bob`` is on the same team,
``mallory`` is a stranger. Each test gets fresh, unique mailboxes on Dovecot (any
``t-…@example.test`` logs in with the stack's password), so tests never share state.
"""

from __future__ import annotations

import contextlib
import imaplib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from django.core.cache import cache
from django.test import Client

from tests.infra import mailstack


@dataclass(frozen=True)
class Persona:
    address: str
    password: str = mailstack.PASSWORD

    def imap(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", mailstack.IMAP_PORT, timeout=10)
        conn.login(self.address, self.password)
        return conn

    def append(self, raw: bytes, folder: str = "INBOX", flags: str = "",
               when: datetime | None = None) -> int:
        """Put a message into this persona's mailbox with plain imaplib; returns its UID."""
        conn = self.imap()
        try:
            date = imaplib.Time2Internaldate((when or datetime.now(UTC)).timestamp())
            typ, data = conn.append(_quote(folder), f"({flags})" if flags else None, date, raw)
            assert typ == "OK", data
            text = data[0].decode() if data and data[0] else ""
            if "APPENDUID" in text:
                return int(text.split("APPENDUID", 1)[1].split("]")[0].split()[1])
            conn.select(_quote(folder))
            _typ, data = conn.uid("SEARCH", "ALL")
            return int(data[0].split()[-1])
        finally:
            conn.logout()

    def uids(self, folder: str = "INBOX") -> list[int]:
        conn = self.imap()
        try:
            conn.select(_quote(folder))
            _typ, data = conn.uid("SEARCH", "ALL")
            return [int(x) for x in data[0].split()]
        finally:
            conn.logout()

    def flags(self, uid: int, folder: str = "INBOX") -> str:
        conn = self.imap()
        try:
            conn.select(_quote(folder))
            _typ, data = conn.uid("FETCH", str(uid), "(FLAGS)")
            return data[0].decode() if data and data[0] else ""
        finally:
            conn.logout()


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_message(*, subject: str = "Hello", sender: str = "sender@example.org",
                 to: str = "someone@example.test", text: str = "Hello there.",
                 html: str | None = None, date: datetime | None = None,
                 attachments: list[tuple[str, str, bytes]] | None = None) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments or []:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


@pytest.fixture(scope="session")
def mail_stack() -> None:
    """Dovecot and Postfix must answer: a missing server fails, it never skips."""
    mailstack.require_up()


@pytest.fixture
def new_persona(mail_stack: None) -> Callable[[str], Persona]:
    def make(prefix: str = "t") -> Persona:
        return Persona(mailstack.new_address(prefix))

    return make


@pytest.fixture
def alice(new_persona: Callable[[str], Persona]) -> Persona:
    return new_persona("t-alice")


@pytest.fixture
def bob(new_persona: Callable[[str], Persona]) -> Persona:
    return new_persona("t-bob")


@pytest.fixture
def mallory(new_persona: Callable[[str], Persona]) -> Persona:
    return new_persona("t-mallory")


def sign_in(client: Client, persona: Persona) -> Client:
    response = client.post("/login/", {"username": persona.address,
                                       "password": persona.password})
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture
def alice_client(db: None, alice: Persona) -> Client:
    return sign_in(Client(), alice)


@pytest.fixture
def mallory_client(db: None, mallory: Persona) -> Client:
    return sign_in(Client(), mallory)


def _clear_our_cache_keys() -> None:
    """Delete this run's cache keys (its KEY_PREFIX, tests/settings.py), not the database:
    another test run on the machine may share the Redis database."""
    from django.conf import settings

    backend = settings.CACHES["default"]["BACKEND"]
    if not backend.endswith("RedisCache"):
        cache.clear()
        return
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start:start + 500])


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    yield
    # Throttle counters and indexes of one test must not leak into the next. The cache has a
    # Redis database of its own per xdist worker (tests/settings.py), so this clears only ours.
    with contextlib.suppress(Exception):  # a test that stopped Redis restores it itself
        _clear_our_cache_keys()
    from webmail import localcache

    localcache.clear_all()  # the process's own copies (FakeStores repeat UIDVALIDITY and UIDs)


@pytest.fixture(autouse=True)
def _default_language_and_zone() -> Iterator[None]:
    """Each test starts in the default language and time zone. A request through the test
    client runs the middleware in the test's own thread, and Django's ``activate`` (of the
    Accept-Language or a user's saved language) lasts for the thread: without this, a test
    after one whose user reads German would render German outside any request."""
    from django.utils import timezone, translation

    translation.deactivate()
    timezone.deactivate()
    yield
    translation.deactivate()
    timezone.deactivate()


def wait_until(predicate: Callable[[], object], timeout: float = 20.0,
               interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
