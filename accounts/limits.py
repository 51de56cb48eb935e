"""Sending limits: messages per hour, recipients per message, message size.

The effective limit is the stricter of the user's and the domain's; where neither sets one,
the setting applies (``WEBMAIL_SEND_MAX_PER_HOUR``, ``WEBMAIL_MAX_RECIPIENTS``,
``WEBMAIL_MAX_MESSAGE_BYTES``; unset or ``None`` = unlimited).

The hourly count is a sliding window of ``SendRecord`` rows. Checking and recording happen in
one transaction that first locks the user's row (``SELECT ... FOR UPDATE``; SQLite's
``BEGIN IMMEDIATE`` serialises writers the same way), so two sends at once, from two web
processes or workers, cannot both take the last slot.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import AuditEntry, Domain, SendRecord, User
from accounts.services import audit, redact

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
_SQLITE_RETRIES = 50
_FIELDS = ("max_messages_per_hour", "max_recipients_per_message", "max_message_bytes")
_DEFAULTS = {
    "max_messages_per_hour": ("WEBMAIL_SEND_MAX_PER_HOUR", None),
    "max_recipients_per_message": ("WEBMAIL_MAX_RECIPIENTS", 100),
    "max_message_bytes": ("WEBMAIL_MAX_MESSAGE_BYTES", None),
}


class SendLimitExceeded(Exception):
    """A send was refused by a limit; ``str(exc)`` is translated and safe to show."""

    def __init__(self, message: str, *, limit: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.limit = limit  # "per_hour", "recipients" or "size"
        self.retry_at = retry_at


@dataclass(frozen=True)
class EffectiveLimits:
    messages_per_hour: int | None
    recipients_per_message: int | None
    message_bytes: int | None


def _stricter(field: str, own: Any, domain: Any) -> int | None:
    values = [int(v) for v in (own, domain) if v is not None]
    if values:
        return min(values)
    name, fallback = _DEFAULTS[field]
    default = getattr(settings, name, fallback)
    return int(default) if default is not None else None


def _limits_from(user_row: dict[str, Any], domain_name: str) -> EffectiveLimits:
    domain_row = (Domain.objects.filter(name=domain_name).values(*_FIELDS).first()
                  if domain_name else None) or {}
    per_field = {f: _stricter(f, user_row.get(f), domain_row.get(f)) for f in _FIELDS}
    return EffectiveLimits(per_field["max_messages_per_hour"],
                           per_field["max_recipients_per_message"],
                           per_field["max_message_bytes"])


def effective_limits(user: User) -> EffectiveLimits:
    """The limits that apply to ``user`` now (read fresh from the database)."""
    row = User.objects.filter(pk=user.pk).values(*_FIELDS).first() or {}
    return _limits_from(row, user.domain)


def _refusal(limits: EffectiveLimits, recipient_count: int, size: int
             ) -> SendLimitExceeded | None:
    if limits.recipients_per_message is not None and \
            recipient_count > limits.recipients_per_message:
        return SendLimitExceeded(ngettext(
            "You can send a message to at most %(limit)d recipient; this one has %(count)d.",
            "You can send a message to at most %(limit)d recipients; this one has %(count)d.",
            limits.recipients_per_message,
        ) % {"limit": limits.recipients_per_message, "count": recipient_count},
            limit="recipients")
    if limits.message_bytes is not None and size > limits.message_bytes:
        return SendLimitExceeded(
            _("Messages can be at most %(limit)s; this one is %(size)s.")
            % {"limit": filesizeformat(limits.message_bytes), "size": filesizeformat(size)},
            limit="size")
    return None


def _decide(user: User, recipient_count: int, size: int) -> SendLimitExceeded | None:
    """One locked transaction: check every limit and, when all allow it, count the message."""
    now = timezone.now()
    window_start = now - WINDOW
    with transaction.atomic():
        # The lock that makes concurrent sends of one user take turns.
        row = User.objects.select_for_update().filter(pk=user.pk).values(*_FIELDS).get()
        limits = _limits_from(row, user.domain)
        refusal = _refusal(limits, recipient_count, size)
        if refusal is None and limits.messages_per_hour is not None:
            recent = SendRecord.objects.filter(user_id=user.pk, created__gte=window_start)
            count = recent.count()
            if count >= limits.messages_per_hour:
                # The slot that frees first: the oldest record that keeps us at the limit.
                oldest = (recent.order_by("created")
                          .values_list("created", flat=True)[count - limits.messages_per_hour])
                retry_at = oldest + WINDOW
                refusal = SendLimitExceeded(ngettext(
                    "You can send at most %(limit)d message per hour; try again at %(time)s.",
                    "You can send at most %(limit)d messages per hour; try again at %(time)s.",
                    limits.messages_per_hour,
                ) % {"limit": limits.messages_per_hour,
                     "time": dateformat.format(timezone.localtime(retry_at), "H:i")},
                    limit="per_hour", retry_at=retry_at)
        if refusal is None:
            SendRecord.objects.filter(user_id=user.pk, created__lt=window_start).delete()
            SendRecord.objects.create(user_id=user.pk, created=now,
                                      recipients=recipient_count, size=size)
    return refusal


def check_send_allowed(*, user: User, recipient_count: int, size: int) -> None:
    """Allow one message of ``recipient_count`` recipients and ``size`` bytes, or refuse it.

    When allowed, the message is counted against the hourly limit at once (call this once per
    message, right before queueing it, outside the enqueue transaction so the count commits
    and a refusal's audit entry stays). Raises ``SendLimitExceeded`` with a message for the
    user; every refusal is written to the audit log as ``SEND_REFUSED``.
    """
    nested = connection.in_atomic_block
    for attempt in range(_SQLITE_RETRIES):
        try:
            refusal = _decide(user, recipient_count, size)
            break
        except OperationalError as exc:
            # SQLite reports a competing writer as "locked" instead of waiting in some modes
            # (shared cache); the transaction rolled back whole, so it can simply run again.
            if (connection.vendor != "sqlite" or "locked" not in str(exc) or nested
                    or attempt == _SQLITE_RETRIES - 1):
                raise
            time.sleep(0.02 * (attempt + 1))
    if refusal is not None:
        audit(AuditEntry.Kind.SEND_REFUSED, actor=user, subject=user.get_username(),
              detail=f"{refusal.limit}: {refusal}")
        log.info("send refused for %s by the %s limit", redact(user.get_username()),
                 refusal.limit)
        raise refusal
