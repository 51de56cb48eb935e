"""The outbox sweeper (Celery beat, every 30 s): what the broker lost, the database still knows.

- rows due (queued/deferred) whose publish is older than a minute, or never happened
  (a scheduled send, a lost wake-up: ``wakeups``), are published again, one task per user
  (the task drains the user's due messages); the task's claim makes a duplicate harmless;
- rows whose claim expired (the worker died) are published, and the claim that takes them
  settles the dead attempt conservatively (``delivery``, rule 4);
- Sent copies that never ran are published again; after a day they are given up;
- credentials of settled rows are wiped (a safety net), and rows past the retention are deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from webmail.outbox import delivery
from webmail.outbox.models import MessageState, OutgoingMessage
from webmail.outbox.publish import publish_deliver, publish_sent_copy
from webmail.outbox.retention import outbox_purge
from webmail.outbox.sentcopy import SENT_COPY_CLAIM, sent_copy_give_up

log = logging.getLogger(__name__)

LOST_AFTER = timedelta(seconds=60)
SENT_COPY_MAX_AGE = timedelta(days=1)
BATCH = 500
_FINAL = [MessageState.FINISHED, MessageState.CANCELLED]


@dataclass(frozen=True)
class SweepReport:
    republished: int = 0
    reclaimed: int = 0
    sent_copies: int = 0
    sent_copies_given_up: int = 0
    wiped: int = 0
    purged: int = 0


def _publish_where(condition: Q, now: datetime) -> list[tuple[int, int, datetime]]:
    """Mark and return the rows to publish as (pk, user id, created); the mark
    (``published_at``) is a compare-and-set, so two sweepers running at once publish each row
    once."""
    picked = []
    for pk, user_id, created in list(
            OutgoingMessage.objects.filter(condition).order_by("next_attempt_at", "pk")
            .values_list("pk", "user_id", "created")[:BATCH]):
        if OutgoingMessage.objects.filter(condition, pk=pk).update(published_at=now) == 1:
            picked.append((pk, user_id, created))
    return picked


def outbox_sweep(*, now: datetime | None = None,
                 lost_after: timedelta = LOST_AFTER) -> SweepReport:
    """One sweep (see the module docstring). Never raises for broker trouble (logged)."""
    now = now or timezone.now()
    lost_before = now - lost_after
    not_recent = Q(published_at__isnull=True) | Q(published_at__lte=lost_before)

    due = Q(state__in=[MessageState.QUEUED, MessageState.DEFERRED],
            next_attempt_at__lte=now) & not_recent
    republished = _publish_where(due, now)
    # A delivery task drains its user's due messages (``delivery.deliver_and_drain``): one
    # task per user is enough, except for rows past the maximum age, which a drain leaves to
    # their own task (it fails them).
    oldest = now - timedelta(seconds=settings.WEBMAIL_SEND_MAX_AGE)
    users: set[int] = set()
    for pk, user_id, created in republished:
        if created <= oldest or user_id not in users:
            users.add(user_id)
            publish_deliver(pk)

    stale = Q(state=MessageState.SENDING,
              claimed_at__lt=now - timedelta(seconds=settings.WEBMAIL_SEND_CLAIM_TIMEOUT))
    reclaimed = _publish_where(stale & not_recent, now)
    for pk, _user, _created in reclaimed:
        publish_deliver(pk)

    copy_pending = OutgoingMessage.objects.filter(
        sent_copy_wanted=True, sent_copy_done=False, sent_copy_error="",
    ).exclude(state=MessageState.SENDING).filter(
        Q(sent_copy_claimed_at__isnull=True) | Q(sent_copy_claimed_at__lt=now - SENT_COPY_CLAIM))
    given_up = 0
    for pk in list(copy_pending.filter(state__in=_FINAL,
                                       completed_at__lt=now - SENT_COPY_MAX_AGE)
                   .values_list("pk", flat=True)[:BATCH]):
        sent_copy_give_up(pk, "gave up after a day of trying")
        given_up += 1
    copies = []
    for pk in list(copy_pending.filter(updated__lte=lost_before).values_list("pk", flat=True)
                   [:BATCH]):
        if OutgoingMessage.objects.filter(pk=pk, updated__lte=lost_before).update(
                updated=now) == 1:
            copies.append(pk)
            publish_sent_copy(pk)

    wiped = 0
    for pk in list(OutgoingMessage.objects.filter(state__in=_FINAL).exclude(credential="")
                   .values_list("pk", flat=True)[:BATCH]):
        wiped += int(delivery.wipe_credential_if_settled(pk))

    purged = outbox_purge(days=settings.WEBMAIL_OUTBOX_RETENTION_DAYS, now=now, max_batches=1)

    report = SweepReport(len(republished), len(reclaimed), len(copies), given_up, wiped,
                         purged)
    if report != SweepReport():
        log.info("outbox sweep: %s", report)
    return report
