"""Retention of the outbox: rows in a final state are deleted after the retention period.

One rule, used by the beat sweeper (a batch per run) and by ``manage.py purge_outbox``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from webmail.outbox.models import MessageState, OutgoingMessage

log = logging.getLogger(__name__)

BATCH = 1000


def outbox_purge(*, days: int, now: datetime | None = None,
                 max_batches: int | None = None) -> int:
    """Delete outgoing messages (with their recipients and attempts) that reached a final
    state (finished or cancelled) more than ``days`` days ago. Returns how many messages.

    Messages still queued, sending or deferred are never touched, however old. Bounce reports
    stay (their link to the message becomes empty). Deletes in batches, so a large backlog
    does not hold one long transaction. Raises ``ValueError`` for ``days`` below 1.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = OutgoingMessage.objects.filter(
        state__in=[MessageState.FINISHED, MessageState.CANCELLED], completed_at__lt=cutoff)
    total = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        pks = list(old.order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not pks:
            break
        old.filter(pk__in=pks).delete()
        total += len(pks)
        batches += 1
    if total:
        log.info("purged %d outgoing message(s) older than %d days", total, days)
    return total
