"""Fixtures of the outbox tests: users, built messages, a scripted SMTP server and a profile
that routes a test domain's SMTP to it, and a recorder for published tasks."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from accounts.models import Domain, ServerProfile, User
from tests.outbox.smtpserver import ScriptedServer
from webmail.mime.addresses import Address
from webmail.mime.compose import BuiltMessage, ComposeSpec, build_message
from webmail.outbox import publish

PASSWORD = "secret"


def new_user(prefix: str = "t-out", domain: str = "example.test") -> User:
    return User.objects.create(username=f"{prefix}-{uuid.uuid4().hex[:8]}@{domain}")


def build(sender: str, *, to: tuple[str, ...] = ("rcpt@remote.test",), cc: tuple[str, ...] = (),
          bcc: tuple[str, ...] = (), subject: str = "Hello", text: str = "Hi there.\n",
          message_id: str = "") -> BuiltMessage:
    return build_message(ComposeSpec(
        from_=Address("", sender), to=[Address("", a) for a in to],
        cc=[Address("", a) for a in cc], bcc=[Address("", a) for a in bcc], subject=subject,
        text=text, message_id=message_id))


@pytest.fixture
def smtp_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    yield server
    server.stop()


@pytest.fixture
def route_smtp(db: None) -> Callable[..., Domain]:
    """``route_smtp(domain, port, auth="none")``: the domain's SMTP goes to 127.0.0.1:port."""

    def make(domain: str, port: int, auth: str = "none", timeout: float = 5.0) -> Domain:
        profile = ServerProfile.objects.create(
            name=f"p-{uuid.uuid4().hex[:8]}", imap_host="127.0.0.1", imap_port=10143,
            imap_security="none", smtp_host="127.0.0.1", smtp_port=port,
            smtp_security="none", smtp_auth=auth, timeout=timeout)
        domain_row, _ = Domain.objects.update_or_create(name=domain,
                                                        defaults={"profile": profile})
        return domain_row

    return make


@dataclass
class Published:
    deliver: list[tuple[int, float | None]] = field(default_factory=list)
    sent_copy: list[int] = field(default_factory=list)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    """Record publishes instead of sending them to the broker (unit tests)."""
    record = Published()

    def deliver(pk: int, *, countdown: float | None = None) -> bool:
        record.deliver.append((pk, countdown))
        return True

    def sent_copy(pk: int) -> bool:
        record.sent_copy.append(pk)
        return True

    for module in ("webmail.outbox.publish", "webmail.outbox.services",
                   "webmail.outbox.delivery", "webmail.outbox.sweep"):
        monkeypatch.setattr(f"{module}.publish_deliver", deliver, raising=False)
        monkeypatch.setattr(f"{module}.publish_sent_copy", sent_copy, raising=False)
    # The wake-up gate stays open: every enqueue publishes, as each test expects (the gate has
    # tests of its own, test_wakeups.py).
    monkeypatch.setattr("webmail.outbox.wakeups.acquire", lambda user_id: True)
    assert publish  # the module patched above
    return record
