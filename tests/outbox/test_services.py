"""Enqueue and the user's actions: validation, one transaction, publish on commit."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import AuditEntry, Identity
from tests.outbox.conftest import PASSWORD, Published, build, new_user
from webmail import crypto
from webmail.outbox import services
from webmail.outbox.models import (
    MessageState,
    OutgoingMessage,
    RecipientKind,
    RecipientState,
)

pytestmark = pytest.mark.django_db


def test_enqueue_writes_rows_queued_and_publishes_the_id_on_commit(
        published: Published, django_capture_on_commit_callbacks: Any) -> None:
    user = new_user()
    built = build(user.username, to=("a@remote.test",), cc=("b@remote.test",),
                  bcc=("c@remote.test",), subject="Plans")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = services.outgoing_enqueue(user=user, from_email=user.username, built=built,
                                            smtp_password=PASSWORD)
        assert published.deliver == []  # nothing before the commit
    assert len(callbacks) == 1
    assert published.deliver == [(message.pk, 0.0)]
    message.refresh_from_db()
    assert message.state == MessageState.QUEUED
    assert message.subject == "Plans"
    assert bytes(message.raw) == built.raw
    assert message.size == len(built.raw)
    assert message.message_id == built.message_id
    assert message.envelope_from == user.username
    assert len(message.envelope_id) == 32
    kinds = {r.address: (r.kind, r.state) for r in message.recipients.all()}
    assert kinds == {"a@remote.test": (RecipientKind.TO, RecipientState.QUEUED),
                     "b@remote.test": (RecipientKind.CC, RecipientState.QUEUED),
                     "c@remote.test": (RecipientKind.BCC, RecipientState.QUEUED)}
    # the password is stored encrypted, never in plain text
    assert PASSWORD not in message.credential
    assert crypto.decrypt(message.credential, purpose="outbox-smtp") == PASSWORD


def test_the_task_argument_is_the_row_id_and_survives_json(published: Published,
                                                           django_capture_on_commit_callbacks:
                                                           Any) -> None:
    user = new_user()
    with django_capture_on_commit_callbacks(execute=True):
        message = services.outgoing_enqueue(user=user, from_email=user.username,
                                            built=build(user.username), smtp_password=None)
    ((pk, _countdown),) = published.deliver
    assert json.loads(json.dumps([pk])) == [message.pk]


def test_from_must_be_one_of_the_users_identities(published: Published) -> None:
    user = new_user()
    other = "boss@example.test"
    with pytest.raises(services.IdentityNotAllowed):
        services.outgoing_enqueue(user=user, from_email=other, built=build(other),
                                  smtp_password=PASSWORD)
    assert not OutgoingMessage.objects.exists()
    assert AuditEntry.objects.filter(kind=AuditEntry.Kind.SEND_REFUSED, actor=user).exists()

    Identity.objects.create(user=user, email=other, display_name="Boss")
    message = services.outgoing_enqueue(user=user, from_email=other, built=build(other),
                                        smtp_password=PASSWORD)
    assert message.from_email == other


def test_identities_own_address_first() -> None:
    user = new_user()
    Identity.objects.create(user=user, email="zz@example.test")
    Identity.objects.create(user=user, email="aa@example.test", is_default=True)
    emails = [i.email for i in services.identities_for(user)]
    assert emails == [user.username, "aa@example.test", "zz@example.test"]


def test_from_header_must_match_the_identity(published: Published) -> None:
    user = new_user()
    with pytest.raises(services.OutgoingRefused, match="From header"):
        services.outgoing_enqueue(user=user, from_email=user.username,
                                  built=build("someone@else.test"), smtp_password=PASSWORD)


def test_a_bcc_header_in_the_bytes_is_refused(published: Published) -> None:
    user = new_user()
    built = build(user.username)
    leaky = type(built)(**{**built.__dict__,
                           "raw": b"Bcc: hidden@remote.test\r\n" + built.raw})
    with pytest.raises(services.OutgoingRefused, match="Bcc"):
        services.outgoing_enqueue(user=user, from_email=user.username, built=leaky,
                                  smtp_password=PASSWORD)


@override_settings(WEBMAIL_MAX_MESSAGE_BYTES=2048)
def test_size_limit(published: Published) -> None:
    user = new_user()
    with pytest.raises(services.LimitExceeded):
        services.outgoing_enqueue(user=user, from_email=user.username,
                                  built=build(user.username, text="x" * 5000),
                                  smtp_password=PASSWORD)


@override_settings(WEBMAIL_MAX_RECIPIENTS=2)
def test_recipient_limit(published: Published) -> None:
    user = new_user()
    built = build(user.username, to=("a@remote.test", "b@remote.test", "c@remote.test"))
    with pytest.raises(services.LimitExceeded, match="at most 2"):
        services.outgoing_enqueue(user=user, from_email=user.username, built=built,
                                  smtp_password=PASSWORD)


def test_the_same_message_twice_is_already_queued(published: Published) -> None:
    user = new_user()
    built = build(user.username)
    first = services.outgoing_enqueue(user=user, from_email=user.username, built=built,
                                      smtp_password=PASSWORD)
    with pytest.raises(services.AlreadyQueued) as info:
        services.outgoing_enqueue(user=user, from_email=user.username, built=built,
                                  smtp_password=PASSWORD)
    assert info.value.existing_pk == first.pk
    assert OutgoingMessage.objects.count() == 1


def test_origin_is_kept_and_validated(published: Published) -> None:
    user = new_user()
    message = services.outgoing_enqueue(user=user, from_email=user.username,
                                        built=build(user.username), smtp_password=PASSWORD,
                                        origin=("INBOX", 7, "reply"))
    assert (message.origin_folder, message.origin_uid, message.origin_kind) == (
        "INBOX", 7, "reply")
    with pytest.raises(services.OutgoingRefused):
        services.outgoing_enqueue(user=user, from_email=user.username,
                                  built=build(user.username), smtp_password=PASSWORD,
                                  origin=("INBOX", 7, "delete"))


def test_undo_send_hold_is_a_countdown(published: Published,
                                       django_capture_on_commit_callbacks: Any) -> None:
    user = new_user()
    with django_capture_on_commit_callbacks(execute=True):
        message = services.outgoing_enqueue(
            user=user, from_email=user.username, built=build(user.username),
            smtp_password=PASSWORD, send_at=timezone.now() + timedelta(seconds=10))
    ((pk, countdown),) = published.deliver
    assert pk == message.pk
    assert countdown is not None and 8 < countdown <= 10
    assert message.next_attempt_at == message.send_at


def test_a_scheduled_send_is_left_to_the_sweeper(published: Published,
                                                 django_capture_on_commit_callbacks:
                                                 Any) -> None:
    user = new_user()
    with django_capture_on_commit_callbacks(execute=True):
        message = services.outgoing_enqueue(
            user=user, from_email=user.username, built=build(user.username),
            smtp_password=PASSWORD, send_at=timezone.now() + timedelta(hours=3))
    assert published.deliver == []
    assert message.published_at is None


def test_written_to_addresses_are_the_users_own_most_recent_first(published: Published) -> None:
    alice, mallory = new_user("t-alice"), new_user("t-mallory")
    services.outgoing_enqueue(user=alice, from_email=alice.username,
                              built=build(alice.username, to=("ann@remote.test",)),
                              smtp_password=None)
    services.outgoing_enqueue(user=alice, from_email=alice.username,
                              built=build(alice.username, to=("andy@remote.test",),
                                          cc=("Ann@remote.test",)),
                              smtp_password=None)
    services.outgoing_enqueue(user=mallory, from_email=mallory.username,
                              built=build(mallory.username, to=("anna-secret@remote.test",)),
                              smtp_password=None)
    found = services.written_to_addresses(alice, "an", 10)
    assert found[0] in ("andy@remote.test", "Ann@remote.test")
    assert sorted(a.lower() for a in found) == ["andy@remote.test", "ann@remote.test"]
    assert services.written_to_addresses(alice, "an", 1) == found[:1]
    assert services.written_to_addresses(alice, "", 10) == []


def test_cancel_while_queued_wipes_the_credential(published: Published) -> None:
    user = new_user()
    message = services.outgoing_enqueue(user=user, from_email=user.username,
                                        built=build(user.username), smtp_password=PASSWORD)
    services.outgoing_cancel(user=user, pk=message.pk)
    message.refresh_from_db()
    assert message.state == MessageState.CANCELLED
    assert message.credential == ""
    assert set(message.recipients.values_list("state", flat=True)) == {RecipientState.CANCELLED}
    with pytest.raises(services.OutboxActionRefused):
        services.outgoing_cancel(user=user, pk=message.pk)


def test_cancel_and_retry_are_refused_while_sending(published: Published) -> None:
    user = new_user()
    message = services.outgoing_enqueue(user=user, from_email=user.username,
                                        built=build(user.username), smtp_password=PASSWORD)
    OutgoingMessage.objects.filter(pk=message.pk).update(state=MessageState.SENDING)
    with pytest.raises(services.OutboxActionRefused):
        services.outgoing_cancel(user=user, pk=message.pk)
    with pytest.raises(services.OutboxActionRefused):
        services.outgoing_retry_now(user=user, pk=message.pk)


def test_another_users_row_does_not_exist_for_actions(published: Published) -> None:
    alice, mallory = new_user("t-alice"), new_user("t-mallory")
    message = services.outgoing_enqueue(user=alice, from_email=alice.username,
                                        built=build(alice.username), smtp_password=PASSWORD)
    with pytest.raises(OutgoingMessage.DoesNotExist):
        services.outgoing_cancel(user=mallory, pk=message.pk)
    with pytest.raises(OutgoingMessage.DoesNotExist):
        services.outgoing_retry_now(user=mallory, pk=message.pk)
    message.refresh_from_db()
    assert message.state == MessageState.QUEUED


def test_retry_now_makes_a_deferred_message_due(published: Published,
                                                django_capture_on_commit_callbacks: Any) -> None:
    user = new_user()
    message = services.outgoing_enqueue(user=user, from_email=user.username,
                                        built=build(user.username), smtp_password=PASSWORD)
    later = timezone.now() + timedelta(hours=1)
    OutgoingMessage.objects.filter(pk=message.pk).update(state=MessageState.DEFERRED,
                                                         next_attempt_at=later)
    published.deliver.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.outgoing_retry_now(user=user, pk=message.pk)
    message.refresh_from_db()
    assert message.next_attempt_at is not None and message.next_attempt_at <= timezone.now()
    assert published.deliver == [(message.pk, None)]


def test_a_broker_outage_at_publish_does_not_fail_the_send(
        monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    from kombu.exceptions import OperationalError

    from webmail.outbox import publish, tasks

    def broker_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.outgoing_deliver_task, "delay", broker_down)
    user = new_user()
    with django_capture_on_commit_callbacks(execute=True):
        message = services.outgoing_enqueue(user=user, from_email=user.username,
                                            built=build(user.username), smtp_password=PASSWORD)
    assert OutgoingMessage.objects.filter(pk=message.pk, state=MessageState.QUEUED).exists()
    assert "the sweeper will retry" in caplog.text
    assert publish.publish_deliver(message.pk) is False


def test_the_users_hourly_limit_applies_and_a_double_submit_is_not_counted(
        published: Published) -> None:
    user = new_user()
    user.max_messages_per_hour = 1
    user.save()
    built = build(user.username)
    services.outgoing_enqueue(user=user, from_email=user.username, built=built,
                              smtp_password=PASSWORD)
    with pytest.raises(services.AlreadyQueued):  # the same message again: no second slot
        services.outgoing_enqueue(user=user, from_email=user.username, built=built,
                                  smtp_password=PASSWORD)
    with pytest.raises(services.LimitExceeded):
        services.outgoing_enqueue(user=user, from_email=user.username,
                                  built=build(user.username), smtp_password=PASSWORD)
    assert OutgoingMessage.objects.filter(user=user).count() == 1
    assert AuditEntry.objects.filter(kind=AuditEntry.Kind.SEND_REFUSED, actor=user).count() == 1
