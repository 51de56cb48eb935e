"""Reads of the outbox for pages: frozen dataclasses, always scoped to one user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch
from django.utils.translation import gettext as _

from accounts.models import User
from webmail.outbox.models import (
    BounceReport,
    DeliveryAttempt,
    MessageState,
    OutgoingMessage,
    OutgoingRecipient,
    RecipientState,
)

_ACTIONABLE = (MessageState.QUEUED, MessageState.DEFERRED)


@dataclass(frozen=True)
class RecipientRow:
    address: str
    kind: str
    state: str
    state_label: str
    smtp_code: int | None
    enhanced_status: str
    diagnostic: str
    remote_mta: str
    updated: datetime

    @property
    def words(self) -> str:
        """The server's words: "550 5.1.1 mailbox does not exist, said mx.example"."""
        text = self.diagnostic
        if self.smtp_code and not text.startswith(str(self.smtp_code)):
            text = f"{self.smtp_code} {text}".strip()
        if self.remote_mta and text:
            text = _("%(words)s, said %(server)s") % {"words": text, "server": self.remote_mta}
        return text


@dataclass(frozen=True)
class OutboxRow:
    pk: int
    subject: str
    from_email: str
    message_id: str
    created: datetime
    state: str
    state_label: str
    attempts: int
    next_attempt_at: datetime | None
    send_at: datetime | None
    recipients: tuple[RecipientRow, ...]

    @property
    def can_retry(self) -> bool:
        return self.state in _ACTIONABLE

    @property
    def can_cancel(self) -> bool:
        return self.state in _ACTIONABLE


@dataclass(frozen=True)
class AttemptResultRow:
    address: str
    outcome: str
    code: int | None
    text: str


@dataclass(frozen=True)
class AttemptRow:
    number: int
    started: datetime
    finished: datetime | None
    outcome: str
    outcome_label: str
    server: str
    smtp_code: int | None
    detail: str
    results: tuple[AttemptResultRow, ...]


@dataclass(frozen=True)
class BounceRow:
    received: datetime
    final_recipient: str
    action: str
    status: str
    diagnostic: str
    remote_mta: str
    source: str


@dataclass(frozen=True)
class OutboxDetail:
    row: OutboxRow
    size: int
    sent_copy_done: bool
    sent_copy_error: str
    attempts: tuple[AttemptRow, ...]
    bounces: tuple[BounceRow, ...]


@dataclass(frozen=True)
class OutboxPage:
    rows: tuple[OutboxRow, ...]
    page: int
    has_previous: bool
    has_next: bool


@dataclass(frozen=True)
class MessageDelivery:
    """Per-recipient delivery state for the message view of a Sent message."""

    pk: int
    state: str
    recipients: tuple[RecipientRow, ...]


def _recipient_row(r: OutgoingRecipient) -> RecipientRow:
    return RecipientRow(r.address, r.kind, r.state, str(RecipientState(r.state).label),
                        r.smtp_code, r.enhanced_status, r.diagnostic, r.remote_mta, r.updated)


def _row(m: OutgoingMessage) -> OutboxRow:
    return OutboxRow(
        pk=m.pk, subject=m.subject, from_email=m.from_email, message_id=m.message_id,
        created=m.created, state=m.state, state_label=str(MessageState(m.state).label),
        attempts=m.attempts, next_attempt_at=m.next_attempt_at, send_at=m.send_at,
        recipients=tuple(_recipient_row(r) for r in m.recipients.all()))


def outbox_page(*, user: User, page: int = 1, per_page: int = 50) -> OutboxPage:
    """The user's outgoing messages, newest first, one page."""
    page = max(page, 1)
    start = (page - 1) * per_page
    messages = list(OutgoingMessage.objects.filter(user=user).defer("raw", "credential")
                    .prefetch_related(Prefetch("recipients",
                                               queryset=OutgoingRecipient.objects.order_by("id")))
                    .order_by("-created", "-pk")[start:start + per_page + 1])
    return OutboxPage(tuple(_row(m) for m in messages[:per_page]), page, page > 1,
                      len(messages) > per_page)


def outbox_detail_for_user(*, user: User, pk: int) -> OutboxDetail:
    """One message of ``user`` with its attempts and bounce reports.

    Raises ``OutgoingMessage.DoesNotExist`` when it does not exist or belongs to someone else.
    """
    message = (OutgoingMessage.objects.filter(user=user).defer("raw", "credential")
               .prefetch_related(Prefetch("recipients",
                                          queryset=OutgoingRecipient.objects.order_by("id")))
               .get(pk=pk))
    attempts = []
    for a in DeliveryAttempt.objects.filter(message=message).order_by("number", "pk"):
        results = tuple(
            AttemptResultRow(str(item.get("address", "")), str(item.get("outcome", "")),
                             item.get("code") if isinstance(item.get("code"), int) else None,
                             str(item.get("text", "")))
            for item in (a.results or []) if isinstance(item, dict))
        attempts.append(AttemptRow(a.number, a.started, a.finished, a.outcome,
                                   a.get_outcome_display(), a.server, a.smtp_code, a.detail,
                                   results))
    bounces = tuple(
        BounceRow(b.received, b.final_recipient, b.action, b.status, b.diagnostic, b.remote_mta,
                  b.source)
        for b in BounceReport.objects.filter(user=user, message=message).order_by("received"))
    return OutboxDetail(_row(message), message.size, message.sent_copy_done,
                        message.sent_copy_error, tuple(attempts), bounces)


def delivery_for_message_id(user: User, message_id: str) -> MessageDelivery | None:
    """Delivery state of the user's outgoing message with this Message-ID, if we sent it."""
    value = message_id.strip()
    if not value:
        return None
    if not value.startswith("<"):
        value = f"<{value}>"
    message = (OutgoingMessage.objects.filter(user=user, message_id=value)
               .only("pk", "state").first())
    if message is None:
        return None
    recipients = tuple(_recipient_row(r) for r in message.recipients.order_by("id"))
    return MessageDelivery(message.pk, message.state, recipients)
