"""Folder counts in one round trip (LIST-STATUS, RFC 5819) and STATUS answers remembered for
one request, against Dovecot; the same tree without LIST-STATUS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Persona, make_message
from webmail.imap.gateway import ImapStore
from webmail.imap.types import Credentials, ServerAddress
from webmail.mail.selectors import folder_tree

pytestmark = pytest.mark.dovecot

SERVER = ServerAddress("127.0.0.1", 10143)
RECENT = {"\\Recent"}
ARGER_UTF7 = "&AMQ-rger"  # "Ärger" in IMAP's modified UTF-7, for plain imaplib


class _Counting(ImapStore):
    """The real gateway, noting the IMAP commands it sends."""

    sent: list[str]

    def _call(self, action: str, func: Any) -> Any:
        self.__dict__.setdefault("sent", []).append(action)
        return super()._call(action, func)


class _NoListStatus(_Counting):
    def capabilities(self) -> frozenset[str]:
        return frozenset(c for c in super().capabilities() if c != "LIST-STATUS")


def _open(cls: type[_Counting], persona: Persona) -> Iterator[_Counting]:
    store = cls.connect(SERVER, Credentials(persona.address, persona.password))
    store.sent = []
    try:
        yield store
    finally:
        store.logout()


@pytest.fixture
def mailbox(alice: Persona) -> Persona:
    """INBOX with 3 messages (1 read), "Reports/2024 Q1" and "Ärger" with 2 unread each."""
    conn = alice.imap()
    try:
        for name in ('"Reports/2024 Q1"', ARGER_UTF7):
            conn.create(name)
    finally:
        conn.logout()
    alice.append(make_message(subject="read"), flags="\\Seen")
    alice.append(make_message(subject="new 1"))
    alice.append(make_message(subject="new 2"))
    for folder in ("Reports/2024 Q1", ARGER_UTF7):
        alice.append(make_message(subject="a"), folder=folder)
        alice.append(make_message(subject="b"), folder=folder)
    return alice


@pytest.mark.parametrize("cls", [_Counting, _NoListStatus])
def test_the_folder_tree_has_the_same_counts_either_way(mailbox: Persona,
                                                        cls: type[_Counting]) -> None:
    for store in _open(cls, mailbox):
        tree = folder_tree(store)
        counts = {n.name: (n.unseen, n.total) for n in tree.nodes if n.selectable}
        assert counts["INBOX"] == (2, 3)
        assert counts["Reports/2024 Q1"] == (2, 2)
        assert counts["Ärger"] == (2, 2)
        assert "Reports" in {n.name for n in tree.nodes}
        if cls is _Counting:
            # One LIST with the counts of every folder, no STATUS per folder. On this fresh
            # connection INBOX is selected first, so its count inside the LIST is cheap.
            assert store.sent == ["select", "list"]
        else:
            assert store.sent.count("status") == len(counts)


def test_status_answers_last_until_something_changes(mailbox: Persona) -> None:
    for store in _open(_Counting, mailbox):
        folder_tree(store)
        store.sent.clear()
        assert store.folder_status("INBOX").unseen == 2
        assert store.folder_status("Ärger").messages == 2
        assert store.sent == []  # both from the LIST
        uids = [s.uid for s in store.fetch_summaries("INBOX", [1, 2, 3])]
        store.set_flags("INBOX", uids, ["\\Seen"], add=True)  # our own change
        assert store.folder_status("INBOX").unseen == 0
        store.move("INBOX", uids[:1], "Ärger")
        assert store.folder_status("Ärger").messages == 3
        assert store.folder_status("INBOX").messages == 2


def test_a_new_request_sees_what_other_sessions_did(mailbox: Persona) -> None:
    for store in _open(_Counting, mailbox):
        assert store.folder_status("INBOX").messages == 3
        mailbox.append(make_message(subject="from elsewhere"))
        assert store.folder_status("INBOX").messages == 3  # within one request: remembered
        store.refresh()  # what the pool does when it lends the connection to a request
        assert store.folder_status("INBOX").messages == 4
        mailbox.append(make_message(subject="another"), folder=ARGER_UTF7)
        store.refresh()
        tree = folder_tree(store)
        assert {n.name: n.total for n in tree.nodes}["Ärger"] == 3


def test_remembered_rows_need_no_fetch_while_the_folder_is_unchanged(alice: Persona) -> None:
    uids = [alice.append(make_message(subject=f"m{i}")) for i in range(3)]
    for store in _open(_Counting, alice):

        def request(store: _Counting = store) -> list[str]:
            """One page view's worth: catch up, STATUS, the rows; the commands it sent."""
            store.refresh()
            store.sent.clear()
            store.folder_status("INBOX")
            rows = store.fetch_summaries("INBOX", uids)
            return [f"{r.uid}:{','.join(sorted(r.flags - RECENT))}" for r in rows] + store.sent

        first = request()
        assert first[-1] == "fetch"  # the whole rows
        again = request()
        assert again == [*first[:3], "status"]  # no FETCH at all: HIGHESTMODSEQ unchanged
        conn = alice.imap()  # another client flags one and deletes another
        try:
            conn.select("INBOX")
            conn.uid("STORE", str(uids[0]), "+FLAGS", "(\\Flagged)")
            conn.uid("STORE", str(uids[2]), "+FLAGS", "(\\Deleted)")
            conn.expunge()
        finally:
            conn.logout()
        changed = request()
        assert changed == [f"{uids[0]}:\\Flagged", f"{uids[1]}:", "status", "fetch"]
        store.set_flags("INBOX", [uids[1]], ["\\Seen"], add=True)  # our own change
        assert request()[1] == f"{uids[1]}:\\Seen"
