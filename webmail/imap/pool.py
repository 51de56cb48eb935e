"""Reuse of signed-in IMAP connections across requests in one process.

A new IMAP session costs LOGIN, SELECT and, on large folders, the server re-reading its UID
list (hundreds of ms on 100,000 messages), so a signed-in user's connection is kept and reused:
- at most ``per_user`` connections per (user, server), so the server's limit is never hit;
  a request that finds all in use waits up to ``wait`` seconds, then gets ``ImapUnavailable``;
- an idle connection older than ``idle_timeout`` is logged out; one idle longer than
  ``check_after`` gets a NOOP before use, and a broken one is replaced by a fresh login;
- thread-safe (one lock, I/O outside it); ``close_user`` ends them at sign-out.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from webmail.imap.errors import ImapError, ImapUnavailable
from webmail.imap.gateway import ImapStore
from webmail.imap.types import Credentials, ServerAddress

Connector = Callable[[ServerAddress, Credentials], ImapStore]
PoolKey = tuple[str, str, int, str]


@dataclass
class _Slot:
    idle: list[tuple[ImapStore, float]] = field(default_factory=list)
    in_use: int = 0


class ConnectionPool:
    def __init__(self, *, per_user: int = 2, idle_timeout: float = 240.0,
                 check_after: float = 15.0, wait: float = 20.0,
                 connector: Connector = ImapStore.connect) -> None:
        self.per_user = per_user
        self.idle_timeout = idle_timeout
        self.check_after = check_after
        self.wait = wait
        self._connect = connector
        self._slots: dict[PoolKey, _Slot] = {}
        self._cond = threading.Condition()

    @staticmethod
    def _key(server: ServerAddress, credentials: Credentials) -> PoolKey:
        # A digest of the password makes a changed password open a fresh connection; the
        # digest lives only in this process's memory.
        secret = hashlib.sha256(
            f"{credentials.username}\0{credentials.password}".encode()).hexdigest()
        return (credentials.username.lower(), server.host, server.port, secret)

    @contextlib.contextmanager
    def connection(self, server: ServerAddress, credentials: Credentials) -> Iterator[ImapStore]:
        """A logged-in store for this user; raises what ``ImapStore.connect`` raises."""
        key = self._key(server, credentials)
        store = self._acquire(key, server, credentials)
        try:
            yield store
        except ImapUnavailable:
            store.broken = True
            raise
        finally:
            self._release(key, store)

    def _acquire(self, key: PoolKey, server: ServerAddress,
                 credentials: Credentials) -> ImapStore:
        deadline = time.monotonic() + self.wait
        while True:
            candidate: tuple[ImapStore, float] | None = None
            with self._cond:
                slot = self._slots.setdefault(key, _Slot())
                self._reap(slot)
                if slot.idle:
                    candidate = slot.idle.pop()
                    slot.in_use += 1
                elif slot.in_use < self.per_user:
                    slot.in_use += 1
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ImapUnavailable("too many mail connections in use; try again")
                    self._cond.wait(remaining)
                    continue
            try:
                if candidate is not None:
                    store, last_used = candidate
                    if time.monotonic() - last_used > self.check_after:
                        try:
                            store.noop()
                        except ImapError:
                            store.logout()
                            return self._connect(server, credentials)
                    return store
                return self._connect(server, credentials)
            except BaseException:
                with self._cond:
                    slot.in_use -= 1
                    self._cond.notify()
                raise

    def _release(self, key: PoolKey, store: ImapStore) -> None:
        with self._cond:
            slot = self._slots.setdefault(key, _Slot())
            slot.in_use -= 1
            if not store.broken:
                slot.idle.append((store, time.monotonic()))
            self._cond.notify()
        if store.broken:
            store.logout()

    def _reap(self, slot: _Slot) -> None:
        now = time.monotonic()
        keep = []
        for store, last_used in slot.idle:
            if now - last_used > self.idle_timeout:
                threading.Thread(target=store.logout, daemon=True).start()
            else:
                keep.append((store, last_used))
        slot.idle = keep

    def close_user(self, username: str) -> None:
        """Log out every idle connection of this user (sign-out)."""
        closing: list[ImapStore] = []
        with self._cond:
            for key, slot in list(self._slots.items()):
                if key[0] == username.lower():
                    closing.extend(store for store, _ in slot.idle)
                    slot.idle = []
                    if slot.in_use == 0:
                        del self._slots[key]
        for store in closing:
            store.logout()

    def close_all(self) -> None:
        with self._cond:
            stores = [s for slot in self._slots.values() for s, _ in slot.idle]
            self._slots.clear()
        for store in stores:
            store.logout()

    def idle_count(self, username: str) -> int:
        with self._cond:
            return sum(len(s.idle) for k, s in self._slots.items() if k[0] == username.lower())
