"""Outbox services: enqueue, the user's actions, and the entry points the tasks call.

Writes follow one rule: the row is the truth and the broker only carries its id. A message and
its recipients are written in one transaction and the delivery task is published on commit;
if that publish is lost (broker down, process killed between commit and publish), the sweeper
publishes again. Delivery itself lives in ``delivery``, the Sent copy in ``sentcopy``, the
sweeper in ``sweep``; they are re-exported here so callers need one module.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.limits import SendLimitExceeded, check_send_allowed, count_send, record_refusal
from accounts.models import AuditEntry, Identity, User
from accounts.services import audit, redact
from webmail import crypto
from webmail.mime.compose import BuiltMessage
from webmail.mime.headers import decode_header_value
from webmail.outbox import rows, wakeups
from webmail.outbox.delivery import CREDENTIAL_PURPOSE, outgoing_deliver
from webmail.outbox.models import (
    MessageState,
    OriginKind,
    OutgoingMessage,
    OutgoingRecipient,
    RecipientKind,
    RecipientState,
)
from webmail.outbox.publish import publish_deliver
from webmail.outbox.sentcopy import outgoing_sent_copy
from webmail.outbox.sweep import outbox_sweep

__all__ = [
    "AlreadyQueued",
    "IdentityNotAllowed",
    "LimitExceeded",
    "OutboxActionRefused",
    "OutgoingRefused",
    "check_limits",
    "identities_for",
    "outbox_sweep",
    "outgoing_cancel",
    "outgoing_deliver",
    "outgoing_enqueue",
    "outgoing_retry_now",
    "outgoing_sent_copy",
    "written_to_addresses",
]

log = logging.getLogger(__name__)

# Default until the admin issue brings per-user and per-domain limits (see ``check_limits``).
DEFAULT_MAX_RECIPIENTS = 100
# A hold up to this long (undo send) is published with a countdown; longer schedules are left
# to the sweeper, so no broker message waits for hours (Redis visibility timeout).
COUNTDOWN_LIMIT = timedelta(seconds=60)


class OutgoingRefused(Exception):
    """The message cannot be queued; ``str(exc)`` is safe to show to the user."""


class IdentityNotAllowed(OutgoingRefused):
    """The From address is not one of the user's identities."""


class LimitExceeded(OutgoingRefused):
    """Too many recipients, too large, or over the user's or domain's hourly limit."""

    def __init__(self, message: str, *, audited: bool = False) -> None:
        super().__init__(message)
        self.audited = audited


class AlreadyQueued(OutgoingRefused):
    """A message with this Message-ID is already in the outbox (a double submit)."""

    def __init__(self, message: str, existing_pk: int | None) -> None:
        super().__init__(message)
        self.existing_pk = existing_pk


class OutboxActionRefused(Exception):
    """Retry or cancel is not possible in the message's current state."""


# --- identities and autocomplete ------------------------------------------------------------

def identities_for(user: User) -> list[Identity]:
    """The From addresses ``user`` may use: their own address first, then granted identities.

    The own address comes back as its Identity row when there is one, else as an unsaved
    Identity (so display name and signature have one shape).
    """
    rows = list(Identity.objects.filter(user=user).order_by("-is_default", "email"))
    own = user.username.lower()
    mine = next((i for i in rows if i.email.lower() == own), None)
    if mine is None:
        mine = Identity(user=user, email=user.username, display_name=user.get_full_name())
    return [mine, *[i for i in rows if i is not mine]]


def written_to_addresses(user: User, prefix: str, limit: int) -> list[str]:
    """Distinct recipient addresses of the user's past messages starting with ``prefix``,
    most recently used first."""
    prefix = prefix.strip()
    if not prefix or limit <= 0:
        return []
    rows = (OutgoingRecipient.objects
            .filter(message__user=user, address__istartswith=prefix)
            .values("address")
            .annotate(last=Max("message__created"))
            .order_by("-last", "address")[: limit * 2])
    seen: set[str] = set()
    result: list[str] = []
    for row in rows:
        address = str(row["address"])
        if address.lower() not in seen:
            seen.add(address.lower())
            result.append(address)
    return result[:limit]


# --- enqueue ---------------------------------------------------------------------------------

