"""IMAP connection reuse: one LOGIN for many page views, the per-user cap under threads, broken
and idle connections, sign-out. Counted with a connector spy against the real Dovecot."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.test import Client

from tests.conftest import Persona, make_message, sign_in
from webmail import mailconn
from webmail.imap.gateway import ImapStore
from webmail.imap.pool import ConnectionPool
from webmail.imap.types import Credentials, ServerAddress

pytestmark = pytest.mark.dovecot

SERVER = ServerAddress("127.0.0.1", 10143, timeout=10)


class Spy:
    """A connector that counts the LOGINs it makes (real connections to Dovecot)."""

    def __init__(self) -> None:
        self.logins: list[str] = []
        self.stores: list[ImapStore] = []
        self._lock = threading.Lock()

    def __call__(self, server: ServerAddress, credentials: Credentials) -> ImapStore:
        store = ImapStore.connect(server, credentials)
        with self._lock:
            self.logins.append(credentials.username)
            self.stores.append(store)
        return store


@pytest.fixture
def spy_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ConnectionPool, Spy]]:
    spy = Spy()
    pool = ConnectionPool(per_user=2, connector=spy)
    monkeypatch.setattr(mailconn, "_pool", pool)
    yield pool, spy
    pool.close_all()


def test_one_login_serves_many_page_views(db: None, alice: Persona,
                                          spy_pool: tuple[ConnectionPool, Spy]) -> None:
    pool, spy = spy_pool
    alice.append(make_message(subject="reuse me"))
    client = sign_in(Client(), alice)
    assert spy.logins == [alice.address]  # the sign-in's proven connection went into the pool
    for _ in range(5):
        assert client.get("/mail/INBOX/").status_code == 200
    response = client.get(f"/mail/INBOX/{alice.uids()[0]}/")
    assert response.status_code == 200
    assert spy.logins == [alice.address]
    assert pool.idle_count(alice.address) == 1


def test_sign_out_closes_the_users_connections(db: None, alice: Persona,
                                               spy_pool: tuple[ConnectionPool, Spy]) -> None:
    pool, spy = spy_pool
    client = sign_in(Client(), alice)
    assert client.get("/mail/INBOX/").status_code == 200
    assert pool.idle_count(alice.address) == 1
    client.post("/logout/")
    assert pool.idle_count(alice.address) == 0
    assert all(store.broken for store in spy.stores)


def test_cap_is_respected_under_threads(alice: Persona) -> None:
    spy = Spy()
    pool = ConnectionPool(per_user=2, wait=30, connector=spy)
    credentials = Credentials(alice.address, alice.password)
    active = 0
    peak = 0
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        nonlocal active, peak
        try:
            for _ in range(3):
                with pool.connection(SERVER, credentials) as store:
                    with lock:
                        active += 1
                        peak = max(peak, active)
                    store.folder_status("INBOX")
                    time.sleep(0.02)
                    with lock:
                        active -= 1
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert peak == 2
        assert len(spy.logins) == 2  # 24 uses, two connections
        assert pool.idle_count(alice.address) == 2
    finally:
        pool.close_all()


def test_waiting_past_the_cap_fails_cleanly(alice: Persona) -> None:
    pool = ConnectionPool(per_user=1, wait=0.2, connector=Spy())
    credentials = Credentials(alice.address, alice.password)
    from webmail.imap.errors import ImapUnavailable

    try:
        with pool.connection(SERVER, credentials):
            with pytest.raises(ImapUnavailable):
                with pool.connection(SERVER, credentials):
                    pass
        with pool.connection(SERVER, credentials) as store:  # the slot came back
            store.noop()
    finally:
        pool.close_all()


def test_broken_idle_connection_is_replaced(alice: Persona) -> None:
    spy = Spy()
    pool = ConnectionPool(per_user=2, check_after=0.0, connector=spy)
    credentials = Credentials(alice.address, alice.password)
    try:
        with pool.connection(SERVER, credentials) as store:
            store.folder_status("INBOX")
        # The server or the network dropped it while it sat in the pool.
        spy.stores[0]._client.socket().shutdown(socket.SHUT_RDWR)
        with pool.connection(SERVER, credentials) as store:
            assert store is not spy.stores[0]
            assert store.folder_status("INBOX").messages == 0
        assert len(spy.logins) == 2
        assert pool.idle_count(alice.address) == 1
    finally:
        pool.close_all()


def test_connection_failing_during_a_request_is_not_reused(alice: Persona) -> None:
    from webmail.imap.errors import ImapUnavailable

    spy = Spy()
    pool = ConnectionPool(per_user=2, connector=spy)
    credentials = Credentials(alice.address, alice.password)
    try:
        with pytest.raises(ImapUnavailable):
            with pool.connection(SERVER, credentials) as store:
                store._client.socket().shutdown(socket.SHUT_RDWR)
                store.folder_status("INBOX")
        assert pool.idle_count(alice.address) == 0
        with pool.connection(SERVER, credentials) as store:
            store.noop()
        assert len(spy.logins) == 2
    finally:
        pool.close_all()


def test_idle_connections_of_users_who_left_time_out(alice: Persona, bob: Persona) -> None:
    spy = Spy()
    pool = ConnectionPool(per_user=2, idle_timeout=0.1, sweep_every=0.0, connector=spy)
    try:
        with pool.connection(SERVER, Credentials(alice.address, alice.password)) as store:
            store.noop()
        assert pool.idle_count(alice.address) == 1
        time.sleep(0.2)
        # Alice never comes back; any other request sweeps her connection away.
        with pool.connection(SERVER, Credentials(bob.address, bob.password)) as store:
            store.noop()
        assert pool.idle_count(alice.address) == 0
        assert pool.idle_count(bob.address) == 1
    finally:
        pool.close_all()


def test_sign_out_while_a_request_holds_the_connection(alice: Persona) -> None:
    spy = Spy()
    pool = ConnectionPool(per_user=2, connector=spy)
    credentials = Credentials(alice.address, alice.password)
    try:
        with pool.connection(SERVER, credentials) as store:
            pool.close_user(alice.address)  # another request signs the user out meanwhile
            store.noop()
        assert pool.idle_count(alice.address) == 0
        assert store.broken  # logged out when returned, not kept for the next sign-in
        with pool.connection(SERVER, credentials) as again:
            again.noop()
        assert pool.idle_count(alice.address) == 1
    finally:
        pool.close_all()
