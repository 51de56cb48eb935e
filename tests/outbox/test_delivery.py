"""outgoing_deliver: the claim, per-recipient outcomes, retries, recovery, credential wipe.

SMTP is a real loopback server (aiosmtpd, scripted) routed in through a domain profile, except
where a fake transport is the clearer way to reach a race.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from accounts.models import Domain
from tests.outbox.conftest import PASSWORD, Published, build, new_user
from tests.outbox.smtpserver import ScriptedServer, free_port
from webmail.imap.types import Credentials, ServerAddress
from webmail.outbox import services
from webmail.outbox.delivery import claim, outgoing_deliver
from webmail.outbox.models import (
    AttemptOutcome,
    AttemptStage,
    DeliveryAttempt,
    MessageState,
    OutgoingMessage,
    RecipientState,
)
from webmail.outbox.smtp import Envelope, Outcome, RecipientResult, Stage, SubmitResult

pytestmark = pytest.mark.django_db

Route = Callable[..., Domain]


@pytest.fixture
def routed(smtp_server: ScriptedServer, route_smtp: Route) -> ScriptedServer:
    route_smtp("example.test", smtp_server.port)
    return smtp_server


def enqueue(to: tuple[str, ...] = ("a@remote.test",), password: str | None = PASSWORD,
            **kwargs: Any) -> OutgoingMessage:
    user = new_user()
    return services.outgoing_enqueue(user=user, from_email=user.username,
                                      built=build(user.username, to=to, **kwargs),
                                      smtp_password=password)


def states_of(message: OutgoingMessage) -> dict[str, str]:
    return dict(message.recipients.values_list("address", "state"))


def make_due(message: OutgoingMessage) -> None:
    OutgoingMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_partial_refusal_is_recorded_and_only_the_deferred_are_retried(
        routed: ScriptedServer, published: Published,
        django_capture_on_commit_callbacks: Any) -> None:
    routed.script.rcpt = {"soft@remote.test": "451 4.3.0 try again later",
                          "gone@remote.test": "550 5.1.1 mailbox does not exist"}.get
    message = enqueue(to=("ok@remote.test", "soft@remote.test", "gone@remote.test"))

    with django_capture_on_commit_callbacks(execute=True):
        report = outgoing_deliver(message.pk)

    assert report.claimed
    assert report.recipients == {"ok@remote.test": RecipientState.ACCEPTED,
                                 "soft@remote.test": RecipientState.DEFERRED,
                                 "gone@remote.test": RecipientState.BOUNCED}
    message.refresh_from_db()
    assert message.state == MessageState.DEFERRED
    assert message.claim_token == ""
    assert message.next_attempt_at is not None and message.next_attempt_at > timezone.now()
    gone = message.recipients.get(address="gone@remote.test")
    assert (gone.smtp_code, gone.enhanced_status, gone.remote_mta) == (
        550, "5.1.1", "mx.scripted.test")
    assert "mailbox does not exist" in gone.diagnostic
    (attempt,) = DeliveryAttempt.objects.filter(message=message)
    assert attempt.outcome == AttemptOutcome.PARTIAL
    assert attempt.finished is not None
    assert {r["address"]: r["code"] for r in attempt.results} == {
        "ok@remote.test": 250, "soft@remote.test": 451, "gone@remote.test": 550}
    # the retry is scheduled with the backoff, the Sent copy is asked for
    ((pk, countdown),) = published.deliver
    assert pk == message.pk and countdown is not None and countdown > 0
    assert published.sent_copy == [message.pk]
    assert message.sent_copy_wanted

    # not due yet: a redelivered task changes nothing
    assert not outgoing_deliver(message.pk).claimed

    routed.script.rcpt = lambda address: None
    routed.handler.rcpt_seen.clear()
    make_due(message)
    report = outgoing_deliver(message.pk)
    assert report.state == MessageState.FINISHED
    assert report.recipients["soft@remote.test"] == RecipientState.ACCEPTED
    assert report.recipients["ok@remote.test"] == RecipientState.ACCEPTED
    # the accepted recipient was never in an envelope again
    assert routed.handler.rcpt_seen == ["soft@remote.test"]
    assert [t.rcpt_tos for t in routed.handler.transactions] == [
        ["ok@remote.test"], ["soft@remote.test"]]
    assert DeliveryAttempt.objects.filter(message=message).count() == 2


def test_server_down_then_back(route_smtp: Route, published: Published) -> None:
    port = free_port()
    route_smtp("example.test", port)
    message = enqueue()

    report = outgoing_deliver(message.pk)
    assert report.recipients == {"a@remote.test": RecipientState.DEFERRED}
    assert report.state == MessageState.DEFERRED
    rcpt = message.recipients.get()
    assert "cannot connect" in rcpt.diagnostic

    server = ScriptedServer(port).start()
    try:
        make_due(message)
        report = outgoing_deliver(message.pk)
    finally:
        server.stop()
    assert report.recipients == {"a@remote.test": RecipientState.ACCEPTED}
    assert server.handler.count(message.message_id) == 1
    outcomes = list(DeliveryAttempt.objects.filter(message=message).values_list(
        "outcome", flat=True))
    assert outcomes == [AttemptOutcome.DEFERRED, AttemptOutcome.ACCEPTED]


def test_connection_lost_after_data_is_unknown_and_never_retried(
        routed: ScriptedServer, published: Published,
        django_capture_on_commit_callbacks: Any) -> None:
    routed.script.drop_after_data = True
    message = enqueue(to=("a@remote.test", "b@remote.test"))

    with django_capture_on_commit_callbacks(execute=True):
        report = outgoing_deliver(message.pk)

    assert set(report.recipients.values()) == {RecipientState.UNKNOWN}
    assert report.state == MessageState.FINISHED
    assert published.deliver == []  # no retry scheduled
    assert published.sent_copy == []  # nothing known to be accepted
    make_due(message)
    assert not outgoing_deliver(message.pk).claimed
    assert routed.handler.count(message.message_id) == 1


def test_credential_is_wiped_at_the_final_state(routed: ScriptedServer,
                                                published: Published) -> None:
    routed.script.rcpt = lambda address: "550 5.1.1 nobody"
    message = enqueue()
    outgoing_deliver(message.pk)
    message.refresh_from_db()
    assert message.state == MessageState.FINISHED
    assert message.credential == ""  # nothing accepted: no Sent copy needs it


def test_credential_kept_for_the_sent_copy_then_wiped(routed: ScriptedServer,
                                                      published: Published) -> None:
    from webmail.outbox.delivery import wipe_credential_if_settled

    message = enqueue()
    outgoing_deliver(message.pk)
    message.refresh_from_db()
    assert message.state == MessageState.FINISHED
    assert message.credential != ""  # the Sent copy still needs to log in
    OutgoingMessage.objects.filter(pk=message.pk).update(sent_copy_done=True)
    assert wipe_credential_if_settled(message.pk)
    message.refresh_from_db()
    assert message.credential == ""


@override_settings(WEBMAIL_SEND_MAX_AGE=60)
def test_gives_up_after_the_maximum_age(route_smtp: Route, published: Published) -> None:
    route_smtp("example.test", free_port())
    message = enqueue()
    OutgoingMessage.objects.filter(pk=message.pk).update(
        created=timezone.now() - timedelta(seconds=59))
    report = outgoing_deliver(message.pk)  # deferred, but no retry fits into the age
    assert report.recipients == {"a@remote.test": RecipientState.FAILED}
    assert report.state == MessageState.FINISHED
    rcpt = message.recipients.get()
    assert rcpt.diagnostic.startswith("gave up after 1 attempt(s)")
    message.refresh_from_db()
    assert message.credential == ""


def test_claim_is_a_compare_and_set(published: Published) -> None:
    message = enqueue()
    now = timezone.now()
    assert claim(message.pk, token="one", worker="w1", now=now)
    assert not claim(message.pk, token="two", worker="w2", now=now)
    message.refresh_from_db()
    assert (message.claim_token, message.claimed_by, message.attempts) == ("one", "w1", 1)
    # an expired claim may be taken over
    later = now + timedelta(seconds=3600)
    assert claim(message.pk, token="three", worker="w3", now=later)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claimers_one_wins(published: Published) -> None:
    message = enqueue()
    barrier = threading.Barrier(2)
    wins: list[bool] = []

    def run(token: str) -> None:
        try:
            barrier.wait()
            wins.append(claim(message.pk, token=token, worker=token, now=timezone.now()))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False, True]


class FakeTransport:
    """Our transport interface, scripted; ``before_data`` is the real DATA fence."""

    def __init__(self, outcome: Outcome = Outcome.ACCEPTED,
                 meddle: Callable[[], None] | None = None,
                 after_data: Callable[[], None] | None = None) -> None:
        self.outcome = outcome
        self.meddle = meddle
        self.after_data = after_data
        self.calls: list[Envelope] = []

    def __call__(self, server: ServerAddress, envelope: Envelope, raw: bytes, *,
                 credentials: Credentials | None = None,
                 before_data: Callable[[], bool] | None = None) -> SubmitResult:
        self.calls.append(envelope)
        if self.meddle:
            self.meddle()
        if before_data is not None and not before_data():
            return SubmitResult(tuple(RecipientResult(a, Outcome.TRANSIENT)
                                      for a in envelope.recipients), Stage.ENVELOPE,
                                aborted=True)
        if self.after_data:
            self.after_data()
        return SubmitResult(tuple(RecipientResult(a, self.outcome, 250, "2.0.0", "ok")
                                  for a in envelope.recipients), Stage.DONE, "fake")


def test_a_worker_that_lost_its_claim_transmits_nothing(published: Published) -> None:
    message = enqueue()

    def steal() -> None:  # another worker reclaims while this one is at RCPT
        OutgoingMessage.objects.filter(pk=message.pk).update(claim_token=uuid.uuid4().hex)

    fake = FakeTransport(meddle=steal)
    outgoing_deliver(message.pk, transport=fake)
    (attempt,) = DeliveryAttempt.objects.filter(message=message)
    assert attempt.outcome == AttemptOutcome.ABANDONED
    assert attempt.stage != AttemptStage.DATA
    # the recipients stay with the other worker's claim
    assert states_of(message) == {"a@remote.test": RecipientState.SENDING}


def test_a_definite_reply_replaces_the_reclaimers_unknown(published: Published) -> None:
    message = enqueue()

    def reclaimed_meanwhile() -> None:
        # this worker stalled in DATA past the claim timeout; another one took the row and,
        # seeing stage "data", settled the recipient as unknown
        OutgoingMessage.objects.filter(pk=message.pk).update(claim_token="other",
                                                             state=MessageState.FINISHED)
        message.recipients.update(state=RecipientState.UNKNOWN)

    outgoing_deliver(message.pk, transport=FakeTransport(after_data=reclaimed_meanwhile))
    assert states_of(message) == {"a@remote.test": RecipientState.ACCEPTED}
    (attempt,) = DeliveryAttempt.objects.filter(message=message)
    assert attempt.outcome == AttemptOutcome.ABANDONED
    assert attempt.results[0]["code"] == 250
    message.refresh_from_db()
    assert message.claim_token == "other"  # the other worker's claim is left alone


@pytest.fixture
def dead_worker_message(published: Published) -> Iterator[Callable[[str], OutgoingMessage]]:
    """A message whose worker died during an attempt that reached ``stage``."""

    def make(stage: str) -> OutgoingMessage:
        message = enqueue()
        long_ago = timezone.now() - timedelta(hours=1)
        OutgoingMessage.objects.filter(pk=message.pk).update(
            state=MessageState.SENDING, claim_token="dead", claimed_by="dead:1",
            claimed_at=long_ago, attempts=1)
        message.recipients.update(state=RecipientState.SENDING)
        DeliveryAttempt.objects.create(message=message, number=1, claim_token="dead",
                                       stage=stage)
        return message

    yield make


def test_reclaim_after_data_marks_unknown(dead_worker_message: Callable[[str], OutgoingMessage],
                                         published: Published) -> None:
    message = dead_worker_message(AttemptStage.DATA)
    fake = FakeTransport()
    report = outgoing_deliver(message.pk, transport=fake)
    assert report.claimed
    assert report.recipients == {"a@remote.test": RecipientState.UNKNOWN}
    assert report.state == MessageState.FINISHED
    assert fake.calls == []  # never sent again
    attempt = DeliveryAttempt.objects.get(message=message, number=1)
    assert attempt.outcome == AttemptOutcome.INTERRUPTED


def test_reclaim_before_data_retries(dead_worker_message: Callable[[str], OutgoingMessage],
                                     published: Published) -> None:
    message = dead_worker_message(AttemptStage.ENVELOPE)
    fake = FakeTransport()
    report = outgoing_deliver(message.pk, transport=fake)
    assert report.recipients == {"a@remote.test": RecipientState.ACCEPTED}
    assert [e.recipients for e in fake.calls] == [("a@remote.test",)]


def test_a_live_claim_is_not_reclaimed(dead_worker_message: Callable[[str], OutgoingMessage],
                                       published: Published) -> None:
    message = dead_worker_message(AttemptStage.ENVELOPE)
    OutgoingMessage.objects.filter(pk=message.pk).update(claimed_at=timezone.now())
    fake = FakeTransport()
    assert not outgoing_deliver(message.pk, transport=fake).claimed
    assert fake.calls == []


def test_smtp_auth_with_the_stored_credential(route_smtp: Route, published: Published) -> None:
    server = ScriptedServer()
    message = enqueue()
    server.script.auth = (message.user.username, PASSWORD)
    server.start()
    try:
        route_smtp("example.test", server.port, auth="user")
        report = outgoing_deliver(message.pk)
    finally:
        server.stop()
    assert report.recipients == {"a@remote.test": RecipientState.ACCEPTED}
    assert server.handler.logins == [message.user.username]


def test_auth_without_a_credential_fails_the_message(route_smtp: Route,
                                                     published: Published) -> None:
    route_smtp("example.test", free_port(), auth="user")
    message = enqueue(password=None)
    report = outgoing_deliver(message.pk)
    assert report.recipients == {"a@remote.test": RecipientState.FAILED}
    assert "sign in again" in message.recipients.get().diagnostic


def test_refused_auth_is_failed_not_bounced(route_smtp: Route, published: Published) -> None:
    server = ScriptedServer()
    server.script.auth = ("someone-else", "x")
    server.start()
    try:
        route_smtp("example.test", server.port, auth="user")
        message = enqueue()
        report = outgoing_deliver(message.pk)
    finally:
        server.stop()
    assert report.recipients == {"a@remote.test": RecipientState.FAILED}
    assert message.recipients.get().smtp_code == 535


def test_cancelled_and_missing_rows_are_not_claimed(published: Published) -> None:
    message = enqueue()
    services.outgoing_cancel(user=message.user, pk=message.pk)
    fake = FakeTransport()
    assert not outgoing_deliver(message.pk, transport=fake).claimed
    assert not outgoing_deliver(10**9, transport=fake).claimed
    assert fake.calls == []


def test_without_a_credential_no_sent_copy_is_attempted(
        routed: ScriptedServer, published: Published,
        django_capture_on_commit_callbacks: Any) -> None:
    message = enqueue(password=None)
    with django_capture_on_commit_callbacks(execute=True):
        report = outgoing_deliver(message.pk)
    assert report.recipients == {"a@remote.test": RecipientState.ACCEPTED}
    assert published.sent_copy == []
    message.refresh_from_db()
    assert message.sent_copy_wanted and "no stored credential" in message.sent_copy_error