def _static_refusal(built: BuiltMessage) -> LimitExceeded | None:
    """The settings' size and recipient-count limits (no database)."""
    if len(built.raw) > settings.WEBMAIL_MAX_MESSAGE_BYTES:
        return LimitExceeded(_("The message is %(size)s KiB; the limit is %(limit)s KiB.") % {
            "size": len(built.raw) // 1024,
            "limit": settings.WEBMAIL_MAX_MESSAGE_BYTES // 1024})
    maximum = int(getattr(settings, "WEBMAIL_MAX_RECIPIENTS", DEFAULT_MAX_RECIPIENTS))
    if len(built.recipients) > maximum:
        return LimitExceeded(_("A message may have at most %(maximum)s recipients.")
                             % {"maximum": maximum})
    return None


def check_limits(user: User, built: BuiltMessage) -> None:
    """Raise ``LimitExceeded`` when the message is too large, has too many recipients, or the
    user's or domain's limits (``accounts.limits``: per message and per hour) refuse it.

    When allowed, the message is counted against the hourly limit (in the caller's
    transaction if there is one). ``outgoing_enqueue`` does the same inside its own
    transaction (``accounts.limits.count_send``), so an allowed message's count commits with
    the message's rows and a refusal is audited after that transaction.
    """
    static = _static_refusal(built)
    if static is not None:
        raise static
    try:
        check_send_allowed(user=user, recipient_count=len(built.recipients),
                           size=len(built.raw))
    except SendLimitExceeded as exc:  # audited by accounts.limits already
        raise LimitExceeded(str(exc), audited=True) from exc


def _header_addresses(raw: bytes) -> tuple[dict[str, set[str]], str]:
    """Lower-cased addresses per header (from/to/cc/bcc) and the decoded Subject."""
    head = BytesHeaderParser(policy=compat32).parsebytes(raw)
    found: dict[str, set[str]] = {}
    for name in ("from", "to", "cc", "bcc"):
        values = [str(v) for v in head.get_all(name, [])]
        if values:
            found[name] = {a.lower() for _n, a in getaddresses(values) if a}
    subject = decode_header_value(str(head.get("subject", "")))
    return found, " ".join(subject.split())[:255]


def _normalise_message_id(value: str) -> str:
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    return value


def _envelope_from(from_email: str, envelope_id: str) -> str:
    """The return path: the sender, or a VERP address on the bounce mailbox when configured."""
    bounce = settings.WEBMAIL_BOUNCE_ADDRESS
    if bounce and "@" in bounce:
        local, domain = bounce.rsplit("@", 1)
        return f"{local}+{envelope_id}@{domain}"
    return from_email


def _refuse(user: User, from_email: str, exc: OutgoingRefused) -> OutgoingRefused:
    if isinstance(exc, LimitExceeded) and exc.audited:
        return exc
    audit(AuditEntry.Kind.SEND_REFUSED, actor=user, subject=from_email, detail=str(exc))
    log.info("send refused for %s: %s", redact(user.username), exc)
    return exc


def outgoing_enqueue(*, user: User, from_email: str, built: BuiltMessage,
                     smtp_password: str | None,
                     origin: tuple[str, int, str] | None = None,
                     send_at: datetime | None = None) -> OutgoingMessage:
    """Queue ``built`` for delivery and publish the delivery task when the transaction commits.

    ``origin`` is ``(folder, uid, "reply"|"forward")``: the original gets \\Answered or
    $Forwarded once the message was accepted. ``send_at`` holds the message until then (undo
    send, scheduled send). ``smtp_password`` is stored encrypted until the row no longer needs
    it (SMTP AUTH and the Sent copy).

    Raises ``IdentityNotAllowed`` (From is not the user's), ``LimitExceeded``, ``AlreadyQueued``
    (same Message-ID twice) or ``OutgoingRefused`` (no recipients, a Bcc header left in the
    bytes, From header not matching, a bad origin). Each refusal is audited.
    """
    address = from_email.strip()
    # The user's own address is always allowed (``identities_for`` lists it first): no query.
    if address.lower() != user.username.lower() and address.lower() not in {
            i.email.lower() for i in identities_for(user)}:
        raise _refuse(user, address, IdentityNotAllowed(
            _("You may not send as %(address)s.") % {"address": address}))
    headers, subject = _header_addresses(built.raw)
    if "bcc" in headers:
        raise _refuse(user, address, OutgoingRefused(
            _("The message still has a Bcc header; it would reveal the hidden recipients.")))
    if address.lower() not in headers.get("from", set()):
        raise _refuse(user, address, OutgoingRefused(
            _("The From header does not match the chosen identity.")))
    recipients: list[str] = []
    seen: set[str] = set()
    for rcpt in built.recipients:
        rcpt = rcpt.strip()
        if rcpt and rcpt.lower() not in seen:
            seen.add(rcpt.lower())
            recipients.append(rcpt)
    if not recipients:
        raise _refuse(user, address, OutgoingRefused(_("The message has no recipients.")))
    message_id = _normalise_message_id(built.message_id)
    origin_folder, origin_uid, origin_kind = "", None, OriginKind.NONE
    if origin is not None:
        folder, uid, kind = origin
        if kind not in (OriginKind.REPLY, OriginKind.FORWARD) or int(uid) <= 0 or not folder:
            raise OutgoingRefused(_("The message this one answers is not valid."))
        origin_folder, origin_uid, origin_kind = folder, int(uid), OriginKind(kind)
    static = _static_refusal(built)
    if static is not None:
        raise _refuse(user, address, static)

    now = timezone.now()
    due = max(send_at, now) if send_at is not None else now
    publish_now = due - now <= COUNTDOWN_LIMIT
    envelope_id = secrets.token_hex(16)
    refusal: SendLimitExceeded | None = None
    try:
        # One transaction, one commit: the limits (``accounts.limits.count_send``: the
        # user's row locked, the message counted) and the rows. A double submit is the
        # Message-ID's unique constraint (IntegrityError), which rolls the count back with
        # the rows; no read before.
        with transaction.atomic():
            refusal = count_send(user=user, recipient_count=len(built.recipients),
                                 size=len(built.raw))
            if refusal is None:
                message = OutgoingMessage(
                    user=user, from_email=address,
                    envelope_from=_envelope_from(
                        built.envelope_from if built.envelope_from.lower() == address.lower()
                        else address, envelope_id),
                    message_id=message_id, envelope_id=envelope_id, subject=subject,
                    raw=bytes(built.raw), size=len(built.raw), state=MessageState.QUEUED,
                    send_at=send_at, next_attempt_at=due,
                    published_at=due if publish_now else None,
                    credential=(crypto.encrypt(smtp_password, purpose=CREDENTIAL_PURPOSE)
                                if smtp_password else ""),
                    origin_folder=origin_folder, origin_uid=origin_uid, origin_kind=origin_kind,
                )
                # Two plain INSERTs (``rows``: the SQL built once, not per call).
                rows.insert(message)
                rows.insert_many([
                    OutgoingRecipient(message=message, address=rcpt, kind=_kind(rcpt, headers))
                    for rcpt in recipients
                ])
                if publish_now:
                    countdown = max((due - now).total_seconds(), 0.0)
                    transaction.on_commit(partial(_wake, user.pk, message.pk, countdown))
    except IntegrityError:
        raise AlreadyQueued(_("This message was already sent."), _existing(message_id)) from None
    if refusal is not None:
        # A double submit of a message that was allowed is not a refusal.
        existing = _existing(message_id)
        if existing is not None:
            raise AlreadyQueued(_("This message was already sent."), existing)
        record_refusal(user, refusal)
        raise LimitExceeded(str(refusal), audited=True) from None
    log.info("queued %s from %s to %d recipient(s)", message_id, redact(address),
             len(recipients))
    return message


def _existing(message_id: str) -> int | None:
    pk = OutgoingMessage.objects.filter(message_id=message_id).values_list(
        "pk", flat=True).first()
    return int(pk) if pk is not None else None


def _wake(user_id: int, pk: int, countdown: float) -> None:
    """After the enqueue's commit: a hold (undo send) gets its countdown task; a message due
    now publishes a task only when no wake-up for its user is pending (``wakeups``). A failed
    publish releases the key, so the next message tries again (the sweeper has this one)."""
    if countdown > 0:
        publish_deliver(pk, countdown=countdown)
    elif wakeups.acquire(user_id) and not publish_deliver(pk, countdown=countdown):
        wakeups.release(user_id)


def _kind(address: str, headers: dict[str, set[str]]) -> RecipientKind:
    lowered = address.lower()
    if lowered in headers.get("to", set()):
        return RecipientKind.TO
    if lowered in headers.get("cc", set()):
        return RecipientKind.CC
    return RecipientKind.BCC  # in the envelope but in no header: a blind copy


# --- the user's actions ----------------------------------------------------------------------

def outgoing_cancel(*, user: User, pk: int) -> OutgoingMessage:
    """Cancel a message that is queued or deferred: nothing more goes out.

    Raises ``OutgoingMessage.DoesNotExist`` for another user's row and ``OutboxActionRefused``
    when a worker is sending it or it is finished. Recipients already accepted stay accepted.
    """
    now = timezone.now()
    with transaction.atomic():
        message = OutgoingMessage.objects.get(pk=pk, user=user)
        # Compare-and-set: a worker claiming it in between makes this change nothing.
        changed = OutgoingMessage.objects.filter(
            pk=pk, state__in=[MessageState.QUEUED, MessageState.DEFERRED],
        ).update(state=MessageState.CANCELLED, completed_at=now, updated=now)
        if not changed:
            raise OutboxActionRefused(
                _("It is being sent or already done; it cannot be cancelled."))
        message.recipients.filter(
            state__in=[RecipientState.QUEUED, RecipientState.DEFERRED],
        ).update(state=RecipientState.CANCELLED, updated=now)
    message.refresh_from_db()
    from webmail.outbox.delivery import wipe_credential_if_settled

    wipe_credential_if_settled(message.pk)
    log.info("cancelled %s", message.message_id)
    return message


def outgoing_retry_now(*, user: User, pk: int) -> OutgoingMessage:
    """Make a queued or deferred message due now and publish it.

    Raises ``OutgoingMessage.DoesNotExist`` for another user's row and ``OutboxActionRefused``
    in any other state. A scheduled message (send_at in the future) is sent now.
    """
    now = timezone.now()
    with transaction.atomic():
        message = OutgoingMessage.objects.get(pk=pk, user=user)
        changed = OutgoingMessage.objects.filter(
            pk=pk, state__in=[MessageState.QUEUED, MessageState.DEFERRED],
        ).update(next_attempt_at=now, published_at=now, updated=now)
        if not changed:
            raise OutboxActionRefused(_("Only queued or deferred messages can be retried."))
        transaction.on_commit(lambda: publish_deliver(pk))
    message.refresh_from_db()
    return message
