"""Fixtures for the mail pages: FakeStores behind ``webmail.mailconn.mail_store``.

``fake_mail`` maps a user name to its own FakeStore, so alice and mallory each see only their
own store, exactly as the session-bound pool does with real servers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.http import HttpRequest
from django.test import Client

from accounts.models import User
from tests.conftest import make_message
from webmail import mailconn
from webmail.imap.fake import FakeStore

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


class FakeMail:
    def __init__(self) -> None:
        self.stores: dict[str, FakeStore] = {}

    def store(self, username: str, **options: Any) -> FakeStore:
        if username not in self.stores:
            self.stores[username] = FakeStore(username, **options)
        return self.stores[username]

    @contextlib.contextmanager
    def mail_store(self, request: HttpRequest) -> Iterator[FakeStore]:
        if not request.user.is_authenticated:
            raise mailconn.NotSignedIn()
        yield self.store(request.user.get_username())


@pytest.fixture
def fake_mail(monkeypatch: pytest.MonkeyPatch) -> FakeMail:
    mail = FakeMail()
    monkeypatch.setattr(mailconn, "mail_store", mail.mail_store)
    return mail


def _client_for(address: str, **kwargs: Any) -> Client:
    user = User.objects.create(username=address, email=address)
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def alice_store(fake_mail: FakeMail) -> FakeStore:
    return fake_mail.store("alice@example.test")


@pytest.fixture
def client_alice(db: None, fake_mail: FakeMail) -> Client:
    return _client_for("alice@example.test")


@pytest.fixture
def client_mallory(db: None, fake_mail: FakeMail) -> Client:
    return _client_for("mallory@example.test")


@pytest.fixture
def csrf_client_alice(db: None, fake_mail: FakeMail) -> Client:
    return _client_for("alice-csrf@example.test", enforce_csrf_checks=True)


@pytest.fixture
def fill() -> Callable[..., list[int]]:
    """Append ``count`` numbered messages, one minute apart (message 0 oldest)."""

    def fill(store: FakeStore, count: int, folder: str = "INBOX", **kwargs: Any) -> list[int]:
        uids = []
        for i in range(count):
            raw = make_message(subject=kwargs.get("subject", f"Message {i:05d}"),
                               sender=kwargs.get("sender", f"Sender {i:05d} <s{i}@example.org>"),
                               text=kwargs.get("text", f"Body number {i}."),
                               date=T0 + timedelta(minutes=i))
            uid = store.append(folder, raw, flags=kwargs.get("flags", ()),
                               when=T0 + timedelta(minutes=i))
            assert uid is not None
            uids.append(uid)
        return uids

    return fill
