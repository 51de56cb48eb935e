"""Mail pages do only the work their size needs: page N fetches its 50 rows, a page seen
before fetches flags only, an attachment streams in bounded memory (real Dovecot)."""

from __future__ import annotations

import base64
import imaplib
import os
import tracemalloc
from collections.abc import Sequence
from typing import Any

import pytest
from django.test import Client

from tests.conftest import Persona, make_message
from webmail.imap.gateway import ImapStore

pytestmark = pytest.mark.dovecot

FOLDER = "Big"


def _fill(persona: Persona, count: int) -> list[int]:
    conn = persona.imap()
    try:
        conn.create(FOLDER)
    finally:
        conn.logout()
    return [persona.append(make_message(subject=f"message {i:03d}"), FOLDER)
            for i in range(count)]


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[bytes], list[int]]]:
    """Every FETCH the gateway sends: (folder, items, UIDs)."""
    seen: list[tuple[str, list[bytes], list[int]]] = []
    real = ImapStore._call

    def spy(self: ImapStore, action: str, func: Any) -> Any:
        if action == "fetch":
            client = self._client
            original = client.fetch

            def fetch(messages: Sequence[int], data: list[bytes], modifiers: Any = None) -> Any:
                seen.append((self._selected or "", list(data), [int(m) for m in messages]))
                return original(messages, data, modifiers)

            client.fetch = fetch
            try:
                return real(self, action, func)
            finally:
                del client.fetch
        return real(self, action, func)

    monkeypatch.setattr(ImapStore, "_call", spy)
    return seen


def test_page_n_fetches_only_its_own_50_rows(alice: Persona, alice_client: Client,
                                              fetches: list[tuple[str, list[bytes], list[int]]]
                                              ) -> None:
    uids = _fill(alice, 120)
    response = alice_client.get(f"/mail/{FOLDER}/?page=2")
    assert response.status_code == 200
    rows = [f for f in fetches if f[0] == FOLDER]
    assert len(rows) == 1
    _folder, items, asked = rows[0]
    assert b"ENVELOPE" in items
    assert asked == uids[::-1][50:100]  # newest first: the second fifty


def test_a_page_seen_before_fetches_flags_only(alice: Persona, alice_client: Client,
                                               fetches: list[tuple[str, list[bytes], list[int]]]
                                               ) -> None:
    uids = _fill(alice, 60)
    assert alice_client.get(f"/mail/{FOLDER}/").status_code == 200
    fetches.clear()
    conn = alice.imap()  # another client reads one of them meanwhile
    try:
        conn.select(FOLDER)
        conn.uid("STORE", str(uids[-1]), "+FLAGS", "(\\Seen)")
    finally:
        conn.logout()
    response = alice_client.get(f"/mail/{FOLDER}/")
    assert response.status_code == 200
    rows = [f for f in fetches if f[0] == FOLDER]
    assert [items for _f, items, _u in rows] == [[b"FLAGS"]]
    assert sorted(rows[0][2]) == sorted(uids[-50:])
    assert len(response.context["page"].rows) == 50
    # The flag another client set shows: the row of the newest message is read now.
    assert response.context["page"].rows[0].seen


def test_attachment_download_memory_stays_bounded(alice: Persona,
                                                  alice_client: Client) -> None:
    blob = os.urandom(20 * 1024 * 1024)
    raw = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b"Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
           b"Content-Type: application/octet-stream\r\n"
           b'Content-Disposition: attachment; filename="big.bin"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(blob).replace(b"\n", b"\r\n") + b"--b--\r\n")
    conn = alice.imap()
    try:
        typ, _data = conn.append("INBOX", None, imaplib.Time2Internaldate(0), raw)
        assert typ == "OK"
    finally:
        conn.logout()
    uid = alice.uids()[-1]
    del raw
    assert alice_client.get(f"/mail/INBOX/{uid}/").status_code == 200  # parts are known
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        response = alice_client.get(f"/mail/INBOX/{uid}/part/2/")
        assert response.status_code == 200
        received = 0
        digest_ok = True
        offset = 0
        for chunk in response:  # streamed: read as it is produced
            digest_ok = digest_ok and chunk == blob[offset:offset + len(chunk)]
            offset += len(chunk)
            received += len(chunk)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert received == len(blob) and digest_ok
    assert peak < 30 * 1024 * 1024, f"peak growth {peak / 1e6:.1f} MB"


def test_message_page_leaves_the_body_html_to_the_body_document(
        alice: Persona, alice_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = make_message(subject="newsletter", html="<p>" + "word " * 20000 + "</p>")
    uid = alice.append(raw)
    assert alice_client.get(f"/mail/INBOX/{uid}/").status_code == 200  # parsed, cached
    from django.core.cache import cache

    asked: list[str] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(cache, name)

        def get_many(self, keys: list[str]) -> dict[str, Any]:
            asked.extend(keys)
            return cache.get_many(keys)

        def get(self, key: str) -> Any:
            asked.append(key)
            return cache.get(key)

    monkeypatch.setattr("webmail.mail.bodies.cache", Recording())
    # As another web process would: without this process's own copies.
    from webmail import localcache

    localcache.clear_all()
    fetched: list[int] = []

    def fetch_message(self: ImapStore, folder: str, uid: int) -> bytes:
        fetched.append(uid)
        return b""

    monkeypatch.setattr(ImapStore, "fetch_message", fetch_message)
    assert alice_client.get(f"/mail/INBOX/{uid}/").status_code == 200
    assert asked and not any(k.startswith("mail:body:") for k in asked)
    asked.clear()
    localcache.clear_all()
    response = alice_client.get(f"/mail/INBOX/{uid}/body/")
    assert response.status_code == 200 and b"word word" in response.content
    assert any(k.startswith("mail:body:") for k in asked)
    assert fetched == []  # both came from the cache
