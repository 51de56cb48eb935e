"""The delivery console: counts per user and domain, bounces, bulk retry and cancel, purge."""

from __future__ import annotations

import secrets
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from accounts.delivery_stats import delivery_summary, period_start
from accounts.models import AuditEntry, User
from accounts.retention import outbox_purge
from webmail.outbox.models import (
    DeliveryAttempt,
    MessageState,
    OutgoingMessage,
    OutgoingRecipient,
    RecipientState,
)

pytestmark = pytest.mark.django_db


def _message(user: User, states: list[str], *, state: str = MessageState.FINISHED,
             subject: str = "Report", age: timedelta = timedelta(0)) -> OutgoingMessage:
    token = secrets.token_hex(8)
    message = OutgoingMessage.objects.create(
        user=user, from_email=user.username, envelope_from=user.username,
        message_id=f"<{token}@example.test>", envelope_id=token, subject=subject,
        raw=b"Subject: x\r\n\r\nbody\r\n", size=20, state=state,
        completed_at=timezone.now() - age if state in (MessageState.FINISHED,
                                                       MessageState.CANCELLED) else None)
    if age:
        OutgoingMessage.objects.filter(pk=message.pk).update(created=timezone.now() - age)
    for index, rcpt_state in enumerate(states):
        OutgoingRecipient.objects.create(
            message=message, address=f"r{index}-{token}@remote.test", state=rcpt_state,
            smtp_code=550 if rcpt_state == RecipientState.BOUNCED else 250,
            enhanced_status="5.1.1" if rcpt_state == RecipientState.BOUNCED else "2.0.0",
            diagnostic="550 5.1.1 <user>: Recipient address rejected"
            if rcpt_state == RecipientState.BOUNCED else "")
    DeliveryAttempt.objects.create(message=message, number=1, outcome="accepted",
                                   server="127.0.0.1:10025", smtp_code=250, detail="250 ok")
    return message


@pytest.fixture
def senders(db: None) -> tuple[User, User, User]:
    return (User.objects.create(username="ann@one.test"),
            User.objects.create(username="ben@one.test"),
            User.objects.create(username="cat@two.test"))


def test_summary_counts_per_user_and_domain(senders: tuple[User, User, User]) -> None:
    ann, ben, cat = senders
    _message(ann, ["accepted", "delivered", "bounced"])
    _message(ben, ["deferred", "delayed"], state=MessageState.DEFERRED)
    _message(cat, ["failed", "cancelled"])
    _message(cat, ["accepted"], age=timedelta(days=10))  # only in the 30-day view
    week = delivery_summary(since=period_start("7d"))
    by_user = {r.key: r.counts for r in week.per_user}
    assert by_user["ann@one.test"] == {"accepted": 2, "deferred": 0, "bounced": 1,
                                       "failed": 0, "other": 0}
    assert by_user["ben@one.test"]["deferred"] == 2
    assert by_user["cat@two.test"] == {"accepted": 0, "deferred": 0, "bounced": 0,
                                       "failed": 1, "other": 1}
    by_domain = {r.key: r.counts for r in week.per_domain}
    assert by_domain["one.test"]["accepted"] == 2 and by_domain["one.test"]["deferred"] == 2
    assert week.totals.total == 7
    month = delivery_summary(since=period_start("30d"))
    assert {r.key: r.counts for r in month.per_domain}["two.test"]["accepted"] == 1


