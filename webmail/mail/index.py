"""The folder index: a folder's sorted UID list, cached, so a page costs one small FETCH.

A mailbox page needs the UIDs of its 50 rows in the chosen order. Asking the server to sort the
whole folder on every page view costs the sort (150-200 ms warm on a 100,000-message Dovecot
folder, seconds cold), so the sorted list is kept in the Django cache:

- key: (user, folder, UIDVALIDITY, sort key, direction, search field and text), hashed. A new
  UIDVALIDITY means the server renumbered the folder; the old entries are simply never asked
  for again and expire.
- validity: the (UIDNEXT, MESSAGES) pair from STATUS, stored with the list. A new message
  raises UIDNEXT, an expunge lowers MESSAGES, so any change of membership shows. The order
  depends only on values that never change for a message (arrival time, sender, recipient,
  subject, size, and for searches the text), never on flags, so a flag change (reading a
  message, flagging it) keeps the cached order valid and nothing is re-sorted.
- value: the UIDs as a packed array of 32-bit integers (400 KB for 100,000 messages).

When the folder did change, a store that can (``IncrementalStore``: the IMAP gateway) brings
the cached order up to date instead of re-sorting (``_catch_up``):

- new messages: ``UID SEARCH UID <old UIDNEXT>:*`` (with the search criteria, for a search)
  names them; the server sorts just them (``UID SORT ... UID <set>``), and each is placed in
  the cached order by a binary search whose comparisons are the server's own SORT of small
  UID sets, all new messages in step (about 17 rounds for 100,000 messages, one when they
  all come after the newest, as new mail does). The order is exactly what a full SORT gives;
- expunged messages: QRESYNC's ``UID FETCH 1:<n> (UID) (CHANGEDSINCE <modseq> VANISHED)``
  names the UIDs gone since the entry's HIGHESTMODSEQ; they are dropped.
The result must account for every message STATUS counts, else (and without QRESYNC, or with
more than ``MAX_NEW`` new messages) the folder is re-sorted as before.

Our own moves and deletes patch the entry of the view they came from (``index_remove``)
instead of throwing it away, so deleting a message from a large folder does not re-sort it.
Each page view costs one STATUS; the sort runs only when the folder changed in a way the
catching up cannot follow.

Each web process also keeps the orders it read or wrote last (``recent``, bounded in bytes):
a valid entry is one whose (UIDNEXT, MESSAGES) match STATUS, wherever it was read, so the
process's copy answers without reading 400 KB from the cache again (a message view reads the
order twice: for previous/next and for the list beside it). A copy is only ever used after the
same validity check as the shared entry.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from django.conf import settings
from django.core.cache import cache

from webmail.imap.gateway import MailStore, fallback_order
from webmail.imap.types import FolderStatus, SearchQuery, SortKey
from webmail.localcache import BoundedLRU

INDEX_VERSION = 2
INDEX_TIMEOUT = 6 * 3600
#: More new messages than this (or than a tenth of the folder) are sorted with the rest.
MAX_NEW = 2000


@runtime_checkable
class IncrementalStore(Protocol):
    """What a store offers to catch a cached order up (``webmail.imap.gateway.ImapStore``)."""

    def uids_from(self, folder: str, first_uid: int,
                  query: SearchQuery | None = None) -> list[int]: ...
    def sort_subset(self, folder: str, key: SortKey, uids: Sequence[int]) -> list[int]: ...
    def vanished_since(self, folder: str, modseq: int, last_uid: int,
                       limit: int = 50_000) -> set[int] | None: ...


@dataclass(frozen=True)
class IndexKey:
    user: str
    folder: str
    sort: SortKey
    reverse: bool
    query: SearchQuery | None

    def cache_key(self, uidvalidity: int) -> str:
        query = self.query
        parts = [str(INDEX_VERSION), self.user, self.folder, str(uidvalidity), self.sort.value,
                 "desc" if self.reverse else "asc",
                 query.field.value if query else "", query.text if query else ""]
        digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
        return f"mail:index:{digest}"


@dataclass(frozen=True)
class FolderIndex:
    """A folder's UIDs in display order (of a search: only the hits)."""

    uids: Sequence[int]
    status: FolderStatus
    from_cache: bool

    @property
    def total(self) -> int:
        return len(self.uids)

    def page_count(self, page_size: int) -> int:
        return max(1, -(-self.total // page_size))

    def page(self, number: int, page_size: int) -> list[int]:
        """UIDs of page ``number`` (1-based; clamp it first with ``page_count``)."""
        start = (number - 1) * page_size
        return list(self.uids[start:start + page_size])

    def position(self, uid: int) -> int | None:
        """0-based position of ``uid`` in the order, None when it is not in the list."""
        try:
            return self.uids.index(uid)
        except ValueError:
            return None

    def neighbours(self, uid: int) -> tuple[int | None, int | None]:
        """The UIDs shown before and after ``uid`` (previous, next) in this order."""
        pos = self.position(uid)
        if pos is None:
            return None, None
        before = self.uids[pos - 1] if pos > 0 else None
        after = self.uids[pos + 1] if pos + 1 < len(self.uids) else None
        return before, after


#: Orders this process read or wrote last (cache key -> UIDNEXT, MESSAGES, UIDs); the default
#: 32 MB holds the orders of about 80 folders of 100,000 messages.
recent: BoundedLRU[tuple[int, int, array[int]]] = BoundedLRU(
    settings.WEBMAIL_LOCAL_INDEX_CACHE_MB * 1024 * 1024)


def _recent_get(cache_key: str, status: FolderStatus) -> array[int] | None:
    found = recent.get(cache_key)
    if found is None or found[0] != status.uidnext or found[1] != status.messages:
        return None
    return found[2]


def _recent_put(cache_key: str, status: FolderStatus, uids: array[int]) -> None:
    recent.put(cache_key, (status.uidnext, status.messages, uids), len(uids) * uids.itemsize)


def _unpack(data: bytes) -> array[int]:
    result = array("I")
    result.frombytes(data)
    return result


def load_index(store: MailStore, key: IndexKey) -> FolderIndex:
    """The folder's sorted UIDs, from the cache when still valid, else from the server.

    Raises what the store raises: ``ImapNotFound`` for a missing folder, ``ImapInvalidInput``
    for a bad folder name or search text, ``ImapUnavailable``.
    """
    status = store.folder_status(key.folder)
    cache_key = key.cache_key(status.uidvalidity)
    known = _recent_get(cache_key, status)
    if known is not None:
        return FolderIndex(known, status, from_cache=True)
    entry = cache.get(cache_key)
    if isinstance(entry, tuple) and len(entry) == 4:
        if entry[0] == status.uidnext and entry[1] == status.messages:
            uids = _unpack(entry[2])
            _recent_put(cache_key, status, uids)
            return FolderIndex(uids, status, from_cache=True)
        if isinstance(store, IncrementalStore):
            caught_up = _catch_up(store, key, entry, status)
            if caught_up is not None:
                _store(cache_key, status, caught_up)
                return FolderIndex(caught_up, status, from_cache=False)
    uids = _full_order(store, key, status)
    _store(cache_key, status, uids)
    return FolderIndex(uids, status, from_cache=False)


def _full_order(store: MailStore, key: IndexKey, status: FolderStatus) -> array[int]:
    """The whole order: the server's SORT; without SORT (names, subjects, sizes) the
    gateway's fallback order over sort values kept in the cache per UID, so a rebuild fetches
    the values of new messages only, never every message's headers again."""
    if (key.sort is SortKey.DATE or not isinstance(store, IncrementalStore)
            or "SORT" in store.capabilities()):
        return array("I", store.sorted_uids(key.folder, key.sort, key.reverse, key.query))
    values_key = _values_key(key, status.uidvalidity)
    cached = cache.get(values_key)
    values: dict[int, Any] = cached if isinstance(cached, dict) else {}
    uids = store.uids_from(key.folder, 1, key.query)
    missing = [u for u in uids if u not in values]
    if missing:
        values.update(store.fetch_sort_values(key.folder, key.sort, missing))
    if key.query is None:  # the whole folder: forget the values of messages that are gone
        present = set(uids)
        values = {u: v for u, v in values.items() if u in present}
    cache.set(values_key, values, INDEX_TIMEOUT)
    return array("I", fallback_order(uids, key.sort, key.reverse, values))


def _values_key(key: IndexKey, uidvalidity: int) -> str:
    text = "\x00".join([str(INDEX_VERSION), key.user, key.folder, str(uidvalidity),
                        key.sort.value])
    return "mail:sortvalues:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _store(cache_key: str, status: FolderStatus, uids: array[int]) -> None:
    _recent_put(cache_key, status, uids)
    cache.set(cache_key, (status.uidnext, status.messages, uids.tobytes(),
                          status.highestmodseq), INDEX_TIMEOUT)


def _catch_up(store: IncrementalStore, key: IndexKey, entry: tuple[object, ...],
              status: FolderStatus) -> array[int] | None:
    """The cached order brought up to date with what arrived and what vanished since it was
    made, or None when that is not possible or not cheaper than sorting again."""
    old_uidnext, old_messages, packed, old_modseq = entry
    if not (isinstance(old_uidnext, int) and isinstance(old_messages, int)
            and isinstance(packed, bytes)) or status.uidnext < old_uidnext:
        return None
    uids = _unpack(packed)
    arrived: list[int] = []
    if status.uidnext > old_uidnext:
        # Only below the UIDNEXT this entry will be stored with: a later arrival is for the
        # next catching up.
        arrived = [u for u in store.uids_from(key.folder, old_uidnext) if u < status.uidnext]
        if len(arrived) > min(MAX_NEW, max(50, status.messages // 10)):
            return None
    removed = old_messages + len(arrived) - status.messages
    if removed < 0:
        return None  # the counts disagree (a change under way): sort afresh
    if removed:
        if key.query is not None or not isinstance(old_modseq, int):
            return None
        gone = store.vanished_since(key.folder, old_modseq, old_uidnext - 1)
        if gone is None:
            return None
        uids = array("I", (u for u in uids if u not in gone))
    hits = arrived
    if key.query is not None and arrived:
        hits = [u for u in store.uids_from(key.folder, old_uidnext, key.query)
                if u < status.uidnext]
    ascending = uids[::-1] if key.reverse else uids
    try:
        merged = _insert(store, key, ascending, hits)
    except _Vanished:
        return None
    result = merged[::-1] if key.reverse else merged
    if key.query is None and len(result) != status.messages:
        return None  # something changed that the answers above did not show
    return result


class _Vanished(Exception):
    """A UID of the comparison is gone: the caller sorts afresh."""


def _insert(store: IncrementalStore, key: IndexKey, ascending: array[int],
            new: list[int]) -> array[int]:
    """``new`` placed into ``ascending`` where a full ascending SORT would put them.

    Every comparison is the server's: the new UIDs are sorted among themselves, then all are
    binary-searched in step, each round one SORT of the new UIDs and their probes."""
    if not new:
        return ascending
    count = len(new)
    new = store.sort_subset(key.folder, key.sort, new)
    if len(new) != count:
        raise _Vanished()
    if not ascending:
        return array("I", new)
    last = ascending[-1]
    if store.sort_subset(key.folder, key.sort, [last, new[0]]) == [last, new[0]]:
        return ascending + array("I", new)  # all after the last one: new mail, usually
    low = [0] * len(new)
    high = [len(ascending)] * len(new)
    while True:
        probes = {i: ascending[(low[i] + high[i]) // 2] for i in range(len(new))
                  if low[i] < high[i]}
        if not probes:
            break
        asked = [*new, *set(probes.values())]
        order = store.sort_subset(key.folder, key.sort, asked)
        rank = {uid: n for n, uid in enumerate(order)}
        if len(rank) != len(asked):
            raise _Vanished()  # expunged meanwhile: the comparison is meaningless
        for i, probe in probes.items():
            mid = (low[i] + high[i]) // 2
            if rank[new[i]] > rank[probe]:
                low[i] = mid + 1
            else:
                high[i] = mid
    merged = array("I")
    start = 0
    for i, uid in enumerate(new):  # positions never decrease: new is in order
        merged.extend(ascending[start:low[i]])
        start = low[i]
        merged.append(uid)
    merged.extend(ascending[start:])
    return merged


def index_remove(key: IndexKey, before: FolderStatus, after: FolderStatus,
                 removed: Sequence[int]) -> None:
    """After we moved or expunged ``removed``, drop them from the cached order of ``key`` so it
    stays valid without a re-sort.

    ``before`` and ``after`` are STATUS read around the change. The entry is patched only when
    the folder changed exactly by our removal (same UIDNEXT, MESSAGES down by as many) and the
    entry was valid before; otherwise it is left alone and the next page view re-sorts.
    """
    gone = set(removed)
    if (not gone or after.uidvalidity != before.uidvalidity
            or after.uidnext != before.uidnext
            or after.messages != before.messages - len(gone)):
        return
    cache_key = key.cache_key(before.uidvalidity)
    entry = cache.get(cache_key)
    if not (isinstance(entry, tuple) and len(entry) == 4
            and entry[0] == before.uidnext and entry[1] == before.messages):
        return
    kept = array("I", (u for u in _unpack(entry[2]) if u not in gone))
    _store(cache_key, after, kept)
