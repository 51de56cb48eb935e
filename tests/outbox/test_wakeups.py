"""Wake-ups (``wakeups``, ``delivery.deliver_and_drain``): one pending task per user, the key
released before the claims, and the races that must lose nothing and send nothing twice.

The gate is real: a private redis-server is the broker for these tests (``private_broker``).
Commits are real too (``transaction=True``), so the enqueue's on-commit hook runs where it
would in production: in the middle of a drain, for instance. SMTP is a fake transport that
counts what it transmitted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from tests.outbox.conftest import PASSWORD, build, new_user
from tests.outbox.worker import PrivateRedis, private_broker, restore_route, route_here
from webmail.imap.types import Credentials, ServerAddress
from webmail.outbox import delivery, services, wakeups
from webmail.outbox.models import MessageState, OutgoingMessage, RecipientState
from webmail.outbox.smtp import Envelope, Outcome, RecipientResult, Stage, SubmitResult
from webmail.outbox.sweep import outbox_sweep

pytestmark = pytest.mark.django_db(transaction=True)

NOW = timedelta(0)


@dataclass
class Publishes:
    deliver: list[tuple[int, float | None]] = field(default_factory=list)
    fail: bool = False

    def __call__(self, pk: int, *, countdown: float | None = None) -> bool:
        if self.fail:
            return False
        self.deliver.append((pk, countdown))
        return True

    @property
    def pks(self) -> list[int]:
        return [pk for pk, _c in self.deliver]


@pytest.fixture
def broker() -> Iterator[PrivateRedis]:
    with private_broker() as server:
        old = route_here(f"wake-test-{server.port}")
        try:
            yield server
        finally:
            restore_route(old)


@pytest.fixture
def publishes(broker: PrivateRedis, monkeypatch: pytest.MonkeyPatch) -> Publishes:
    """Publishes recorded instead of sent; the gate itself is the real one."""
    record = Publishes()
    for module in ("services", "delivery", "sweep"):
        monkeypatch.setattr(f"webmail.outbox.{module}.publish_deliver", record)
    monkeypatch.setattr("webmail.outbox.delivery.publish_sent_copy", lambda pk: True)
    return record


class Transport:
    """A fake SMTP transport: accepts everything behind the real DATA fence; ``during(n)``
    runs while message n (0-based) is being sent."""

    def __init__(self, during: Callable[[int], None] | None = None) -> None:
        self.during = during
        self.transmitted: list[tuple[str, ...]] = []

    def __call__(self, server: ServerAddress, envelope: Envelope, raw: bytes, *,
                 credentials: Credentials | None = None,
                 before_data: Callable[[], bool] | None = None) -> SubmitResult:
        if self.during is not None:
            self.during(len(self.transmitted))
        if before_data is not None and not before_data():
            return SubmitResult(tuple(RecipientResult(a, Outcome.TRANSIENT)
                                      for a in envelope.recipients), Stage.ENVELOPE,
                                aborted=True)
        self.transmitted.append(envelope.recipients)
        return SubmitResult(tuple(RecipientResult(a, Outcome.ACCEPTED, 250, "2.0.0", "ok")
                                  for a in envelope.recipients), Stage.DONE, "fake")


def enqueue(user: User, to: str = "r@remote.test", **kwargs: Any) -> OutgoingMessage:
    return services.outgoing_enqueue(user=user, from_email=user.username,
                                      built=build(user.username, to=(to,)),
                                      smtp_password=PASSWORD, **kwargs)


def accepted(message: OutgoingMessage) -> bool:
    return set(message.recipients.values_list("state", flat=True)) == {RecipientState.ACCEPTED}


# --- the gate --------------------------------------------------------------------------------

def test_one_key_per_user_set_once_until_released(broker: PrivateRedis) -> None:
    assert wakeups.acquire(1) is True
    assert wakeups.acquire(1) is False  # a wake-up is pending: no second publish
    assert wakeups.acquire(2) is True  # another user
    client = wakeups._client()
    assert client is not None and 0 < client.ttl(wakeups.key(1)) <= wakeups.TTL
    wakeups.release(1)
    assert not wakeups.pending(1)
    assert wakeups.acquire(1) is True


def test_the_key_names_queue_and_database(broker: PrivateRedis) -> None:
    here = wakeups.key(7)
    old = route_here("another-queue")
    try:
        assert wakeups.key(7) != here  # a worker of another queue would never release it
    finally:
        restore_route(old)
    assert wakeups.key(7) == here and wakeups.key(8) != here


def test_without_a_redis_broker_every_message_publishes(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    from webmail.celery import app

    monkeypatch.setattr(app.conf, "broker_url", "filesystem://")
    assert wakeups.acquire(1) is True and wakeups.acquire(1) is True
    wakeups.release(1)  # nothing to do


def test_redis_down_fails_open(broker: PrivateRedis) -> None:
    broker.stop()
    try:
        assert wakeups.acquire(3) is True  # publish anyway (that publish then fails too)
        wakeups.release(3)  # logged, not raised
    finally:
        broker.start()


# --- enqueue ---------------------------------------------------------------------------------

def test_a_users_messages_share_one_pending_wake_up(publishes: Publishes) -> None:
    user, other = new_user(), new_user()
    first = enqueue(user, "a@remote.test")
    enqueue(user, "b@remote.test")
    enqueue(user, "c@remote.test")
    theirs = enqueue(other)
    assert publishes.pks == [first.pk, theirs.pk]
    # every row is marked as covered by a publish (the sweeper's clock starts now)
    assert not OutgoingMessage.objects.filter(user=user, published_at__isnull=True).exists()
    wakeups.release(user.pk)  # a worker took the wake-up
    fourth = enqueue(user, "d@remote.test")
    assert publishes.pks[-1] == fourth.pk


def test_a_hold_is_a_countdown_of_its_own_and_leaves_the_gate_alone(
        publishes: Publishes) -> None:
    user = new_user()
    held = enqueue(user, send_at=timezone.now() + timedelta(seconds=10))
    pk, countdown = publishes.deliver[0]
    assert pk == held.pk and countdown is not None and countdown > 5
    assert not wakeups.pending(user.pk)
    now = enqueue(user)
    assert publishes.deliver[-1] == (now.pk, 0.0)


def test_a_failed_publish_releases_the_key(publishes: Publishes) -> None:
    user = new_user()
    publishes.fail = True
    lost = enqueue(user)
    assert not wakeups.pending(user.pk)  # the next message tries again
    publishes.fail = False
    second = enqueue(user)
    assert publishes.pks == [second.pk]
    # the lost one is due and covered by that wake-up's drain or, failing that, the sweeper
    transport = Transport()
    delivery.deliver_and_drain(second.pk, transport=transport)
    assert accepted(lost) and accepted(second) and len(transport.transmitted) == 2


# --- the worker side -------------------------------------------------------------------------

def test_the_task_releases_the_key_and_drains_the_user_in_batches(publishes: Publishes) -> None:
    user, other = new_user(), new_user()
    messages = [enqueue(user, f"r{i}@remote.test") for i in range(5)]
    later = enqueue(user, send_at=timezone.now() + timedelta(hours=1))
    theirs = enqueue(other)
    assert wakeups.pending(user.pk)
    transport = Transport()
    report = delivery.deliver_and_drain(messages[0].pk, transport=transport, batch=2)
    assert report.claimed and report.state == MessageState.FINISHED
    assert not wakeups.pending(user.pk)
    assert all(accepted(m) for m in messages)
    assert len(transport.transmitted) == 5  # each once, in three claims of at most two
    assert OutgoingMessage.objects.get(pk=later.pk).state == MessageState.QUEUED
    assert OutgoingMessage.objects.get(pk=theirs.pk).state == MessageState.QUEUED
    # the wake-ups of messages a drain already took end without sending anything
    assert not delivery.deliver_and_drain(messages[3].pk, transport=transport).claimed
    assert len(transport.transmitted) == 5


def test_a_message_committed_during_a_drain_publishes_nothing_and_is_sent_once(
        publishes: Publishes) -> None:
    user = new_user()
    first = enqueue(user, "a@remote.test")
    late: list[OutgoingMessage] = []

    def enqueue_while_sending(n: int) -> None:
        if n == 0:  # the drain holds the key and is at SMTP with the first message
            assert wakeups.pending(user.pk)
            late.append(enqueue(user, "b@remote.test"))

    transport = Transport(enqueue_while_sending)
    delivery.deliver_and_drain(first.pk, transport=transport)
    assert publishes.pks == [first.pk]  # the running drain is its wake-up ...
    assert accepted(first) and accepted(late[0])  # ... and took it
    assert transport.transmitted == [("a@remote.test",), ("b@remote.test",)]
    assert not wakeups.pending(user.pk)  # handed back at the end


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_message_committed_at_the_drains_release_is_not_lost(
        when: str, publishes: Publishes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The drain found nothing due and hands the key back: a message committed right before
    the delete is seen by the check after it; one committed right after publishes."""
    user = new_user()
    first = enqueue(user, "a@remote.test")
    late: list[OutgoingMessage] = []
    real_release = wakeups.release

    def release(user_id: int) -> None:
        if when == "before" and not late:
            late.append(enqueue(user, "b@remote.test"))  # the key is still set: no publish
        real_release(user_id)
        if when == "after" and not late:
            late.append(enqueue(user, "b@remote.test"))  # the key is gone: a publish

    monkeypatch.setattr(wakeups, "release", release)
    transport = Transport()
    delivery.deliver_and_drain(first.pk, transport=transport)
    assert accepted(first)
    if when == "before":
        # the drain's check after the release saw it, took the key back and sent it
        assert publishes.pks == [first.pk] and accepted(late[0])
        assert len(transport.transmitted) == 2
    else:
        # its enqueue set the key and published; the drain saw the key taken and left it
        assert publishes.pks == [first.pk, late[0].pk]
        monkeypatch.undo()
        delivery.deliver_and_drain(late[0].pk, transport=transport)
        assert accepted(late[0]) and len(transport.transmitted) == 2
    assert not wakeups.pending(user.pk)


