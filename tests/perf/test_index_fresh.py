"""The folder index stays fresh without re-sorting the folder (real Dovecot: SORT, QRESYNC).

A spy counts full sorts (``sorted_uids``); every catching-up result is compared with what a
full SORT says at that moment, so the shortcut can never change the order a user sees.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Persona, make_message
from webmail.imap.gateway import ImapStore
from webmail.imap.types import Credentials, SearchQuery, ServerAddress, SortKey
from webmail.mail.index import IncrementalStore, IndexKey, load_index

pytestmark = pytest.mark.dovecot

NAMES = ["Zed", "adam", "Bea", "carl", "Émile", "dora"]
START = datetime(2024, 1, 1, tzinfo=UTC)


class CountingStore(ImapStore):
    """The real gateway, counting the full-folder sorts it is asked for."""

    full_sorts = 0

    def sorted_uids(self, *args: Any, **kwargs: Any) -> list[int]:
        self.full_sorts += 1
        return super().sorted_uids(*args, **kwargs)

    def truth(self, key: IndexKey) -> list[int]:
        return super().sorted_uids(key.folder, key.sort, key.reverse, key.query)


@pytest.fixture
def store(alice: Persona) -> Iterator[CountingStore]:
    base = ImapStore.connect(ServerAddress("127.0.0.1", 10143),
                             Credentials(alice.address, alice.password))
    counting = CountingStore(base._client, base.server, base.username)
    counting._condstore, counting._qresync = base._condstore, base._qresync
    yield counting
    counting.logout()


def _add(persona: Persona, rng: random.Random, count: int, subject: str = "") -> list[int]:
    return [persona.append(
        make_message(subject=subject or f"topic {rng.randint(0, 99)}",
                     sender=f"{rng.choice(NAMES)} <p{rng.randint(0, 999)}@example.org>"),
        when=START + timedelta(hours=rng.randint(0, 2000))) for _ in range(count)]


def _expunge(persona: Persona, uids: list[int]) -> None:
    """Another client deletes these messages."""
    conn = persona.imap()
    try:
        conn.select("INBOX")
        conn.uid("STORE", ",".join(map(str, uids)), "+FLAGS", "(\\Deleted)")
        conn.expunge()
    finally:
        conn.logout()


def test_the_gateway_offers_catching_up(store: CountingStore) -> None:
    assert isinstance(store, IncrementalStore)
    assert store._qresync  # Dovecot offers QRESYNC; the index relies on it for expunges


@pytest.mark.parametrize("sort", [SortKey.DATE, SortKey.FROM, SortKey.SUBJECT, SortKey.SIZE])
@pytest.mark.parametrize("reverse", [True, False])
def test_arrivals_and_expunges_are_merged_not_re_sorted(
        alice: Persona, store: CountingStore, sort: SortKey, reverse: bool) -> None:
    rng = random.Random(f"{sort}{reverse}")
    _add(alice, rng, 25)
    key = IndexKey("u1", "INBOX", sort, reverse, None)
    load_index(store, key)
    assert store.full_sorts == 1
    for _round in range(3):
        # New messages with arbitrary arrival times (moved or restored mail keeps an old one),
        # and a message deleted by another client, between two page views.
        _add(alice, rng, 3)
        _expunge(alice, [rng.choice(alice.uids())])
        store.refresh()
        index = load_index(store, key)
        assert list(index.uids) == store.truth(key)
        assert index.total == store.folder_status("INBOX").messages
    assert store.full_sorts == 1


def test_new_mail_after_the_newest_costs_one_comparison(alice: Persona,
                                                        store: CountingStore) -> None:
    rng = random.Random(1)
    _add(alice, rng, 10)
    key = IndexKey("u1", "INBOX", SortKey.DATE, True, None)
    load_index(store, key)
    asked: list[list[int]] = []
    real = store.sort_subset

    def spy(folder: str, sort: SortKey, uids: Sequence[int]) -> list[int]:
        asked.append(list(uids))
        return real(folder, sort, uids)

    store.sort_subset = spy  # type: ignore[method-assign,assignment]
    new = alice.append(make_message(subject="brand new"))  # arrives now: the newest
    store.refresh()
    index = load_index(store, key)
    assert index.uids[0] == new
    assert list(index.uids) == store.truth(key)
    assert len(asked) == 2  # the new ones among themselves, then against the newest cached
    assert store.full_sorts == 1


def test_flag_changes_never_sort(alice: Persona, store: CountingStore) -> None:
    uids = _add(alice, random.Random(2), 6)
    key = IndexKey("u1", "INBOX", SortKey.FROM, False, None)
    load_index(store, key)
    store.set_flags("INBOX", uids[:3], ["\\Seen"], add=True)
    store.refresh()
    assert load_index(store, key).from_cache
    assert store.full_sorts == 1


def test_a_search_index_takes_only_matching_arrivals(alice: Persona,
                                                     store: CountingStore) -> None:
    rng = random.Random(3)
    _add(alice, rng, 8, subject="quarterly report")
    _add(alice, rng, 8, subject="lunch plans")
    key = IndexKey("u1", "INBOX", SortKey.DATE, True, SearchQuery("quarterly"))
    assert load_index(store, key).total == 8
    hit = _add(alice, rng, 1, subject="quarterly numbers")[0]
    miss = _add(alice, rng, 1, subject="holiday")[0]
    store.refresh()
    index = load_index(store, key)
    assert hit in index.uids and miss not in index.uids
    assert list(index.uids) == store.truth(key)
    assert store.full_sorts == 1
    # An expunge cannot be checked against a search's own count: that one searches again.
    _expunge(alice, [hit])
    store.refresh()
    assert hit not in load_index(store, key).uids
    assert store.full_sorts == 2


def test_without_qresync_an_expunge_falls_back_to_sorting(alice: Persona,
                                                          store: CountingStore) -> None:
    uids = _add(alice, random.Random(4), 6)
    store._qresync = False
    key = IndexKey("u1", "INBOX", SortKey.DATE, True, None)
    load_index(store, key)
    _expunge(alice, [uids[2]])
    store.refresh()
    index = load_index(store, key)
    assert uids[2] not in index.uids and list(index.uids) == store.truth(key)
    assert store.full_sorts == 2


def test_without_sort_a_rebuild_fetches_values_of_new_messages_only(
        alice: Persona, store: CountingStore) -> None:
    rng = random.Random(5)
    uids = _add(alice, rng, 12)
    store._caps = store.capabilities() - {"SORT", "SORT=DISPLAY", "ESORT"}
    store._qresync = False  # an expunge then forces a rebuild of the whole order
    asked: list[int] = []
    real = store.fetch_sort_values

    def spy(folder: str, key: SortKey, uids: Sequence[int] | None = None) -> dict[int, Any]:
        asked.extend(uids or [])
        return real(folder, key, uids)

    store.fetch_sort_values = spy  # type: ignore[method-assign]
    key = IndexKey("u1", "INBOX", SortKey.FROM, False, None)
    first = load_index(store, key)
    assert sorted(asked) == sorted(uids)
    assert list(first.uids) == store.truth(key)
    asked.clear()
    _expunge(alice, [uids[3]])
    new = _add(alice, rng, 2)
    store.refresh()
    again = load_index(store, key)
    fetched = sorted(set(asked))
    assert fetched == sorted(new)  # the headers of the other messages are not fetched again
    assert list(again.uids) == store.truth(key)
