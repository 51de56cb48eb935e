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

Our own moves and deletes patch the entry of the view they came from (``index_remove``)
instead of throwing it away, so deleting a message from a large folder does not re-sort it.
Each page view costs one STATUS; the sort runs only when the folder changed.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.cache import cache

from webmail.imap.gateway import MailStore
from webmail.imap.types import FolderStatus, SearchQuery, SortKey

INDEX_VERSION = 1
INDEX_TIMEOUT = 6 * 3600


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


def _pack(uids: Iterable[int]) -> bytes:
    return array("I", uids).tobytes()


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
    entry = cache.get(cache_key)
    if (isinstance(entry, tuple) and len(entry) == 3
            and entry[0] == status.uidnext and entry[1] == status.messages):
        return FolderIndex(_unpack(entry[2]), status, from_cache=True)
    uids = store.sorted_uids(key.folder, key.sort, key.reverse, key.query)
    cache.set(cache_key, (status.uidnext, status.messages, _pack(uids)), INDEX_TIMEOUT)
    return FolderIndex(array("I", uids), status, from_cache=False)


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
    if not (isinstance(entry, tuple) and len(entry) == 3
            and entry[0] == before.uidnext and entry[1] == before.messages):
        return
    kept = [u for u in _unpack(entry[2]) if u not in gone]
    cache.set(cache_key, (after.uidnext, after.messages, _pack(kept)), INDEX_TIMEOUT)
