"""Kept SMTP sessions (``smtp.SmtpSessions``) and batches (``delivery``): one session for many
messages, a broken kept session retried afresh only before anything was transmitted, unknown
after DATA, a claim lost in the middle of a batch, and never a message sent twice.

SMTP is the scripted loopback server (aiosmtpd); a fake transport where a race is clearer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Domain, User
from tests.outbox.conftest import PASSWORD, Published, build, new_user
from tests.outbox.smtpserver import ScriptedServer
from webmail.imap.types import Credentials, Security, ServerAddress
from webmail.outbox import services
from webmail.outbox.delivery import outgoing_deliver
from webmail.outbox.models import (
    AttemptOutcome,
    AttemptStage,
    DeliveryAttempt,
    MessageState,
    OutgoingMessage,
)
from webmail.outbox.smtp import (
    Envelope,
    Outcome,
    RecipientResult,
    SmtpSessions,
    Stage,
    SubmitResult,
)

Route = Callable[..., Domain]


def server_at(port: int) -> ServerAddress:
    return ServerAddress("127.0.0.1", port, Security.NONE, timeout=5)


def raw(n: int) -> bytes:
    return (f"From: a@example.test\r\nTo: b@remote.test\r\nSubject: {n}\r\n"
            f"Message-ID: <kept-{n}-{uuid.uuid4().hex}@example.test>\r\n\r\nbody {n}\r\n"
            ).encode()


ENVELOPE = Envelope("a@example.test", ("b@remote.test",))


# --- kept sessions ---------------------------------------------------------------------------

def test_one_session_carries_many_messages(smtp_server: ScriptedServer) -> None:
    sessions = SmtpSessions()
    try:
        results = [sessions.submit(server_at(smtp_server.port), ENVELOPE, raw(i))
                   for i in range(5)]
        assert [r.recipients[0].outcome for r in results] == [Outcome.ACCEPTED] * 5
        assert sessions.opened == 1
        assert len(smtp_server.handler.transactions) == 5
        assert sessions.idle_count() == 1
    finally:
        sessions.close_all()
    assert sessions.idle_count() == 0


def test_sessions_are_kept_per_login(smtp_server: ScriptedServer) -> None:
    smtp_server.stop()
    smtp_server.script.auth = ("a@example.test", PASSWORD)
    smtp_server.start()
    sessions = SmtpSessions()
    try:
        right = Credentials("a@example.test", PASSWORD)
        wrong = Credentials("a@example.test", "wrong")
        assert sessions.submit(server_at(smtp_server.port), ENVELOPE, raw(1),
                               credentials=right).recipients[0].outcome is Outcome.ACCEPTED
        refused = sessions.submit(server_at(smtp_server.port), ENVELOPE, raw(2),
                                  credentials=wrong)
        assert refused.recipients[0].outcome is Outcome.PERMANENT  # not the kept login
        assert sessions.submit(server_at(smtp_server.port), ENVELOPE, raw(3),
                               credentials=right).recipients[0].outcome is Outcome.ACCEPTED
        assert smtp_server.handler.logins == ["a@example.test"]  # the kept one, reused
    finally:
        sessions.close_all()


def test_a_session_dropped_between_messages_is_replaced(smtp_server: ScriptedServer) -> None:
    sessions = SmtpSessions()
    try:
        first = raw(1)
        assert sessions.submit(server_at(smtp_server.port), ENVELOPE,
                               first).recipients[0].outcome is Outcome.ACCEPTED
        smtp_server.stop()  # the kept session dies with the server
        smtp_server.start()
        second = raw(2)
        result = sessions.submit(server_at(smtp_server.port), ENVELOPE, second)
        assert result.recipients[0].outcome is Outcome.ACCEPTED
        assert sessions.opened == 2
        contents = [t.content for t in smtp_server.handler.transactions]
        assert sum(b"body 2" in c for c in contents) == 1
    finally:
        sessions.close_all()


def test_unknown_after_data_closes_the_session_and_is_not_resent(
        smtp_server: ScriptedServer) -> None:
    sessions = SmtpSessions()
    try:
        assert sessions.submit(server_at(smtp_server.port), ENVELOPE,
                               raw(1)).recipients[0].outcome is Outcome.ACCEPTED
        smtp_server.script.drop_after_data = True
        lost = sessions.submit(server_at(smtp_server.port), ENVELOPE, raw(2))
        assert lost.recipients[0].outcome is Outcome.UNKNOWN
        assert lost.stage is Stage.DATA
        assert sessions.idle_count() == 0  # never reused after an unknown outcome
        assert len(smtp_server.handler.transactions) == 2  # no second try of message 2
        smtp_server.script.drop_after_data = False
        assert sessions.submit(server_at(smtp_server.port), ENVELOPE,
                               raw(3)).recipients[0].outcome is Outcome.ACCEPTED
        assert sessions.opened == 2
    finally:
        sessions.close_all()


def test_refusals_keep_the_session_clean_with_rset(smtp_server: ScriptedServer) -> None:
    sessions = SmtpSessions()
    smtp_server.script.rcpt = lambda a: "550 5.1.1 no such user" if a.startswith("x") else None
    try:
        refused = sessions.submit(server_at(smtp_server.port),
                                  Envelope("a@example.test", ("x@remote.test",)), raw(1))
        assert refused.recipients[0].outcome is Outcome.PERMANENT
        aborted = sessions.submit(server_at(smtp_server.port), ENVELOPE, raw(2),
                                  before_data=lambda: False)
        assert aborted.aborted
        ok = sessions.submit(server_at(smtp_server.port), ENVELOPE, raw(3))
        assert ok.recipients[0].outcome is Outcome.ACCEPTED
        assert sessions.opened == 1
        assert [t.rcpt_tos for t in smtp_server.handler.transactions] == [["b@remote.test"]]
    finally:
        sessions.close_all()


def test_idle_sessions_are_checked_and_closed(smtp_server: ScriptedServer) -> None:
    sessions = SmtpSessions(noop_after=0.0, idle_timeout=0.3)
    try:
        for i in range(2):  # the second use NOOPs first, and the session passes
            assert sessions.submit(server_at(smtp_server.port), ENVELOPE,
                                   raw(i)).recipients[0].outcome is Outcome.ACCEPTED
        assert sessions.opened == 1
        deadline = time.monotonic() + 5
        while sessions.idle_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sessions.idle_count() == 0  # the reaper closed it
    finally:
        sessions.close_all()


def test_a_session_is_used_for_at_most_max_messages(smtp_server: ScriptedServer) -> None:
    sessions = SmtpSessions(max_messages=2)
    try:
        for i in range(5):
            sessions.submit(server_at(smtp_server.port), ENVELOPE, raw(i))
        assert sessions.opened == 3
    finally:
        sessions.close_all()


# --- batches ---------------------------------------------------------------------------------

pytestmark = pytest.mark.django_db


def enqueue_many(user: User, count: int, **kwargs: Any) -> list[OutgoingMessage]:
    return [services.outgoing_enqueue(
        user=user, from_email=user.username,
        built=build(user.username, to=(f"r{i}@remote.test",), subject=f"m{i}"),
        smtp_password=PASSWORD, **kwargs) for i in range(count)]


@pytest.fixture
def routed(smtp_server: ScriptedServer, route_smtp: Route) -> ScriptedServer:
    route_smtp("example.test", smtp_server.port)
    return smtp_server


def test_one_claim_delivers_the_users_due_messages_in_one_session(
        routed: ScriptedServer, published: Published) -> None:
    user = new_user()
    other = new_user()
    messages = enqueue_many(user, 4)
    later = enqueue_many(user, 1, send_at=timezone.now() + timedelta(hours=1))
    not_mine = enqueue_many(other, 1)
    report = outgoing_deliver(messages[0].pk)
    assert report.claimed and report.state == MessageState.FINISHED
    for message in messages:
        message.refresh_from_db()
        assert message.state == MessageState.FINISHED
        assert set(message.recipients.values_list("state", flat=True)) == {"accepted"}
        assert routed.handler.count(message.message_id) == 1
        (attempt,) = DeliveryAttempt.objects.filter(message=message)
        assert attempt.outcome == AttemptOutcome.ACCEPTED and attempt.stage == AttemptStage.DONE
        assert attempt.results[0]["code"] == 250
    # not due, and another user's: left to their own tasks
    assert OutgoingMessage.objects.get(pk=later[0].pk).state == MessageState.QUEUED
    assert OutgoingMessage.objects.get(pk=not_mine[0].pk).state == MessageState.QUEUED
    # the batch's other tasks end at once, sending nothing
    for message in messages[1:]:
        assert not outgoing_deliver(message.pk).claimed
    assert len(routed.handler.transactions) == 4
    assert all(OutgoingMessage.objects.get(pk=m.pk).sent_copy_wanted for m in messages)


def test_batch_size_one_takes_only_its_message(routed: ScriptedServer,
                                               published: Published) -> None:
    messages = enqueue_many(new_user(), 3)
    outgoing_deliver(messages[0].pk, batch=1)
    assert [OutgoingMessage.objects.get(pk=m.pk).state for m in messages] == [
        MessageState.FINISHED, MessageState.QUEUED, MessageState.QUEUED]


class Meddling:
    """A fake transport that calls the real DATA fence; ``meddle(n)`` runs before message
    n's fence (0-based)."""

    def __init__(self, meddle: Callable[[int], None]) -> None:
        self.meddle = meddle
        self.transmitted: list[tuple[str, ...]] = []
        self.calls = 0

    def __call__(self, server: ServerAddress, envelope: Envelope, raw: bytes, *,
                 credentials: Credentials | None = None,
                 before_data: Callable[[], bool] | None = None) -> SubmitResult:
        self.meddle(self.calls)
        self.calls += 1
        if before_data is not None and not before_data():
            return SubmitResult(tuple(RecipientResult(a, Outcome.TRANSIENT)
                                      for a in envelope.recipients), Stage.ENVELOPE,
                                aborted=True)
        self.transmitted.append(envelope.recipients)
        return SubmitResult(tuple(RecipientResult(a, Outcome.ACCEPTED, 250, "2.0.0", "ok")
                                  for a in envelope.recipients), Stage.DONE, "fake")


