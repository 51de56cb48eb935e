"""The folder index: cached order, validated by (UIDNEXT, MESSAGES), never re-sorted by flags."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import make_message
from webmail.imap.fake import FakeStore
from webmail.imap.types import SearchField, SearchQuery, SortKey
from webmail.localcache import BoundedLRU, clear_all
from webmail.mail import index as index_module
from webmail.mail.index import IndexKey, index_remove, load_index


def _sorts(store: FakeStore) -> int:
    return sum(1 for call in store.calls if call[0] == "sorted_uids")


def test_second_load_comes_from_the_cache(fill: Callable[..., list[int]]) -> None:
    store = FakeStore()
    uids = fill(store, 5)
    key = IndexKey("u1", "INBOX", SortKey.DATE, True, None)
    first = load_index(store, key)
    assert list(first.uids) == uids[::-1] and not first.from_cache
    second = load_index(store, key)
    assert list(second.uids) == uids[::-1] and second.from_cache
    assert _sorts(store) == 1


def test_flag_changes_keep_the_order_and_do_not_re_sort(fill: Callable[..., list[int]]) -> None:
    store = FakeStore()
    uids = fill(store, 4)
    key = IndexKey("u1", "INBOX", SortKey.SUBJECT, False, None)
    load_index(store, key)
    store.set_flags("INBOX", uids[:2], ["\\Seen", "\\Flagged"], add=True)
    again = load_index(store, key)
    assert again.from_cache and list(again.uids) == uids
    assert _sorts(store) == 1


def test_new_and_removed_messages_invalidate(fill: Callable[..., list[int]]) -> None:
    store = FakeStore()
    uids = fill(store, 3)
    key = IndexKey("u1", "INBOX", SortKey.DATE, True, None)
    load_index(store, key)
    new = store.append("INBOX", make_message(subject="new"))
    fresh = load_index(store, key)
    assert not fresh.from_cache and fresh.uids[0] == new
    store.expunge("INBOX", [uids[0]])
    after = load_index(store, key)
    assert not after.from_cache and uids[0] not in list(after.uids)
    # one expunged and one new: MESSAGES equal again, UIDNEXT tells
    store.expunge("INBOX", [uids[1]])
    load_index(store, key)
    store.append("INBOX", make_message(subject="newer"))
    assert not load_index(store, key).from_cache


def test_keys_separate_users_sorts_searches_and_uidvalidity(
        fill: Callable[..., list[int]]) -> None:
    store = FakeStore()
    fill(store, 3)
    base = IndexKey("u1", "INBOX", SortKey.DATE, True, None)
    load_index(store, base)
    for other in (IndexKey("u2", "INBOX", SortKey.DATE, True, None),
                  IndexKey("u1", "INBOX", SortKey.DATE, False, None),
                  IndexKey("u1", "INBOX", SortKey.SIZE, True, None),
                  IndexKey("u1", "INBOX", SortKey.DATE, True, SearchQuery("Message 1")),
                  IndexKey("u1", "INBOX", SortKey.DATE, True,
                           SearchQuery("Message 1", SearchField.SUBJECT))):
        assert not load_index(store, other).from_cache
    assert load_index(store, base).from_cache
    store.set_uidvalidity("INBOX", 42)
    assert not load_index(store, base).from_cache


def test_index_remove_patches_our_own_removal(fill: Callable[..., list[int]]) -> None:
    store = FakeStore()
    uids = fill(store, 6)
    key = IndexKey("u1", "INBOX", SortKey.DATE, True, None)
    load_index(store, key)
    before = store.folder_status("INBOX")
    store.move("INBOX", uids[1:3], "Trash")
    index_remove(key, before, store.folder_status("INBOX"), uids[1:3])
    patched = load_index(store, key)
    assert patched.from_cache
    assert list(patched.uids) == [uids[5], uids[4], uids[3], uids[0]]
    assert _sorts(store) == 1


def test_index_remove_leaves_a_foreign_change_to_revalidation(
        fill: Callable[..., list[int]]) -> None:
    store = FakeStore()
    uids = fill(store, 4)
    key = IndexKey("u1", "INBOX", SortKey.DATE, True, None)
    load_index(store, key)
    before = store.folder_status("INBOX")
    store.expunge("INBOX", [uids[0], uids[1]])  # someone else took one more than we said
    index_remove(key, before, store.folder_status("INBOX"), [uids[0]])
    again = load_index(store, key)
    assert not again.from_cache and list(again.uids) == [uids[3], uids[2]]


def test_pages_positions_and_neighbours(fill: Callable[..., list[int]]) -> None:
    store = FakeStore()
    uids = fill(store, 120)
    index = load_index(store, IndexKey("u1", "INBOX", SortKey.DATE, True, None))
    assert index.total == 120 and index.page_count(50) == 3
    assert index.page(2, 50) == uids[::-1][50:100]
    assert index.page(3, 50) == uids[::-1][100:]
    assert index.neighbours(uids[60]) == (uids[61], uids[59])
    assert index.neighbours(uids[119]) == (None, uids[118])
    assert index.neighbours(uids[0]) == (uids[1], None)
    assert index.position(uids[119]) == 0 and index.position(99_999) is None


def test_fallback_without_sort_is_cached_too(fill: Callable[..., list[int]]) -> None:
    store = FakeStore(sort_capability=False)
    uids = fill(store, 5)
    key = IndexKey("u1", "INBOX", SortKey.FROM, True, None)
    assert list(load_index(store, key).uids) == uids[::-1]  # "Sender 00004" first
    assert load_index(store, key).from_cache
    assert sum(1 for c in store.calls if c[0] == "fetch_sort_values") == 1


def test_the_process_copy_answers_without_reading_the_cache(
        fill: Callable[..., list[int]], monkeypatch: pytest.MonkeyPatch) -> None:
    store = FakeStore()
    uids = fill(store, 5)
    key = IndexKey("u1", "INBOX", SortKey.DATE, True, None)
    load_index(store, key)
    reads: list[str] = []
    real_get = index_module.cache.get
    monkeypatch.setattr(index_module.cache, "get",
                        lambda k, *a, **kw: reads.append(k) or real_get(k, *a, **kw))
    again = load_index(store, key)
    assert again.from_cache and list(again.uids) == uids[::-1] and reads == []
    # Another process changed the folder: STATUS differs, the copy is not used.
    new = store.append("INBOX", make_message(subject="new"))
    fresh = load_index(store, key)
    assert fresh.uids[0] == new and reads  # read the shared entry to catch up or re-sort
    # Another process holds a copy too: the shared entry alone is enough when ours is gone.
    index_module.recent.clear()
    reads.clear()
    shared = load_index(store, key)
    assert shared.from_cache and shared.uids[0] == new and reads
    assert _sorts(store) <= 2


def test_the_process_copies_stay_within_their_byte_budget() -> None:
    recent: BoundedLRU[str] = BoundedLRU(limit=1000)
    recent.put("a", "A", 400)
    recent.put("b", "B", 400)
    assert recent.get("a") == "A"  # a is now the most recently used
    recent.put("c", "C", 400)  # 1,200 bytes: b goes
    assert recent.get("b") is None and recent.get("a") == "A" and recent.get("c") == "C"
    assert recent.size == 800
    recent.put("huge", "H", 1001)  # over the budget alone: not kept, nothing else dropped
    assert recent.get("huge") is None and recent.size == 800
    recent.put("a", "A2", 100)  # replaced, its size counted once
    assert recent.get("a") == "A2" and recent.size == 500
    clear_all()
    assert recent.get("c") is None and recent.size == 0


def test_a_process_copy_is_used_only_for_the_status_it_was_made_for(
        fill: Callable[..., list[int]]) -> None:
    store = FakeStore()
    fill(store, 3)
    key = IndexKey("u1", "INBOX", SortKey.DATE, True, None)
    first = load_index(store, key)
    cache_key = key.cache_key(first.status.uidvalidity)
    stale = dataclasses.replace(first.status, uidnext=first.status.uidnext + 1)
    assert index_module._recent_get(cache_key, first.status) is not None
    assert index_module._recent_get(cache_key, stale) is None


def test_the_process_budgets_come_from_the_settings(settings: Any) -> None:
    from webmail.mail import bodies

    assert index_module.recent.limit == settings.WEBMAIL_LOCAL_INDEX_CACHE_MB * 1024 * 1024
    assert bodies.recent.limit == settings.WEBMAIL_LOCAL_BODY_CACHE_MB * 1024 * 1024
    off: BoundedLRU[str] = BoundedLRU(limit=0)  # a budget of 0 MB keeps nothing
    off.put("k", "v", 1)
    assert off.get("k") is None
