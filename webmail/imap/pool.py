"""Reuse of signed-in IMAP connections across requests in one process.

A new IMAP session costs LOGIN, SELECT and, on large folders, the server re-reading its UID
list (hundreds of ms on 100,000 messages), so a signed-in user's connection is kept and reused:
- at most ``per_user`` connections per (user, server), so the server's limit is never hit;
  a request that finds all in use waits up to ``wait`` seconds, then gets ``ImapUnavailable``;
- an idle connection older than ``idle_timeout`` is logged out (every user's, swept at most
  every ``sweep_every`` seconds by whichever request comes); one idle longer than
  ``check_after`` gets a NOOP before use, and a broken one is replaced by a fresh login;
- thread-safe (one lock, I/O outside it); ``close_user`` ends them at sign-out, including
  those in use at that moment (they are logged out when returned instead of kept).
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
    generation: int = 0  # raised by close_user: stores of an older one are not kept


class ConnectionPool:
    def __init__(self, *, per_user: int = 2, idle_timeout: float = 240.0,
                 check_after: float = 15.0, wait: float = 20.0, sweep_every: float = 5.0,
                 connector: Connector = ImapStore.connect) -> None:
        self.per_user = per_user
        self.idle_timeout = idle_timeout
        self.check_after = check_after
        self.wait = wait
        self.sweep_every = sweep_every
        self._connect = connector
        self._slots: dict[PoolKey, _Slot] = {}
        self._born: dict[int, int] = {}  # id(store in use) -> its slot's generation
        self._last_sweep = time.monotonic()
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
        store, generation = self._acquire(key, server, credentials)
        with self._cond:
            self._born[id(store)] = generation
        try:
            yield store
        except ImapUnavailable:
            store.broken = True
            raise
        finally:
            self._release(key, store)

    def _acquire(self, key: PoolKey, server: ServerAddress,
                 credentials: Credentials) -> tuple[ImapStore, int]:
        deadline = time.monotonic() + self.wait
        while True:
            candidate: tuple[ImapStore, float] | None = None
            with self._cond:
                self._sweep()
                slot = self._slots.setdefault(key, _Slot())
                self._reap(slot)
                generation = slot.generation
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
                    # Every lease starts caught up: a NOOP makes the server report what
                    # other sessions did to the selected folder (``refresh``, which also
                    # forgets the previous request's STATUS answers), and one after a long
                    # idle proves the connection still works.
                    try:
                        if time.monotonic() - last_used > self.check_after:
                            store.noop()
                        else:
                            store.refresh()
                    except ImapError:
                        store.logout()
                        return self._connect(server, credentials), generation
                    return store, generation
                return self._connect(server, credentials), generation
            except BaseException:
                with self._cond:
                    slot.in_use -= 1
                    self._cond.notify()
                raise

    def _release(self, key: PoolKey, store: ImapStore) -> None:
        with self._cond:
            slot = self._slots.setdefault(key, _Slot())
            slot.in_use -= 1
            keep = not store.broken and self._born.pop(id(store), -1) == slot.generation
            if keep:
                slot.idle.append((store, time.monotonic()))
            self._cond.notify()
        if not keep:
            store.logout()

    def _sweep(self) -> None:
        """Reap idle connections of every user now and then (called with the lock held), so a
        user who never comes back does not keep a server session open."""
        now = time.monotonic()
        if now - self._last_sweep < self.sweep_every:
            return
        self._last_sweep = now
        for key, slot in list(self._slots.items()):
            self._reap(slot)
            if not slot.idle and slot.in_use == 0:
                del self._slots[key]

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
        """Log out every connection of this user (sign-out): idle ones now, those in use when
        they are returned."""
        closing: list[ImapStore] = []
        with self._cond:
            for key, slot in list(self._slots.items()):
                if key[0] == username.lower():
                    closing.extend(store for store, _ in slot.idle)
                    slot.idle = []
                    slot.generation += 1
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