def test_a_claim_lost_in_the_middle_of_a_batch_stops_only_that_message(
        published: Published) -> None:
    messages = enqueue_many(new_user(), 3)

    def steal_the_third(n: int) -> None:
        if n == 1:  # while message 2 is at RCPT, another worker reclaims message 3
            OutgoingMessage.objects.filter(pk=messages[2].pk).update(claim_token="other")

    fake = Meddling(steal_the_third)
    outgoing_deliver(messages[0].pk, transport=fake)
    assert fake.transmitted == [("r0@remote.test",), ("r1@remote.test",)]
    third = DeliveryAttempt.objects.get(message=messages[2])
    assert third.outcome == AttemptOutcome.ABANDONED and third.stage != AttemptStage.DATA
    # the third stays with the other worker's claim, untouched by this one
    assert OutgoingMessage.objects.get(pk=messages[2].pk).claim_token == "other"
    assert set(messages[2].recipients.values_list("state", flat=True)) == {"sending"}
    for message in messages[:2]:
        assert set(message.recipients.values_list("state", flat=True)) == {"accepted"}


def test_a_connection_lost_after_data_in_a_batch_is_unknown_and_the_rest_goes_on(
        routed: ScriptedServer, published: Published) -> None:
    from webmail.outbox.smtp import SESSIONS

    messages = enqueue_many(new_user(), 3)

    def drop_second(server: ServerAddress, envelope: Envelope, raw: bytes,
                    **kwargs: Any) -> SubmitResult:
        routed.script.drop_after_data = envelope.recipients == ("r1@remote.test",)
        return SESSIONS.submit(server, envelope, raw, **kwargs)

    outgoing_deliver(messages[0].pk, transport=drop_second)
    states = [set(m.recipients.values_list("state", flat=True)) for m in messages]
    assert states == [{"accepted"}, {"unknown"}, {"accepted"}]
    assert [routed.handler.count(m.message_id) for m in messages] == [1, 1, 1]
    second = OutgoingMessage.objects.get(pk=messages[1].pk)
    assert second.state == MessageState.FINISHED  # unknown is never retried
    routed.script.drop_after_data = False
    assert not outgoing_deliver(messages[1].pk).claimed
    assert [routed.handler.count(m.message_id) for m in messages] == [1, 1, 1]


def test_a_dead_batch_is_recovered_per_message(published: Published) -> None:
    """A worker died in the middle of a batch: the message whose DATA had begun becomes
    unknown, the one it had not reached yet is retried."""
    messages = enqueue_many(new_user(), 2)

    class Died(Exception):
        pass

    def die_after_first_fence(server: ServerAddress, envelope: Envelope, raw: bytes, *,
                              credentials: Credentials | None = None,
                              before_data: Callable[[], bool] | None = None) -> SubmitResult:
        assert before_data is not None and before_data()
        raise Died

    with pytest.raises(Died):
        outgoing_deliver(messages[0].pk, transport=die_after_first_fence)
    long_ago = timezone.now() - timedelta(days=1)
    OutgoingMessage.objects.filter(pk__in=[m.pk for m in messages]).update(claimed_at=long_ago)
    fake = Meddling(lambda n: None)
    outgoing_deliver(messages[0].pk, transport=fake, batch=1)
    outgoing_deliver(messages[1].pk, transport=fake, batch=1)
    assert set(messages[0].recipients.values_list("state", flat=True)) == {"unknown"}
    assert set(messages[1].recipients.values_list("state", flat=True)) == {"accepted"}
    assert fake.transmitted == [("r1@remote.test",)]
