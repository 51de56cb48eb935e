"""The sweeper: lost publishes, dead workers, Sent copies, wipes and retention; and the tasks'
JSON contract."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from kombu.utils.json import dumps, loads

from tests.outbox.conftest import PASSWORD, Published, build, new_user
from webmail.outbox import services, tasks
from webmail.outbox.models import MessageState, OutgoingMessage, RecipientState
from webmail.outbox.sweep import outbox_sweep

pytestmark = pytest.mark.django_db


def enqueue() -> OutgoingMessage:
    user = new_user()
    return services.outgoing_enqueue(user=user, from_email=user.username,
                                      built=build(user.username), smtp_password=PASSWORD)


def update(message: OutgoingMessage, **fields: object) -> None:
    OutgoingMessage.objects.filter(pk=message.pk).update(**fields)


def test_a_fresh_publish_is_left_alone_an_old_one_is_repeated(published: Published) -> None:
    message = enqueue()
    assert outbox_sweep().republished == 0  # published a moment ago
    update(message, published_at=timezone.now() - timedelta(minutes=2))
    assert outbox_sweep().republished == 1
    assert published.deliver == [(message.pk, None)]
    assert outbox_sweep().republished == 0  # and not again at the next sweep


def test_a_row_never_published_is_published_when_due(published: Published) -> None:
    message = enqueue()
    update(message, published_at=None, next_attempt_at=timezone.now() + timedelta(hours=1))
    assert outbox_sweep().republished == 0  # scheduled for later
    update(message, next_attempt_at=timezone.now())
    assert outbox_sweep().republished == 1


def test_two_sweeps_at_once_publish_each_row_once(published: Published) -> None:
    message = enqueue()
    update(message, published_at=None)
    now = timezone.now()
    first = outbox_sweep(now=now)
    second = outbox_sweep(now=now)
    assert first.republished + second.republished == 1
    assert [pk for pk, _ in published.deliver] == [message.pk]


def test_expired_claims_are_published_live_ones_not(published: Published) -> None:
    message = enqueue()
    update(message, state=MessageState.SENDING, claimed_at=timezone.now(), claim_token="x",
           published_at=timezone.now() - timedelta(hours=1))
    assert outbox_sweep().reclaimed == 0
    update(message, claimed_at=timezone.now() - timedelta(hours=1))
    assert outbox_sweep().reclaimed == 1
    assert published.deliver == [(message.pk, None)]


def test_cancelled_and_finished_rows_are_never_published(published: Published) -> None:
    old = timezone.now() - timedelta(hours=1)
    for state in (MessageState.CANCELLED, MessageState.FINISHED):
        update(enqueue(), state=state, published_at=old, next_attempt_at=old)
    report = outbox_sweep()
    assert (report.republished, report.reclaimed) == (0, 0)


def test_lost_sent_copies_are_published_then_given_up(published: Published) -> None:
    message = enqueue()
    old = timezone.now() - timedelta(minutes=5)
    update(message, state=MessageState.FINISHED, completed_at=old, sent_copy_wanted=True,
           updated=old)
    assert outbox_sweep().sent_copies == 1
    assert published.sent_copy == [message.pk]
    assert outbox_sweep().sent_copies == 0  # just published
    update(message, completed_at=timezone.now() - timedelta(days=2))
    assert outbox_sweep().sent_copies_given_up == 1
    message.refresh_from_db()
    assert message.sent_copy_error and message.credential == ""


def test_settled_rows_lose_their_credential(published: Published) -> None:
    message = enqueue()
    update(message, state=MessageState.FINISHED, completed_at=timezone.now())
    assert outbox_sweep().wiped == 1
    message.refresh_from_db()
    assert message.credential == ""


@override_settings(WEBMAIL_OUTBOX_RETENTION_DAYS=3)
def test_rows_past_the_retention_are_deleted(published: Published) -> None:
    keep, old, pending = enqueue(), enqueue(), enqueue()
    update(keep, state=MessageState.FINISHED, completed_at=timezone.now() - timedelta(days=2))
    update(old, state=MessageState.FINISHED, completed_at=timezone.now() - timedelta(days=4))
    update(pending, created=timezone.now() - timedelta(days=10))
    assert outbox_sweep().purged == 1
    assert set(OutgoingMessage.objects.values_list("pk", flat=True)) == {keep.pk, pending.pk}


def test_the_management_command_runs_one_sweep(published: Published) -> None:
    update(enqueue(), published_at=None)
    out = StringIO()
    call_command("outbox_sweep", stdout=out)
    assert "republished=1" in out.getvalue()


def test_task_arguments_round_trip_through_json(published: Published) -> None:
    """What the broker carries is the row id only, and it survives JSON."""
    message = enqueue()
    signature = tasks.outgoing_deliver_task.s(message.pk)
    wire = loads(dumps({"args": list(signature.args), "kwargs": signature.kwargs}))
    assert wire == {"args": [message.pk], "kwargs": {}}
    assert json.loads(json.dumps(wire["args"])) == [message.pk]
    # the task body runs from those arguments alone (no SMTP server: deferred)
    update(message, next_attempt_at=timezone.now() - timedelta(seconds=1))
    with override_settings(WEBMAIL_SMTP_PORT=1):
        result = tasks.outgoing_deliver_task(*wire["args"], **wire["kwargs"])
    assert result in (MessageState.DEFERRED, MessageState.FINISHED)
    assert tasks.outgoing_deliver_task(*wire["args"]) == "not claimed"
    assert set(message.recipients.values_list("state", flat=True)) <= {
        RecipientState.DEFERRED, RecipientState.FAILED}
    assert tasks.outgoing_sent_copy_task(message.pk) == "skipped"
    assert isinstance(tasks.outbox_sweep_task(), dict)


def test_the_beat_schedule_names_the_sweep_task() -> None:
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["outbox-sweep"]
    assert entry["task"] == tasks.outbox_sweep_task.name
