"""Counts for the delivery console: recipients by outcome, per user and per domain."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone

# Outcome groups shown in the console, and the recipient states in each.
GROUPS: dict[str, tuple[str, ...]] = {
    "accepted": ("accepted", "delivered"),
    "deferred": ("deferred", "delayed"),
    "bounced": ("bounced",),
    "failed": ("failed",),
    "other": ("queued", "sending", "unknown", "cancelled"),
}
PERIODS = {"today": 0, "7d": 7, "30d": 30}


def period_start(period: str, now: datetime | None = None) -> datetime:
    """The start of ``today`` (local midnight), ``7d`` or ``30d``; unknown periods → 7d."""
    now = now or timezone.now()
    days = PERIODS.get(period, 7)
    if days == 0:
        local = timezone.localtime(now)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    return now - timedelta(days=days)


@dataclass
class CountRow:
    key: str
    user_id: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, state: str, n: int) -> None:
        for group, states in GROUPS.items():
            if state in states:
                self.counts[group] += n
                return


@dataclass(frozen=True)
class DeliverySummary:
    since: datetime
    per_user: list[CountRow]
    per_domain: list[CountRow]
    totals: CountRow


def delivery_summary(*, since: datetime) -> DeliverySummary:
    """Recipients of messages created since ``since``, by outcome group."""
    from webmail.outbox.models import OutgoingRecipient

    rows = (OutgoingRecipient.objects.filter(message__created__gte=since)
            .values("message__user_id", "message__user__username", "state")
            .annotate(n=Count("pk")).order_by())
    users: dict[int, CountRow] = {}
    domains: dict[str, CountRow] = defaultdict(lambda: CountRow(""))
    totals = CountRow("total")
    for row in rows:
        uid, username = int(row["message__user_id"]), str(row["message__user__username"])
        state, n = str(row["state"]), int(row["n"])
        users.setdefault(uid, CountRow(username, uid)).add(state, n)
        domain = username.rsplit("@", 1)[-1].lower()
        domains[domain].key = domain
        domains[domain].add(state, n)
        totals.add(state, n)
    return DeliverySummary(
        since=since,
        per_user=sorted(users.values(), key=lambda r: (-r.total, r.key)),
        per_domain=sorted(domains.values(), key=lambda r: (-r.total, r.key)),
        totals=totals,
    )