def test_a_drain_killed_while_holding_the_key_delays_until_it_expires(
        publishes: Publishes, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setattr(wakeups, "TTL", 1)
    user = new_user()
    wakeups.hold(user.pk)  # a drain runs ... and its worker is killed
    stranded = enqueue(user, "a@remote.test")
    assert publishes.pks == []  # held back by the dead drain's key
    time.sleep(1.2)
    assert not wakeups.pending(user.pk)  # expired: new messages publish again
    fresh = enqueue(user, "b@remote.test")
    assert publishes.pks == [fresh.pk]
    transport = Transport()
    delivery.deliver_and_drain(fresh.pk, transport=transport)
    assert accepted(stranded) and accepted(fresh)  # the drain takes the held-back one too


def test_a_message_committed_before_the_release_is_drained_without_a_publish(
        publishes: Publishes) -> None:
    user = new_user()
    first = enqueue(user, "a@remote.test")
    second = enqueue(user, "b@remote.test")  # the key was set: no publish
    assert publishes.pks == [first.pk]
    transport = Transport()
    delivery.deliver_and_drain(first.pk, transport=transport, batch=1)
    assert accepted(first) and accepted(second)  # the drain's second claim took it


def test_a_wake_up_whose_own_message_is_gone_still_drains(publishes: Publishes) -> None:
    user = new_user()
    first = enqueue(user, "a@remote.test")
    second = enqueue(user, "b@remote.test")
    services.outgoing_cancel(user=user, pk=first.pk)
    transport = Transport()
    assert not delivery.deliver_and_drain(first.pk, transport=transport).claimed
    assert accepted(second) and not wakeups.pending(user.pk)


def test_worker_killed_after_the_release_loses_nothing(publishes: Publishes) -> None:
    user = new_user()
    first = enqueue(user, "a@remote.test")
    second = enqueue(user, "b@remote.test")
    wakeups.release(user.pk)  # ... and the worker died before its claim
    third = enqueue(user, "c@remote.test")  # no key: publishes at once
    assert publishes.pks == [first.pk, third.pk]
    # the two committed before the release wait for the sweeper (their publish is a minute
    # old by then); a duplicate of the third's wake-up is harmless
    report = outbox_sweep(lost_after=NOW)
    assert report.republished == 3
    transport = Transport()
    for pk in publishes.pks[2:]:
        delivery.deliver_and_drain(pk, transport=transport)
    assert all(accepted(m) for m in (first, second, third))
    assert sorted(transport.transmitted) == [("a@remote.test",), ("b@remote.test",),
                                             ("c@remote.test",)]


def test_a_lost_wake_up_is_the_sweepers(publishes: Publishes) -> None:
    user = new_user()
    assert wakeups.acquire(user.pk)  # a wake-up "pending" that never reaches a worker
    message = enqueue(user)
    assert publishes.pks == []  # held back by the stale key
    assert outbox_sweep(lost_after=timedelta(minutes=1)).republished == 0  # fresh publish
    assert outbox_sweep(lost_after=NOW).republished == 1
    transport = Transport()
    delivery.deliver_and_drain(publishes.pks[0], transport=transport)
    assert accepted(message) and len(transport.transmitted) == 1


def test_the_sweeper_publishes_one_wake_up_per_user(publishes: Publishes) -> None:
    user, other = new_user(), new_user()
    mine = [enqueue(user, f"r{i}@remote.test") for i in range(3)]
    theirs = enqueue(other)
    publishes.deliver.clear()
    report = outbox_sweep(lost_after=NOW)
    assert report.republished == 4  # every row marked ...
    assert sorted(publishes.pks) == sorted([mine[0].pk, theirs.pk])  # ... one task a user
    transport = Transport()
    for pk in publishes.pks:
        delivery.deliver_and_drain(pk, transport=transport)
    assert all(accepted(m) for m in [*mine, theirs])


def test_a_long_drain_hands_the_rest_to_a_new_task(publishes: Publishes) -> None:
    user = new_user()
    messages = [enqueue(user, f"r{i}@remote.test") for i in range(3)]
    publishes.deliver.clear()
    transport = Transport()
    taken = delivery.drain(user.pk, transport=transport, batch=1, seconds=0.0)
    assert taken == 1 and len(publishes.pks) == 1  # the next task goes on
    delivery.deliver_and_drain(publishes.pks[0], transport=transport, batch=1)
    assert all(accepted(m) for m in messages) and len(transport.transmitted) == 3
