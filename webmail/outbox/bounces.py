"""Bounces after acceptance: delivery status notifications (RFC 3464) matched to our rows.

Matching is by ENVID first: ours is a random 128-bit token sent as ``ENVID`` (RFC 3461), which
only the mail servers on the path ever see, so a forged report cannot name a message it has not
seen. Only when a report carries no ENVID at all (the path did not support DSN) do we fall
back to the returned Message-ID. Either way only the rows of the user whose mailbox holds the
report are candidates, so one user's mail can never move another user's recipients.

Ingesting is idempotent: each recipient block of a report is stored once (a fingerprint of the
report bytes and the recipient), and a state only moves forward (``states.DSN_MOVES``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import User
from webmail.imap.gateway import MailStore
from webmail.imap.types import MessageSummary, SearchQuery, SortKey
from webmail.mime.bounce import parse_bounce
from webmail.mime.dsn import DsnReport
from webmail.outbox import states
from webmail.outbox.models import (
    BounceReport,
    BounceScanMark,
    OutgoingMessage,
    OutgoingRecipient,
    RecipientState,
)

log = logging.getLogger(__name__)

INBOX = "INBOX"
MAX_SCAN = 500  # new UIDs looked at per scan (the oldest first; the next scan goes on)
MAX_FETCH = 30  # candidate reports fetched per scan
MAX_DSN_SIZE = 2 * 1024 * 1024
_DSN_SENDERS = frozenset({"mailer-daemon", "postmaster", "mailer_daemon", "mail-daemon",
                          "mdaemon", "mail.delivery.system"})
_DSN_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery status|delivery (?:failure|failed|report|notification)"
    r"|returned mail|failure notice|delayed mail|mail delivery|non[- ]?delivery"
    r"|could not be delivered|delivery has failed|returned to sender", re.IGNORECASE)
_SMTP_CODE = re.compile(r"\b([245]\d\d)\b")
# Recipients a report can still tell us something about.
_AWAITING = [RecipientState.ACCEPTED, RecipientState.DELAYED, RecipientState.UNKNOWN]


@dataclass(frozen=True)
class _Block:
    final_recipient: str
    original_recipient: str
    action: str
    status: str
    diagnostic: str
    remote_mta: str


def _typed_value(value: object) -> str:
    """``rfc822; a@b`` -> ``a@b``; ``dns; mx.example`` -> ``mx.example``; ``smtp; 550 ...``."""
    text = str(value or "").strip()
    if ";" in text:
        kind, rest = text.split(";", 1)
        if kind.strip().isascii() and " " not in kind.strip():
            text = rest.strip()
    return text


def _address(value: object) -> str:
    return _typed_value(value).strip("<>").strip().lower()


def _blocks(report: DsnReport) -> list[_Block]:
    return [
        _Block(
            final_recipient=_address(rcpt.final_recipient),
            original_recipient=_address(rcpt.original_recipient),
            action=rcpt.action.strip().lower(),
            status=rcpt.status.strip()[:16],
            diagnostic=_typed_value(rcpt.diagnostic_code)[:2000],
            remote_mta=_typed_value(rcpt.remote_mta)[:255],
        )
        for rcpt in report.recipients
    ]


def _match(user: User, envelope_id: str, message_id: str) -> OutgoingMessage | None:
    mine = OutgoingMessage.objects.filter(user=user)
    if envelope_id:
        return mine.filter(envelope_id=envelope_id).first()
    if message_id:
        value = message_id.strip()
        value = value if value.startswith("<") else f"<{value}>"
        return mine.filter(message_id=value).first()
    return None


def _apply(message: OutgoingMessage | None, block: _Block) -> OutgoingRecipient | None:
    """Move the matching recipient if the action allows it; returns it when it moved."""
    if message is None:
        return None
    wanted = {a for a in (block.final_recipient, block.original_recipient) if a}
    for rcpt in message.recipients.select_for_update():
        if rcpt.address.lower() not in wanted:
            continue
        target = states.dsn_target(block.action, rcpt.state)
        if target is None:
            return None
        code = _SMTP_CODE.search(block.diagnostic)
        rcpt.state = target
        rcpt.enhanced_status = block.status
        rcpt.diagnostic = block.diagnostic or f"{block.action} ({block.status})"
        rcpt.smtp_code = int(code.group(1)) if code else None
        rcpt.remote_mta = block.remote_mta or rcpt.remote_mta
        rcpt.save(update_fields=["state", "enhanced_status", "diagnostic", "smtp_code",
                                 "remote_mta", "updated"])
        return rcpt
    return None


def dsn_ingest(*, user: User, raw: bytes, source: str) -> list[BounceReport]:
    """Parse ``raw``; if it is a DSN, store one ``BounceReport`` per recipient block and move
    the matching recipients of ``user``'s outgoing messages. Returns the reports (also those
    stored by an earlier call for the same bytes); ``[]`` when ``raw`` is not a DSN.

    Raises only database errors; malformed reports are simply not DSNs.
    """
    report = parse_bounce(raw)
    if report is None:
        return []
    return _ingest(user, raw, source, report, report.original_envelope_id.strip())


def _ingest(user: User, raw: bytes, source: str, report: DsnReport,
            envelope_id: str) -> list[BounceReport]:
    message_id = report.original_message_id.strip()
    message = _match(user, envelope_id, message_id)
    digest = hashlib.sha256(raw).hexdigest()
    result = []
    for block in _blocks(report):
        fingerprint = hashlib.sha256(f"{digest}\0{block.final_recipient}".encode()).hexdigest()
        try:
            with transaction.atomic():
                existing = BounceReport.objects.filter(user=user, fingerprint=fingerprint).first()
                if existing is not None:
                    result.append(existing)
                    continue
                moved = _apply(message, block)
                result.append(BounceReport.objects.create(
                    user=user, message=message, recipient=moved, fingerprint=fingerprint,
                    source=source[:300], envelope_id=envelope_id[:200],
                    original_message_id=message_id[:998],
                    final_recipient=block.final_recipient[:254], action=block.action[:16],
                    status=block.status, diagnostic=block.diagnostic,
                    remote_mta=block.remote_mta, applied=moved is not None))
        except IntegrityError:  # the same report ingested concurrently: theirs stands
            result.extend(BounceReport.objects.filter(user=user, fingerprint=fingerprint))
    if message is not None:
        log.info("DSN for %s: %s", message.message_id,
                 ", ".join(f"{b.action} {b.status}" for b in _blocks(report)))
    return result


def _looks_like_report(summary: MessageSummary) -> bool:
    if summary.size > MAX_DSN_SIZE:
        return False
    if not summary.sender:
        return True
    local = summary.sender[0].email.split("@", 1)[0].lower()
    return local in _DSN_SENDERS or bool(_DSN_SUBJECT.search(summary.subject))


def bounce_scan_inbox(*, store: MailStore, user: User) -> list[BounceReport]:
    """Look at INBOX messages that arrived since the last scan and ingest the DSNs among them.

    Cheap when nothing is new (one STATUS) or when no outgoing recipient awaits a report
    (the mark just moves on). Remembers the last scanned UID per (user, UIDVALIDITY). Raises
    the gateway's errors (``ImapUnavailable`` and friends); the caller may ignore them.
    """
    # A reused connection may have INBOX selected: NOOP lets the server report what arrived
    # since, so STATUS and FETCH below see the new messages (Dovecot answers from the session).
    store.noop()
    status = store.folder_status(INBOX)
    top = status.uidnext - 1
    mark, created = BounceScanMark.objects.get_or_create(
        user=user, folder=INBOX, uidvalidity=status.uidvalidity,
        defaults={"last_uid": 0})
    if top <= mark.last_uid:
        return []
    awaiting = OutgoingRecipient.objects.filter(message__user=user,
                                                state__in=_AWAITING).exists()
    if not awaiting:
        _advance(mark, top)
        return []
    start = mark.last_uid + 1
    if created:  # first scan of this folder incarnation: only the newest messages matter
        start = max(start, top - MAX_SCAN + 1)
    uids = list(range(start, min(top, start + MAX_SCAN - 1) + 1))
    candidates = [s.uid for s in store.fetch_summaries(INBOX, uids) if _looks_like_report(s)]
    scanned_to = uids[-1]
    reports: list[BounceReport] = []
    for index, uid in enumerate(candidates):
        if index >= MAX_FETCH:
            scanned_to = uid - 1  # the rest next time
            break
        raw = store.fetch_message(INBOX, uid)
        reports += dsn_ingest(user=user, raw=raw,
                              source=f"{INBOX}/{status.uidvalidity}/{uid}")
    _advance(mark, scanned_to)
    return reports


def _advance(mark: BounceScanMark, uid: int) -> None:
    BounceScanMark.objects.filter(pk=mark.pk, last_uid__lt=uid).update(last_uid=uid)


# --- the shared bounce mailbox (VERP, settings.WEBMAIL_BOUNCE_ADDRESS) ----------------------

_TOKEN = re.compile(r"[0-9a-f]{32}")


def verp_token(address: str) -> str:
    """Our envelope id from ``bounces+<id>@domain`` (the configured bounce address), or ""."""
    bounce = settings.WEBMAIL_BOUNCE_ADDRESS
    if "@" not in bounce or "@" not in address:
        return ""
    local, domain = bounce.rsplit("@", 1)
    got_local, got_domain = address.strip().strip("<>").rsplit("@", 1)
    prefix = f"{local}+".lower()
    if got_domain.lower() != domain.lower() or not got_local.lower().startswith(prefix):
        return ""
    token = got_local[len(prefix):].lower()
    return token if _TOKEN.fullmatch(token) else ""


def _delivered_to(raw: bytes) -> list[str]:
    head = BytesHeaderParser(policy=compat32).parsebytes(raw)
    values = [str(v) for name in ("delivered-to", "x-original-to", "to")
              for v in head.get_all(name, [])]
    return [a for _name, a in getaddresses(values) if a]


def dsn_ingest_bounce_mailbox(*, raw: bytes, source: str) -> list[BounceReport]:
    """A report from the shared bounce mailbox: its owner is found by our ENVID, else by the
    VERP token of the address it was delivered to. Both are 128-bit random tokens, so a forged
    report cannot reach a message its sender has not seen. ``[]`` when nothing matches."""
    report = parse_bounce(raw)
    if report is None:
        return []
    token = report.original_envelope_id.strip()
    if not _TOKEN.fullmatch(token):
        token = next((t for t in map(verp_token, _delivered_to(raw)) if t), "")
    message = (OutgoingMessage.objects.select_related("user").filter(envelope_id=token).first()
               if token else None)
    if message is None:
        log.info("bounce mailbox: a report for no message of ours (%s)", source)
        return []
    return _ingest(message.user, raw, source, report, token)


def bounce_mailbox_poll(*, store: MailStore, limit: int = 200) -> list[BounceReport]:
    """Ingest the unseen messages of the bounce mailbox's INBOX, then mark them \\Seen (the
    fingerprint makes a repeat harmless). Raises the gateway's errors."""
    store.noop()
    info = store.select(INBOX)
    unseen = store.sorted_uids(INBOX, SortKey.DATE, reverse=False,
                               query=SearchQuery("", unseen_only=True))
    reports: list[BounceReport] = []
    for uid in unseen[:limit]:
        raw = store.fetch_message(INBOX, uid)
        reports += dsn_ingest_bounce_mailbox(
            raw=raw, source=f"bounces:{INBOX}/{info.uidvalidity}/{uid}")
        store.set_flags(INBOX, [uid], ["\\Seen"], add=True)
    return reports
