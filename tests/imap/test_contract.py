"""Contract tests: the same assertions against ImapStore on Dovecot and against FakeStore.

Three stores: ``imap`` (Dovecot, a fresh mailbox per test), ``imap-nosort`` (the real gateway on
Dovecot with SORT hidden, so the gateway's fallback runs against a real server) and ``fake`` /
``fake-nosort`` (the in-memory twin). If the fake drifts from the server, these fail.
"""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from tests.conftest import Persona, make_message
from webmail.imap.errors import ImapInvalidInput, ImapNotFound, ImapProtocolError
from webmail.imap.fake import FakeStore
from webmail.imap.gateway import ImapStore, MailStore
from webmail.imap.types import (
    Credentials,
    SearchField,
    SearchQuery,
    ServerAddress,
    SortKey,
    SpecialUse,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


class _NoSortImapStore(ImapStore):
    """The real gateway with SORT hidden: exercises the fallback against Dovecot."""

    def capabilities(self) -> frozenset[str]:
        return frozenset(c for c in super().capabilities() if not c.startswith("SORT"))


@pytest.fixture(params=["imap", "imap-nosort", "fake", "fake-nosort"])
def store(request: pytest.FixtureRequest) -> Iterator[MailStore]:
    kind: str = request.param
    if kind.startswith("fake"):
        yield FakeStore(sort_capability=kind == "fake")
        return
    new_persona: Callable[[str], Persona] = request.getfixturevalue("new_persona")
    persona = new_persona("t-contract")
    cls = ImapStore if kind == "imap" else _NoSortImapStore
    real = cls.connect(ServerAddress("127.0.0.1", 10143), Credentials(persona.address,
                                                                       persona.password))
    try:
        yield real
    finally:
        real.logout()


def _three(store: MailStore) -> list[int]:
    """Three messages whose every sort key orders them differently."""
    specs: list[dict[str, Any]] = [
        {"sender": "Carol <carol@example.org>", "to": "Zoe <zoe@example.test>",
         "subject": "Re: banana", "text": "short kiwi"},
        {"sender": "alice@example.org", "to": "Bob <bob@example.test>",
         "subject": "apple", "text": "medium length body mango " + "m" * 200},
        {"sender": "Bob Builder <bob@example.org>", "to": "Adam <adam@example.test>",
         "subject": "cherry", "text": "the longest body of all papaya " + "p" * 900},
    ]
    uids = []
    for i, spec in enumerate(specs):
        raw = make_message(date=T0 + timedelta(days=10 - i), **spec)  # Date header reversed
        uid = store.append("INBOX", raw, when=T0 + timedelta(hours=i))
        assert isinstance(uid, int)
        uids.append(uid)
    return uids


def test_list_folders_knows_special_use_and_hierarchy(store: MailStore) -> None:
    store.create_folder("Projects/2024")
    folders = {f.name: f for f in store.list_folders()}
    assert folders["INBOX"].special_use is SpecialUse.INBOX
    for name, use in [("Sent", SpecialUse.SENT), ("Drafts", SpecialUse.DRAFTS),
                      ("Trash", SpecialUse.TRASH), ("Junk", SpecialUse.JUNK),
                      ("Archive", SpecialUse.ARCHIVE)]:
        assert folders[name].special_use is use
        assert folders[name].selectable
    assert folders["Projects/2024"].selectable
    assert folders["Projects/2024"].delimiter == "/"
    assert folders["Projects/2024"].depth == 1
    assert not folders["Projects"].selectable  # a placeholder parent


def test_status_counts_and_uids(store: MailStore) -> None:
    before = store.folder_status("INBOX")
    assert (before.messages, before.unseen) == (0, 0)
    first = store.append("INBOX", make_message(subject="one"))
    second = store.append("INBOX", make_message(subject="two"), flags=["\\Seen"])
    assert isinstance(first, int) and isinstance(second, int) and second > first
    after = store.folder_status("INBOX")
    assert (after.messages, after.unseen) == (2, 1)
    assert after.uidnext == second + 1
    assert after.uidvalidity == before.uidvalidity > 0
    assert store.select("INBOX").uidvalidity == after.uidvalidity


@pytest.mark.parametrize(("key", "expected"), [
    (SortKey.DATE, [0, 1, 2]),
    (SortKey.FROM, [1, 2, 0]),  # alice@…, Bob Builder, Carol
    (SortKey.TO, [2, 1, 0]),  # Adam, Bob, Zoe
    (SortKey.SUBJECT, [1, 0, 2]),  # apple, (Re:) banana, cherry
    (SortKey.SIZE, [0, 1, 2]),
])
def test_sorted_uids_for_every_key_and_direction(store: MailStore, key: SortKey,
                                                 expected: list[int]) -> None:
    uids = _three(store)
    assert store.sorted_uids("INBOX", key, reverse=False) == [uids[i] for i in expected]
    assert store.sorted_uids("INBOX", key, reverse=True) == [uids[i] for i in expected[::-1]]


@pytest.mark.parametrize("key", list(SortKey))
def test_sort_ties_are_in_uid_order_and_descending_mirrors(store: MailStore,
                                                          key: SortKey) -> None:
    raw = make_message(subject="same", text="x")
    uids = [store.append("INBOX", raw, when=T0) for _ in range(3)]
    assert store.sorted_uids("INBOX", key, reverse=False) == uids
    assert store.sorted_uids("INBOX", key, reverse=True) == uids[::-1]


@pytest.mark.parametrize(("field", "text", "expected"), [
    (SearchField.FROM, "carol", [0]),
    (SearchField.FROM, "BUILDER", [2]),
    (SearchField.TO, "zoe", [0]),
    (SearchField.SUBJECT, "apple", [1]),
    (SearchField.BODY, "papaya", [2]),
    (SearchField.BODY, "apple", []),  # in a subject only
    (SearchField.ALL, "mango", [1]),
    (SearchField.ALL, "bob", [1, 2]),
    (SearchField.ALL, "nothing-like-this", []),
])
def test_search_fields(store: MailStore, field: SearchField, text: str,
                       expected: list[int]) -> None:
    uids = _three(store)
    query = SearchQuery(text, field)
    assert store.sorted_uids("INBOX", SortKey.DATE, False, query) == [uids[i] for i in expected]


def test_search_text_is_a_value_not_a_command(store: MailStore) -> None:
    uids = _three(store)
    tricky = store.append("INBOX", make_message(subject='a ") OR ALL (" b'))
    for text in ['") OR ALL ("', '" OR ALL "']:
        hits = store.sorted_uids("INBOX", SortKey.DATE, False,
                                 SearchQuery(text, SearchField.SUBJECT))
        assert hits == ([tricky] if text.startswith('")') else [])
        assert not set(hits) & set(uids)
    with pytest.raises(ImapInvalidInput):
        store.sorted_uids("INBOX", SortKey.DATE, False, SearchQuery("a\r\nb NOOP"))


def test_non_ascii_search(store: MailStore) -> None:
    store.append("INBOX", make_message(subject="Grüße aus Köln"))
    other = store.append("INBOX", make_message(subject="plain"))
    hits = store.sorted_uids("INBOX", SortKey.DATE, False,
                             SearchQuery("köln", SearchField.SUBJECT))
    assert len(hits) == 1 and other not in hits


def test_fetch_summaries_in_the_order_asked(store: MailStore) -> None:
    uids = _three(store)
    attached = store.append("INBOX", make_message(
        subject="with file", attachments=[("a.pdf", "application/pdf", b"%PDF-1.4 x")]))
    assert attached is not None
    asked = [uids[2], attached, uids[0], 999_999]
    summaries = store.fetch_summaries("INBOX", asked)
    assert [s.uid for s in summaries] == [uids[2], attached, uids[0]]
    first = summaries[2]
    assert first.subject == "Re: banana"
    assert first.sender[0].name == "Carol" and first.sender[0].email == "carol@example.org"
    assert first.to[0].email == "zoe@example.test"
    assert first.date == T0 + timedelta(days=10)
    assert first.received == T0
    assert first.message_id.startswith("<") and first.message_id.endswith("@example.org>")
    assert not first.has_attachments and summaries[1].has_attachments
    raw = store.fetch_message("INBOX", uids[0])
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert first.size == len(raw)
    assert "\\Seen" not in first.flags


def test_set_flags_add_and_remove(store: MailStore) -> None:
    uids = _three(store)
    store.set_flags("INBOX", uids[:2], ["\\Seen", "\\Flagged"], add=True)
    assert store.folder_status("INBOX").unseen == 1
    store.set_flags("INBOX", [uids[0]], ["\\Flagged"], add=False)
    flags = {s.uid: s.flags for s in store.fetch_summaries("INBOX", uids)}
    assert {"\\Seen"} <= flags[uids[0]] and "\\Flagged" not in flags[uids[0]]
    assert {"\\Seen", "\\Flagged"} <= flags[uids[1]]
    assert "\\Seen" not in flags[uids[2]]


def test_move_and_expunge(store: MailStore) -> None:
    uids = _three(store)
    store.set_flags("INBOX", [uids[0]], ["\\Flagged"], add=True)
    store.move("INBOX", [uids[0], uids[1]], "Trash")
    assert store.sorted_uids("INBOX", SortKey.DATE, False) == [uids[2]]
    trash = store.sorted_uids("Trash", SortKey.DATE, False)
    assert len(trash) == 2
    moved = store.fetch_summaries("Trash", trash)
    assert {s.subject for s in moved} == {"Re: banana", "apple"}
    assert any("\\Flagged" in s.flags for s in moved)
    store.expunge("Trash", [trash[0]])
    assert store.sorted_uids("Trash", SortKey.DATE, False) == [trash[1]]
    with pytest.raises(ImapNotFound):
        store.move("INBOX", [uids[2]], "No such folder")


def test_find_by_message_id(store: MailStore) -> None:
    uids = _three(store)
    wanted = store.fetch_summaries("INBOX", [uids[1]])[0].message_id
    assert store.find_by_message_id("INBOX", wanted) == [uids[1]]
    assert store.find_by_message_id("INBOX", "<nobody@nowhere.invalid>") == []


def test_fetch_part_whole_and_in_ranges(store: MailStore) -> None:
    payload = bytes(range(256)) * 40
    uid = store.append("INBOX", make_message(
        text="Body text.", attachments=[("data.bin", "application/octet-stream", payload)]))
    assert uid is not None
    assert store.fetch_part("INBOX", uid, "1") == b"Body text.\r\n"
    encoded = store.fetch_part("INBOX", uid, "2")
    assert base64.b64decode(encoded) == payload
    chunks = []
    offset = 0
    while True:
        chunk = store.fetch_part("INBOX", uid, "2", offset, 1000)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    assert len(chunks) > 5 and b"".join(chunks) == encoded
    assert store.fetch_part("INBOX", uid, "3") == b""


def test_nested_message_sections(store: MailStore) -> None:
    inner = email.message_from_bytes(make_message(
        subject="inner", text="inner text", attachments=[("x.txt", "text/plain", b"inner file")]),
        policy=email.policy.default)
    outer = email.message_from_bytes(make_message(subject="outer", text="outer text"),
                                     policy=email.policy.default)
    assert isinstance(outer, EmailMessage) and isinstance(inner, EmailMessage)
    outer.add_attachment(inner)
    uid = store.append("INBOX", outer.as_bytes())
    assert uid is not None
    whole = store.fetch_part("INBOX", uid, "2")
    assert whole.startswith(b"Subject: inner\r\n")
    assert store.fetch_part("INBOX", uid, "2.1") == b"inner text\r\n"
    assert base64.b64decode(store.fetch_part("INBOX", uid, "2.2")) == b"inner file"
    assert store.fetch_part("INBOX", uid, "1.1") == b"outer text\r\n"  # Dovecot's N.1 quirk


def test_folder_life_cycle_and_errors(store: MailStore) -> None:
    store.create_folder("Work")
    store.create_folder("Work/Sub")
    with pytest.raises(ImapProtocolError):
        store.create_folder("Work/Sub")
    uid = store.append("Work/Sub", make_message(subject="deep"))
    store.rename_folder("Work", "Office")
    names = {f.name for f in store.list_folders()}
    assert {"Office", "Office/Sub"} <= names and "Work" not in names
    assert store.fetch_summaries("Office/Sub", [uid or 0])[0].subject == "deep"
    store.delete_folder("Office/Sub")
    store.delete_folder("Office")
    assert not {"Office", "Office/Sub"} & {f.name for f in store.list_folders()}
    with pytest.raises(ImapNotFound):
        store.select("Office")
    with pytest.raises(ImapNotFound):
        store.folder_status("Nope")
    with pytest.raises(ImapNotFound):
        store.fetch_message("INBOX", 4242)
    with pytest.raises(ImapInvalidInput):
        store.select("bad\r\nname")
    with pytest.raises(ImapInvalidInput):
        store.create_folder("star*")