def test_summary_and_bounced_pages(staff_client: Client, senders: tuple[User, User, User]
                                   ) -> None:
    ann, _ben, cat = senders
    bounced = _message(ann, ["bounced", "accepted"], subject="Quarterly numbers")
    _message(cat, ["accepted"])
    page = staff_client.get("/admin/outbox/outgoingmessage/summary/?period=today")
    text = page.content.decode()
    assert page.status_code == 200 and "one.test" in text and "ann@one.test" in text
    assert f"user={ann.pk}&amp;outcome=bounced" in text
    # The link's filters work on the message list.
    listing = staff_client.get(f"/admin/outbox/outgoingmessage/?period=today&user={ann.pk}"
                               "&outcome=bounced").content.decode()
    assert "Quarterly numbers" in listing and "1 accepted, 1 bounced" in listing
    assert staff_client.get("/admin/outbox/outgoingmessage/?domain=two.test"
                            ).content.decode().count("cat@two.test") >= 1
    bounces = staff_client.get("/admin/outbox/outgoingmessage/bounced/").content.decode()
    address = bounced.recipients.get(state="bounced").address
    assert address in bounces and "Recipient address rejected" in bounces
    assert "5.1.1" in bounces and "ann@one.test" in bounces
    assert bounced.recipients.get(state="accepted").address not in bounces
    # The message page shows attempts and the server's replies.
    detail = staff_client.get(f"/admin/outbox/outgoingmessage/{bounced.pk}/change/")
    assert b"250 ok" in detail.content and b"Recipient address rejected" in detail.content


def test_bulk_cancel_and_retry_use_the_outbox_services(staff_client: Client,
                                                       staff_user: User,
                                                       senders: tuple[User, User, User]
                                                       ) -> None:
    ann, ben, _cat = senders
    queued = _message(ann, ["queued"], state=MessageState.QUEUED)
    deferred = _message(ben, ["deferred"], state=MessageState.DEFERRED)
    done = _message(ann, ["accepted"])
    response = staff_client.post("/admin/outbox/outgoingmessage/", {
        "action": "retry_now", "_selected_action": [str(deferred.pk), str(done.pk)]})
    assert response.status_code == 302
    deferred.refresh_from_db()
    assert deferred.next_attempt_at is not None
    assert deferred.next_attempt_at <= timezone.now()
    response = staff_client.post("/admin/outbox/outgoingmessage/", {
        "action": "cancel_sending", "_selected_action": [str(queued.pk), str(done.pk)]},
        follow=True)
    assert b"1 message(s) cancelled; 1 were being sent or done." in response.content
    queued.refresh_from_db()
    done.refresh_from_db()
    assert queued.state == MessageState.CANCELLED
    assert queued.recipients.get().state == RecipientState.CANCELLED
    assert done.state == MessageState.FINISHED
    details = list(AuditEntry.objects.filter(kind="admin_change", actor=staff_user)
                   .values_list("detail", flat=True))
    assert f"retry 1 outgoing message(s): ids [{deferred.pk}]" in details
    assert f"cancel 1 outgoing message(s): ids [{queued.pk}]" in details


def test_purge_deletes_only_final_rows_past_retention(senders: tuple[User, User, User]
                                                     ) -> None:
    ann, _ben, _cat = senders
    old_done = _message(ann, ["accepted"], age=timedelta(days=40))
    old_cancelled = _message(ann, ["cancelled"], state=MessageState.CANCELLED,
                             age=timedelta(days=40))
    old_deferred = _message(ann, ["deferred"], state=MessageState.DEFERRED,
                            age=timedelta(days=40))
    recent = _message(ann, ["accepted"], age=timedelta(days=5))
    assert outbox_purge(days=30) == 2
    remaining = set(OutgoingMessage.objects.values_list("pk", flat=True))
    assert remaining == {old_deferred.pk, recent.pk}
    assert not DeliveryAttempt.objects.filter(message_id__in=[old_done.pk, old_cancelled.pk]
                                              ).exists()
    assert not OutgoingRecipient.objects.filter(message_id=old_done.pk).exists()
    with pytest.raises(ValueError):
        outbox_purge(days=0)


def test_purge_outbox_command(senders: tuple[User, User, User], settings: Any) -> None:
    ann, _ben, _cat = senders
    _message(ann, ["accepted"], age=timedelta(days=12))
    _message(ann, ["accepted"], age=timedelta(days=3))
    settings.WEBMAIL_OUTBOX_RETENTION_DAYS = 90
    out = StringIO()
    call_command("purge_outbox", "--days", "10", stdout=out)
    assert "deleted 1 outgoing message(s) older than 10 day(s)" in out.getvalue()
    assert OutgoingMessage.objects.count() == 1
    with pytest.raises(CommandError):
        call_command("purge_outbox", "--days", "0", stdout=StringIO())
