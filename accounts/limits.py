"""Sending limits: messages per hour, recipients per message, message size.

The effective limit is the stricter of the user's and the domain's; where neither sets one,
the setting applies (``WEBMAIL_SEND_MAX_PER_HOUR``, ``WEBMAIL_MAX_RECIPIENTS``,
``WEBMAIL_MAX_MESSAGE_BYTES``; unset or ``None`` = unlimited).

The hourly count is a sliding window of ``SendRecord`` rows (one per allowed message; the
user's expired ones are deleted as new ones are written). Checking and recording happen in
the caller's transaction (``count_send``: the outbox's enqueue counts the message in the
transaction that writes it) after locking the user's row (``SELECT ... FOR UPDATE``; SQLite's
``BEGIN IMMEDIATE`` serialises writers the same way), so two sends at once, from two web
processes or workers, cannot both take the last slot. The check is a few plain statements:
one read of the user's and the domain's limits, and, only when an hourly limit applies, a
count that reads at most that many index entries.
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


def _sql_names() -> dict[str, str]:
    """Quoted table and column names from the models' meta (no user input in any SQL)."""
    q = connection.ops.quote_name
    return {
        "user": q(User._meta.db_table), "domain": q(Domain._meta.db_table),
        "record": q(SendRecord._meta.db_table),
        "record_user": q(str(SendRecord._meta.get_field("user").column)),
        "domain_name": q(str(Domain._meta.get_field("name").column)),
        **{f: q(f) for f in _FIELDS},
    }


def _locked_limits(user: User) -> EffectiveLimits:
    """One statement: the user's and the domain's limit columns. On PostgreSQL it locks the
    user's row (``FOR UPDATE OF``), which makes concurrent sends of one user take turns; on
    SQLite the enqueue's ``BEGIN IMMEDIATE`` already holds the database's write lock."""
    n = _sql_names()
    columns = ", ".join([f"u.{n[f]}" for f in _FIELDS] + [f"d.{n[f]}" for f in _FIELDS])
    lock = ""
    if connection.features.has_select_for_update:
        lock = " FOR UPDATE OF u" if connection.features.has_select_for_update_of else \
            " FOR UPDATE"
    sql = (f"SELECT {columns} FROM {n['user']} u LEFT JOIN {n['domain']} d "  # noqa: S608
           f"ON d.{n['domain_name']} = %s WHERE u.id = %s{lock}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.domain or None, user.pk])
        row = cursor.fetchone()
    if row is None:
        raise User.DoesNotExist(f"user {user.pk} does not exist")
    count = len(_FIELDS)
    per_field = {f: _stricter(f, row[i], row[count + i]) for i, f in enumerate(_FIELDS)}
    return EffectiveLimits(per_field["max_messages_per_hour"],
                           per_field["max_recipients_per_message"],
                           per_field["max_message_bytes"])


def _hourly_refusal(user: User, limit: int, now: datetime) -> SendLimitExceeded | None:
    """``None`` while fewer than ``limit`` records are in the window. The count reads at most
    ``limit`` index entries of (user, created), however many the user sent before (expired
    records are deleted as new ones are written)."""
    n = _sql_names()
    window_start = connection.ops.adapt_datetimefield_value(now - WINDOW)
    sql = (f"SELECT COUNT(*) FROM (SELECT 1 FROM {n['record']} "  # noqa: S608
           f"WHERE {n['record_user']} = %s AND created >= %s LIMIT %s) w")
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, window_start, limit])
        count = int(cursor.fetchone()[0])
    if count < limit:
        return None
    # Refused (the rare path): the slot that frees first is the oldest record that keeps us
    # at the limit.
    recent = SendRecord.objects.filter(user_id=user.pk, created__gte=now - WINDOW)
    total = recent.count()
    oldest = recent.order_by("created").values_list("created", flat=True)[total - limit]
    retry_at = oldest + WINDOW
    return SendLimitExceeded(ngettext(
        "You can send at most %(limit)d message per hour; try again at %(time)s.",
        "You can send at most %(limit)d messages per hour; try again at %(time)s.",
        limit,
    ) % {"limit": limit, "time": dateformat.format(timezone.localtime(retry_at), "H:i")},
        limit="per_hour", retry_at=retry_at)


def _record(user: User, recipient_count: int, size: int, now: datetime) -> None:
    """Count the message: drop the user's expired records and write this one (two plain
    statements, without the ORM's per-query overhead)."""
    n = _sql_names()
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {n['record']} WHERE {n['record_user']} = %s "  # noqa: S608
                       "AND created < %s", [user.pk, adapt(now - WINDOW)])
        cursor.execute(f"INSERT INTO {n['record']} ({n['record_user']}, created, "  # noqa: S608
                       "recipients, size) VALUES (%s, %s, %s, %s)",
                       [user.pk, adapt(now), recipient_count, size])


def count_send(*, user: User, recipient_count: int, size: int) -> SendLimitExceeded | None:
    """Check every limit for one message and, when all allow it, count it; returns the
    refusal (not yet audited: see ``record_refusal``) or ``None``.

    Call it inside the transaction that writes the message, so the count commits with the
    message and rolls back with it (a double submit, a failed insert). The user's row is
    locked until that transaction ends (PostgreSQL); on SQLite the transaction must be a
    write transaction from its start (``transaction_mode = IMMEDIATE``, as the settings
    configure), so two sends at once cannot both take the last slot.
    """
    now = timezone.now()
    # No savepoint inside the caller's transaction (nothing here needs to be undone alone).
    with transaction.atomic(savepoint=False):
        limits = _locked_limits(user)
        refusal = _refusal(limits, recipient_count, size)
        if refusal is None and limits.messages_per_hour is not None:
            refusal = _hourly_refusal(user, limits.messages_per_hour, now)
        if refusal is None:
            _record(user, recipient_count, size, now)
    return refusal


def record_refusal(user: User, refusal: SendLimitExceeded) -> None:
    """Write the refusal's ``SEND_REFUSED`` audit entry (in its own transaction when called
    outside one: call it after the enqueue's transaction ended, so the entry stays)."""
    audit(AuditEntry.Kind.SEND_REFUSED, actor=user, subject=user.get_username(),
          detail=f"{refusal.limit}: {refusal}")
    log.info("send refused for %s by the %s limit", redact(user.get_username()),
             refusal.limit)


def check_send_allowed(*, user: User, recipient_count: int, size: int) -> None:
    """Allow one message of ``recipient_count`` recipients and ``size`` bytes, or refuse it.

    When allowed, the message is counted against the hourly limit at once, in a transaction
    of its own (or the caller's). The outbox's enqueue uses ``count_send`` inside its own
    transaction instead, so the count and the message's rows commit together. Raises
    ``SendLimitExceeded`` with a message for the user; every refusal is written to the audit
    log as ``SEND_REFUSED``.
    """
    nested = connection.in_atomic_block
    for attempt in range(_SQLITE_RETRIES):
        try:
            refusal = count_send(user=user, recipient_count=recipient_count, size=size)
            break
        except OperationalError as exc:
            # SQLite reports a competing writer as "locked" instead of waiting in some modes
            # (shared cache); the transaction rolled back whole, so it can simply run again.
            if (connection.vendor != "sqlite" or "locked" not in str(exc) or nested
                    or attempt == _SQLITE_RETRIES - 1):
                raise
            time.sleep(0.02 * (attempt + 1))
    if refusal is not None:
        record_refusal(user, refusal)
        raise refusal
