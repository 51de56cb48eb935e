"""Retention of the outbox: rows in a final state are deleted after the retention period."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

log = logging.getLogger(__name__)

BATCH = 1000


def outbox_purge(*, days: int) -> int:
    """Delete outgoing messages (with their recipients and attempts) that reached a final
    state (finished or cancelled) more than ``days`` days ago. Returns how many messages.

    Messages still queued, sending or deferred are never touched, however old. Bounce reports
    stay (their link to the message becomes empty). Deletes in batches, so a large backlog
    does not hold one long transaction. Raises ``ValueError`` for ``days`` below 1.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    from webmail.outbox.models import MessageState, OutgoingMessage

    cutoff = timezone.now() - timedelta(days=days)
    old = OutgoingMessage.objects.filter(
        state__in=[MessageState.FINISHED, MessageState.CANCELLED], completed_at__lt=cutoff)
    total = 0
    while True:
        pks = list(old.order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not pks:
            break
        old.filter(pk__in=pks).delete()
        total += len(pks)
    if total:
        log.info("purged %d outgoing message(s) older than %d days", total, days)
    return total
