"""Sending limits: the stricter of user and domain, audited refusals, safe under concurrency."""

from __future__ import annotations

import threading
import zoneinfo
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accounts.limits import SendLimitExceeded, check_send_allowed, effective_limits
from accounts.models import AuditEntry, Domain, SendRecord, ServerProfile, User


def _domain(name: str, **limits: int | None) -> Domain:
    profile = ServerProfile.objects.create(name=f"p-{name}", imap_host="127.0.0.1",
                                           imap_port=10143, imap_security="none",
                                           smtp_host="127.0.0.1", smtp_port=10025)
    return Domain.objects.create(name=name, profile=profile, **limits)


@pytest.mark.django_db
def test_effective_limit_is_the_stricter_of_user_and_domain(settings: Any) -> None:
    settings.WEBMAIL_SEND_MAX_PER_HOUR = 500
    settings.WEBMAIL_MAX_RECIPIENTS = 100
    settings.WEBMAIL_MAX_MESSAGE_BYTES = 10_000_000
    _domain("limits.test", max_messages_per_hour=50, max_recipients_per_message=None,
            max_message_bytes=2_000_000)
    user = User.objects.create(username="a@limits.test", max_messages_per_hour=80,
                               max_recipients_per_message=10)
    assert effective_limits(user).messages_per_hour == 50  # domain stricter
    assert effective_limits(user).recipients_per_message == 10  # user stricter
    assert effective_limits(user).message_bytes == 2_000_000  # only the domain sets it
    other = User.objects.create(username="b@elsewhere.test")
    limits = effective_limits(other)  # nothing set anywhere: the settings' defaults
    assert (limits.messages_per_hour, limits.recipients_per_message,
            limits.message_bytes) == (500, 100, 10_000_000)
    settings.WEBMAIL_SEND_MAX_PER_HOUR = None
    assert effective_limits(other).messages_per_hour is None  # unlimited


@pytest.mark.django_db
def test_too_many_recipients_and_too_large_are_refused_and_audited() -> None:
    user = User.objects.create(username="c@example.test", max_recipients_per_message=3,
                               max_message_bytes=1024 * 1024)
    check_send_allowed(user=user, recipient_count=3, size=1024 * 1024)
    with pytest.raises(SendLimitExceeded) as too_many:
        check_send_allowed(user=user, recipient_count=4, size=100)
    assert str(too_many.value) == ("You can send a message to at most 3 recipients; "
                                   "this one has 4.")
    with pytest.raises(SendLimitExceeded) as too_big:
        check_send_allowed(user=user, recipient_count=1, size=3 * 1024 * 1024)
    assert str(too_big.value) == "Messages can be at most 1.0\xa0MB; this one is 3.0\xa0MB."
    refusals = AuditEntry.objects.filter(kind="send_refused", actor=user)
    assert refusals.count() == 2
    assert {e.detail.split(":")[0] for e in refusals} == {"recipients", "size"}
    assert SendRecord.objects.filter(user=user).count() == 1  # refusals are not counted


@pytest.mark.django_db
def test_hourly_limit_says_when_to_try_again_in_the_users_zone() -> None:
    user = User.objects.create(username="d@example.test", max_messages_per_hour=2)
    now = timezone.now()
    SendRecord.objects.create(user=user, created=now - timedelta(minutes=50))
    SendRecord.objects.create(user=user, created=now - timedelta(minutes=20))
    SendRecord.objects.create(user=user, created=now - timedelta(minutes=61))  # outside
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    with timezone.override(tokyo), pytest.raises(SendLimitExceeded) as refused:
        check_send_allowed(user=user, recipient_count=1, size=10)
    expected = (now - timedelta(minutes=50) + timedelta(hours=1)).astimezone(tokyo)
    assert str(refused.value) == ("You can send at most 2 messages per hour; try again at "
                                  f"{expected:%H:%M}.")
    assert refused.value.limit == "per_hour"
    assert AuditEntry.objects.filter(kind="send_refused", actor=user,
                                     detail__startswith="per_hour").exists()


