"""End to end with a real Celery worker, Redis, Postfix and Dovecot, and the faults that matter.

Every fault test asserts that nothing is lost and nothing is sent twice, counting by
Message-ID at the receiving end (Dovecot for Postfix deliveries, the scripted SMTP server's
transactions otherwise).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db.models import F

from accounts.models import Domain, User
from tests.conftest import Persona, make_message, wait_until
from tests.infra import mailstack
from tests.outbox.conftest import PASSWORD, build
from tests.outbox.smtpserver import ScriptedServer, free_port
from tests.outbox.worker import CeleryWorker, private_broker, restore_route, route_here
from webmail.outbox import services, wakeups
from webmail.outbox.models import (
    AttemptOutcome,
    AttemptStage,
    DeliveryAttempt,
    MessageState,
    OutgoingMessage,
    RecipientState,
)
from webmail.outbox.sweep import outbox_sweep

pytestmark = [pytest.mark.worker, pytest.mark.postfix, pytest.mark.dovecot,
              pytest.mark.django_db(transaction=True)]

NOW = timedelta(0)  # the sweeper's "lost after" threshold, so tests need not wait a minute


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: None, django_db_blocker: Any) -> Iterator[CeleryWorker]:
    """One worker per pytest process, on its own queue, retrying after 1-2 s."""
    with django_db_blocker.unblock():
        worker = CeleryWorker(WEBMAIL_SEND_RETRY_BASE="1", WEBMAIL_SEND_RETRY_MAX="2")
        try:
            yield worker
        finally:
            worker.stop()
            worker.log_path.unlink(missing_ok=True)


@pytest.fixture
def worker(celery_worker: CeleryWorker, mail_stack: None) -> Iterator[CeleryWorker]:
    """The running worker, and this process's publishes routed to its queue for this test
    only (other tests' publishes must not reach it)."""
    old = route_here(celery_worker.queue)
    try:
        celery_worker.start()  # again, if a test killed it
        yield celery_worker
    finally:
        restore_route(old)


def row(message: OutgoingMessage) -> OutgoingMessage:
    return OutgoingMessage.objects.get(pk=message.pk)


def recipient_states(message: OutgoingMessage) -> dict[str, str]:
    return dict(message.recipients.values_list("address", "state"))


def wait_for(predicate: Callable[[], object], worker: CeleryWorker, timeout: float = 30.0) -> None:
    try:
        wait_until(predicate, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker log ---\n{worker.log_tail()}") from None


def enqueue_as(user: User, *to: str, **kwargs: Any) -> OutgoingMessage:
    return services.outgoing_enqueue(user=user, from_email=user.username,
                                      built=build(user.username, to=to), smtp_password=PASSWORD,
                                      **kwargs)


def count_in(address: str, message_id: str, folder: str = "INBOX") -> int:
    return sum(1 for m in mailstack.fetch_messages(address, folder)
               if m.get("Message-ID") == message_id)


def test_delivered_through_postfix_with_one_sent_copy_and_answered(
        worker: CeleryWorker, alice: Persona, bob: Persona) -> None:
    user = User.objects.create(username=alice.address)
    original = alice.append(make_message(sender=bob.address, to=alice.address))
    message = enqueue_as(user, bob.address, origin=("INBOX", original, "reply"))

    mailstack.wait_for_message(bob.address, lambda m: m["Message-ID"] == message.message_id)
    wait_for(lambda: row(message).sent_copy_done, worker)

    assert recipient_states(message) == {bob.address: RecipientState.ACCEPTED}
    assert count_in(bob.address, message.message_id) == 1
    assert count_in(alice.address, message.message_id, "Sent") == 1
    assert "\\Answered" in alice.flags(original)
    final = row(message)
    assert final.state == MessageState.FINISHED
    assert final.credential == ""  # finished and the Sent copy is stored: wiped


def test_unknown_local_user_bounces_at_rcpt_and_the_rest_is_delivered(
        worker: CeleryWorker, alice: Persona, bob: Persona) -> None:
    user = User.objects.create(username=alice.address)
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@{mailstack.DOMAIN}"
    message = enqueue_as(user, bob.address, nobody)

    wait_for(lambda: row(message).state == MessageState.FINISHED, worker)

    assert recipient_states(message) == {bob.address: RecipientState.ACCEPTED,
                                         nobody: RecipientState.BOUNCED}
    bounced = message.recipients.get(address=nobody)
    assert (bounced.smtp_code, bounced.enhanced_status) == (550, "5.1.1")
    assert nobody in bounced.diagnostic
    mailstack.wait_for_message(bob.address, lambda m: m["Message-ID"] == message.message_id)


def test_a_dsn_after_acceptance_is_matched_from_the_inbox(
        worker: CeleryWorker, alice: Persona) -> None:
    from webmail.mailconn import mail_store_for
    from webmail.outbox.bounces import bounce_scan_inbox

    user = User.objects.create(username=alice.address)
    target = f"t-{uuid.uuid4().hex[:8]}@{mailstack.REMOTE_DOMAIN}"
    handler = mailstack.RecordingHandler(
        rcpt_reply=lambda a: "550 5.1.1 mailbox does not exist" if a == target else None)
    with mailstack.remote_smtp_server(handler):
        message = enqueue_as(user, target)
        # Postfix takes it (accepted), tries remote.test, gets 550 and reports back.
        mailstack.wait_for_message(
            alice.address, lambda m: m.get_content_type() == "multipart/report", timeout=40)
    assert target in handler.refused
    assert recipient_states(message) == {target: RecipientState.ACCEPTED}

    with mail_store_for(alice.address, PASSWORD) as store:
        reports = bounce_scan_inbox(store=store, user=user)
        again = bounce_scan_inbox(store=store, user=user)

    assert [r.final_recipient for r in reports] == [target]
    assert again == []
    bounced = message.recipients.get()
    assert bounced.state == RecipientState.BOUNCED
    assert bounced.enhanced_status == "5.1.1"
    assert "mailbox does not exist" in bounced.diagnostic
    assert bounced.smtp_code == 550


@pytest.fixture
def scripted(db: None) -> Iterator[Callable[..., ScriptedServer]]:
    """``scripted(port)``: a scripted SMTP server that example.test's users submit to."""
    servers: list[ScriptedServer] = []

    def make(port: int | None = None, start: bool = True) -> ScriptedServer:
        server = ScriptedServer(port)
        servers.append(server)
        from accounts.models import ServerProfile

        profile = ServerProfile.objects.create(
            name=f"scripted-{server.port}", imap_host="127.0.0.1", imap_port=mailstack.IMAP_PORT,
            imap_security="none", smtp_host="127.0.0.1", smtp_port=server.port,
            smtp_security="none", smtp_auth="none", timeout=5)
        Domain.objects.update_or_create(name=mailstack.DOMAIN, defaults={"profile": profile})
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


def new_user() -> User:
    return User.objects.create(username=mailstack.new_address("t-out"))


def test_server_down_then_back(worker: CeleryWorker, scripted: Any) -> None:
    server = scripted(free_port(), start=False)  # routed, but nothing listens yet
    message = enqueue_as(new_user(), "a@remote.test")
    wait_for(lambda: row(message).state == MessageState.DEFERRED, worker)

    server.start()
    wait_for(lambda: recipient_states(message) == {"a@remote.test": "accepted"}, worker)
    assert server.handler.count(message.message_id) == 1
    outcomes = list(DeliveryAttempt.objects.filter(message=message).order_by("number")
                    .values_list("outcome", flat=True))
    assert outcomes[0] == AttemptOutcome.DEFERRED and outcomes[-1] == AttemptOutcome.ACCEPTED


def _expire_claim(message: OutgoingMessage) -> None:
    """Time passes: the dead worker's claim is older than the claim timeout."""
    OutgoingMessage.objects.filter(pk=message.pk).update(
        claimed_at=F("claimed_at") - timedelta(seconds=settings.WEBMAIL_SEND_CLAIM_TIMEOUT + 5))


def test_worker_killed_during_data_is_unknown_and_not_sent_again(
        worker: CeleryWorker, scripted: Any) -> None:
    server = scripted()
    server.script.data_delay = 4.0  # slow on DATA: the kill lands mid-send
    message = enqueue_as(new_user(), "a@remote.test")
    assert server.handler.data_started.wait(30), worker.log_tail()
    worker.kill()

    stuck = row(message)
    assert stuck.state == MessageState.SENDING
    assert DeliveryAttempt.objects.get(message=message).stage == AttemptStage.DATA
    _expire_claim(message)
    worker.start()
    assert outbox_sweep(lost_after=NOW).reclaimed == 1

    wait_for(lambda: row(message).state == MessageState.FINISHED, worker)
    assert recipient_states(message) == {"a@remote.test": RecipientState.UNKNOWN}
    time.sleep(1.0)
    assert server.handler.count(message.message_id) == 1  # the one interrupted transmission
    assert DeliveryAttempt.objects.get(message=message, number=1).outcome == (
        AttemptOutcome.INTERRUPTED)


def test_worker_killed_before_data_is_retried_once(worker: CeleryWorker, scripted: Any) -> None:
    server = scripted()
    server.script.rcpt_delay = 4.0  # slow at RCPT: the kill lands before DATA
    message = enqueue_as(new_user(), "a@remote.test")
    wait_for(lambda: server.handler.rcpt_seen, worker)
    worker.kill()
    assert DeliveryAttempt.objects.get(message=message).stage != AttemptStage.DATA

    server.script.rcpt_delay = 0.0
    _expire_claim(message)
    worker.start()
    assert outbox_sweep(lost_after=NOW).reclaimed == 1

    wait_for(lambda: recipient_states(message) == {"a@remote.test": "accepted"}, worker)
    assert server.handler.count(message.message_id) == 1


def test_a_publish_that_never_happened_is_recovered_by_the_sweeper(
        worker: CeleryWorker, scripted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = scripted()
    monkeypatch.setattr("webmail.outbox.services.publish_deliver",
                        lambda pk, countdown=None: False)
    message = enqueue_as(new_user(), "a@remote.test")
    time.sleep(1.0)
    assert row(message).state == MessageState.QUEUED  # nobody was told
    monkeypatch.undo()

    assert outbox_sweep(lost_after=NOW).republished == 1
    wait_for(lambda: recipient_states(message) == {"a@remote.test": "accepted"}, worker)
    assert server.handler.count(message.message_id) == 1


def _finished(message: OutgoingMessage) -> bool:
    return row(message).state == MessageState.FINISHED


def test_redis_restart_with_messages_queued(mail_stack: None, scripted: Any) -> None:
    """Redis (a private one: restarting the machine's would disturb every other test) loses
    the queued tasks; the sweeper republishes them and each message arrives once."""
    server = scripted()
    with private_broker() as broker_server:
        worker = CeleryWorker(CELERY_BROKER_URL=broker_server.url,
                              WEBMAIL_SEND_RETRY_BASE="1", WEBMAIL_SEND_RETRY_MAX="2")
        old_route = route_here(worker.queue)
        try:
            user = new_user()
            messages = [enqueue_as(user, f"r{i}@remote.test") for i in range(3)]
            broker = redis.Redis.from_url(broker_server.url)
            # one wake-up for the user's three messages waits in Redis, no worker yet
            assert broker.llen(worker.queue) == 1
            assert wakeups.pending(user.pk)

            broker_server.restart()
            assert broker.llen(worker.queue) == 0  # lost with the restart, the key too
            assert not wakeups.pending(user.pk)
            worker.start()
            time.sleep(1.0)
            assert {row(m).state for m in messages} == {MessageState.QUEUED}

            assert outbox_sweep(lost_after=NOW).republished == 3
            # a message sent after the restart publishes a wake-up of its own at once
            messages.append(enqueue_as(user, "r3@remote.test"))
            for m in messages:
                wait_for(partial(_finished, m), worker)
            for m in messages:
                assert set(recipient_states(m).values()) == {RecipientState.ACCEPTED}
                assert server.handler.count(m.message_id) == 1
        finally:
            worker.stop()
            restore_route(old_route)
