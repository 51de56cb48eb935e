"""The Sent copy: one APPEND per message, after the server accepted it, in its own task.

Idempotent three ways: a compare-and-set claim on ``sent_copy_claimed_at`` keeps two runs from
overlapping, the Sent folder is searched for the Message-ID before APPEND, and
``sent_copy_done`` ends it. The same run sets \\Answered or $Forwarded on the original.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from webmail.imap.errors import (
    ImapAuthError,
    ImapInvalidInput,
    ImapNotFound,
    ImapProtocolError,
    ImapUnavailable,
)
from webmail.imap.gateway import MailStore
from webmail.imap.types import SpecialUse
from webmail.mailconn import mail_store_for
from webmail.outbox import delivery
from webmail.outbox.models import (
    OriginKind,
    OutgoingMessage,
    RecipientKind,
)

log = logging.getLogger(__name__)

# Longer than any IMAP session of one run (timeouts are seconds), so runs never overlap.
SENT_COPY_CLAIM = timedelta(minutes=5)
FALLBACK_SENT = "Sent"
_ORIGIN_FLAGS = {OriginKind.REPLY: "\\Answered", OriginKind.FORWARD: "$Forwarded"}


def sent_folder(store: MailStore) -> str:
    """The special-use \\Sent folder, else "Sent" (created when missing)."""
    folders = store.list_folders()
    for folder in folders:
        if folder.special_use is SpecialUse.SENT and folder.selectable:
            return folder.name
    if not any(f.name == FALLBACK_SENT for f in folders):
        store.create_folder(FALLBACK_SENT)
    return FALLBACK_SENT


def sent_copy_bytes(message: OutgoingMessage) -> bytes:
    """The stored bytes, with the Bcc header added back: this copy is the sender's own."""
    raw = bytes(message.raw)
    hidden = [r.address for r in message.recipients.all() if r.kind == RecipientKind.BCC]
    if not hidden:
        return raw
    eol = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    return b"Bcc: " + ", ".join(hidden).encode("utf-8") + eol + raw


def _flag_origin(store: MailStore, message: OutgoingMessage) -> None:
    flag = _ORIGIN_FLAGS.get(OriginKind(message.origin_kind or ""))
    if not flag or not message.origin_folder or not message.origin_uid:
        return
    try:
        store.set_flags(message.origin_folder, [message.origin_uid], [flag], add=True)
    except (ImapNotFound, ImapProtocolError, ImapInvalidInput) as exc:
        # The original was moved or deleted meanwhile: nothing to mark.
        log.info("outgoing %s: cannot flag the original: %s", message.message_id, exc)


def sent_copy_give_up(pk: int, reason: str) -> None:
    OutgoingMessage.objects.filter(pk=pk).update(
        sent_copy_error=reason[:500], sent_copy_claimed_at=None, updated=timezone.now())
    delivery.wipe_credential_if_settled(pk)
    log.warning("outgoing %s: no Sent copy: %s", pk, reason)


def outgoing_sent_copy(pk: int) -> str:
    """Store the Sent copy of message ``pk`` once; returns "stored", "present" or "skipped".

    Raises ``ImapUnavailable`` or ``ImapProtocolError`` (transient: the task retries, and the
    claim is released first). A refused credential ends it with ``sent_copy_error`` set.
    """
    now = timezone.now()
    claimed = OutgoingMessage.objects.filter(
        pk=pk, sent_copy_wanted=True, sent_copy_done=False, sent_copy_error="",
    ).filter(
        Q(sent_copy_claimed_at__isnull=True) | Q(sent_copy_claimed_at__lt=now - SENT_COPY_CLAIM)
    ).update(sent_copy_claimed_at=now, updated=now)
    if not claimed:
        return "skipped"
    message = OutgoingMessage.objects.select_related("user").get(pk=pk)
    password = delivery.stored_password(message)
    if password is None:
        sent_copy_give_up(pk, "no usable stored credential")
        return "skipped"
    outcome = "present"
    try:
        with mail_store_for(message.user.get_username(), password) as store:
            folder = sent_folder(store)
            if not store.find_by_message_id(folder, message.message_id):
                store.append(folder, sent_copy_bytes(message), flags=["\\Seen"],
                             when=message.created)
                outcome = "stored"
            _flag_origin(store, message)
    except ImapAuthError:
        sent_copy_give_up(pk, "the mail server refused the stored credential")
        return "skipped"
    except (ImapNotFound, ImapInvalidInput) as exc:
        sent_copy_give_up(pk, f"the Sent folder cannot be used: {exc}")
        return "skipped"
    except (ImapUnavailable, ImapProtocolError):
        OutgoingMessage.objects.filter(pk=pk).update(sent_copy_claimed_at=None)
        raise
    OutgoingMessage.objects.filter(pk=pk).update(
        sent_copy_done=True, sent_copy_claimed_at=None, updated=timezone.now())
    delivery.wipe_credential_if_settled(pk)
    log.info("outgoing %s: Sent copy %s", message.message_id, outcome)
    return outcome
