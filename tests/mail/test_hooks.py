"""The temporary bounce hook: calls the outbox's scanner when it exists, never breaks a page."""

from __future__ import annotations

import sys
import types

import pytest

from webmail.imap.fake import FakeStore
from webmail.mail import hooks


def test_hook_calls_the_scanner_with_store_and_user(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, object]] = []
    module = types.ModuleType("tests_fake_bounces")
    module.bounce_scan_inbox = lambda *, store, user: seen.append((store, user))  # type: ignore[attr-defined]
    module.__spec__ = types.SimpleNamespace(name="tests_fake_bounces")  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, "tests_fake_bounces", module)
    monkeypatch.setattr(hooks, "BOUNCES_MODULE", "tests_fake_bounces")
    store = FakeStore()
    hooks.after_inbox_listing(store, "alice")
    assert seen == [(store, "alice")]


def test_a_failing_scanner_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    def broken(*, store: object, user: object) -> None:
        raise RuntimeError("scanner bug")

    module = types.ModuleType("tests_broken_bounces")
    module.bounce_scan_inbox = broken  # type: ignore[attr-defined]
    module.__spec__ = types.SimpleNamespace(name="tests_broken_bounces")  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, "tests_broken_bounces", module)
    monkeypatch.setattr(hooks, "BOUNCES_MODULE", "tests_broken_bounces")
    hooks.after_inbox_listing(FakeStore(), "alice")
    assert "bounce scan of the inbox failed" in caplog.text


def test_no_module_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "BOUNCES_MODULE", "tests_no_such_bounces_module")
    hooks.after_inbox_listing(FakeStore(), "alice")  # nothing to call, nothing raised
