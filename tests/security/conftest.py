"""Fixtures of the security tests: a signed-in persona on Dovecot with a message to act on,
the mail server's state as a comparable snapshot, and every URL of the URLconf made concrete."""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from tests.conftest import Persona, make_message

SAMPLES = {"folder": "INBOX", "uid": "{uid}", "section": "2", "int": "{pk}", "str": "x",
           "path": "1", "slug": "x"}
_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    template: str  # "/mail/INBOX/{uid}/part/2/" ({uid}, {pk} filled in by the test)
    view: str  # module.name of the view callable
    regex: bool = False

    def path(self, **values: object) -> str:
        return self.template.format(**values)


def _walk(patterns: list[URLPattern | URLResolver], prefix: str) -> Iterator[Route]:
    for pattern in patterns:
        text = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + text)
            continue
        callback = pattern.callback
        name = f"{getattr(callback, '__module__', '?')}.{getattr(callback, '__name__', '?')}"
        if isinstance(pattern.pattern, RoutePattern):
            route = _PARAM.sub(lambda m: SAMPLES[m["conv"] or "str"], prefix + text)
            yield Route("/" + route, name)
        else:
            # Django's admin has two regex routes: an app index and its catch-all.
            concrete = re.sub(r"\(\?P<app_label>[^)]*\)", "accounts", prefix + text)
            concrete = re.sub(r"\(\?P<url>\.\*\)", "nothing-here/", concrete)
            yield Route("/" + concrete.replace("^", "").replace("$", ""), name, regex=True)


def all_routes() -> list[Route]:
    """Every URL pattern of the project with sample values (views identified by name)."""
    return list(_walk(get_resolver().url_patterns, ""))


def all_views() -> list[object]:
    """Every view callable of the URLconf (for static checks such as csrf_exempt)."""
    found: list[object] = []

    def walk(patterns: list[URLPattern | URLResolver]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            else:
                found.append(pattern.callback)

    walk(get_resolver().url_patterns)
    return found


def drain(response: Any) -> None:
    """Read a streamed response to its end (so its IMAP connection goes back to the pool).

    Never ``response.close()`` in these tests: that sends ``request_finished`` again, which
    closes the database connection in the middle of the test's transaction.
    """
    if getattr(response, "streaming", False):
        for _chunk in response.streaming_content:
            pass


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_state(persona: Persona) -> dict[str, list[tuple[int, tuple[str, ...]]]]:
    """Every folder of the persona with its messages' UIDs and flags (\\Recent left out)."""
    conn = persona.imap()
    try:
        _typ, listing = conn.list()
        names = []
        for line in listing:
            assert isinstance(line, bytes)
            match = re.match(rb'\((?P<attrs>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.+)$', line)
            assert match, line
            name = match["name"].decode()
            names.append(name[1:-1].replace('\\"', '"') if name.startswith('"') else name)
        state: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        for name in sorted(names):
            typ, _data = conn.select(_quote(name), readonly=True)
            if typ != "OK":
                state[name] = []
                continue
            _typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
            rows = []
            for item in data:
                if not isinstance(item, bytes):
                    continue
                m = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", item)
                if m:
                    flags = tuple(sorted(f for f in m[2].decode().split() if f != "\\Recent"))
                    rows.append((int(m[1]), flags))
            state[name] = sorted(rows)
        return state
    finally:
        try:
            conn.logout()
        except imaplib.IMAP4.error:
            pass


def without_seen(state: dict[str, list[tuple[int, tuple[str, ...]]]]
                 ) -> dict[str, list[tuple[int, tuple[str, ...]]]]:
    return {k: [(u, tuple(f for f in flags if f != "\\Seen")) for u, flags in v]
            for k, v in state.items()}


@dataclass
class Mailbox:
    persona: Persona
    client: Client
    uid: int  # a message with an HTML body and one attachment (section 2)


@pytest.fixture
def mailbox(alice: Persona, alice_client: Client) -> Mailbox:
    raw = make_message(subject="Target", text="Plain body.", html="<p>HTML body</p>",
                       attachments=[("notes.txt", "text/plain", b"attached text")])
    uid = alice.append(raw)
    alice.append(make_message(subject="Second"))
    return Mailbox(alice, alice_client, uid)