@pytest.mark.django_db
def test_the_window_slides() -> None:
    user = User.objects.create(username="e@example.test", max_messages_per_hour=1)
    check_send_allowed(user=user, recipient_count=1, size=10)
    with pytest.raises(SendLimitExceeded):
        check_send_allowed(user=user, recipient_count=1, size=10)
    SendRecord.objects.filter(user=user).update(created=timezone.now() - timedelta(hours=1,
                                                                                   seconds=1))
    check_send_allowed(user=user, recipient_count=1, size=10)
    assert SendRecord.objects.filter(user=user).count() == 1  # expired rows are cleaned up


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("limit,senders", [(1, 2), (3, 8)])
def test_concurrent_sends_never_pass_the_limit(limit: int, senders: int) -> None:
    """Threads with their own database connections send at the same moment; exactly
    ``limit`` get through and the count in the database agrees."""
    user = User.objects.create(username=f"t-burst{limit}@example.test",
                               max_messages_per_hour=limit)
    barrier = threading.Barrier(senders)
    allowed: list[int] = []
    refused: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def send(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            check_send_allowed(user=user, recipient_count=1, size=100)
        except SendLimitExceeded:
            with lock:
                refused.append(index)
        except BaseException as exc:  # reported below, with the thread's traceback
            with lock:
                errors.append(exc)
        else:
            with lock:
                allowed.append(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(allowed) == limit and len(refused) == senders - limit
    assert SendRecord.objects.filter(user=user).count() == limit
    assert AuditEntry.objects.filter(kind="send_refused", actor=user).count() == (
        senders - limit)


@pytest.mark.django_db(transaction=True)
def test_count_send_commits_and_rolls_back_with_the_callers_transaction() -> None:
    from django.db import transaction

    from accounts.limits import count_send

    user = User.objects.create(username="f@example.test", max_messages_per_hour=1)

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        assert count_send(user=user, recipient_count=1, size=10) is None
        raise Undo  # the message's insert failed: the slot is given back
    assert not SendRecord.objects.filter(user=user).exists()
    with transaction.atomic():
        assert count_send(user=user, recipient_count=1, size=10) is None
    refusal = count_send(user=user, recipient_count=1, size=10)
    assert refusal is not None and refusal.limit == "per_hour"
    assert not AuditEntry.objects.filter(actor=user).exists()  # the caller audits it


@pytest.mark.django_db
@pytest.mark.parametrize("hourly", [None, 5])
def test_the_check_is_a_few_plain_statements_however_long_the_history(
        hourly: int | None, django_assert_max_num_queries: Any) -> None:
    from accounts.limits import count_send

    user = User.objects.create(username=f"g{hourly}@example.test",
                               max_messages_per_hour=hourly)
    old = timezone.now() - timedelta(hours=3)
    SendRecord.objects.bulk_create([SendRecord(user=user, created=old) for _ in range(300)])
    # limits (user and domain in one read), [count], delete expired, insert
    with django_assert_max_num_queries(3 if hourly is None else 4):
        assert count_send(user=user, recipient_count=1, size=10) is None
    assert SendRecord.objects.filter(user=user).count() == 1  # the 300 expired are gone
    with django_assert_max_num_queries(3 if hourly is None else 4):
        assert count_send(user=user, recipient_count=1, size=10) is None


@pytest.mark.django_db
def test_a_domains_limit_applies_through_the_one_read() -> None:
    _domain("strict.test", max_messages_per_hour=1, max_message_bytes=50)
    user = User.objects.create(username="h@strict.test")
    with pytest.raises(SendLimitExceeded) as too_big:
        check_send_allowed(user=user, recipient_count=1, size=51)
    assert too_big.value.limit == "size"
    check_send_allowed(user=user, recipient_count=1, size=50)
    with pytest.raises(SendLimitExceeded) as hourly:
        check_send_allowed(user=user, recipient_count=1, size=50)
    assert hourly.value.limit == "per_hour"
    missing = User(pk=10**9, username="gone@strict.test")
    with pytest.raises(User.DoesNotExist):
        check_send_allowed(user=missing, recipient_count=1, size=1)
