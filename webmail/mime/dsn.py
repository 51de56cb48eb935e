"""Delivery status notifications (RFC 3464) and read receipts (RFC 8098), from raw bytes.

``parse_dsn`` reads the ``message/delivery-status`` part; ``parse_bounce`` (in ``bounce.py``)
tries it first and falls back to reading the human-readable text of bounces that have no such
part. ``parse_mdn`` reads ``message/disposition-notification``. None of them raises.
"""

from __future__ import annotations

import email
import email.parser
import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import Message

from webmail.mime.headers import decode_bytes, decode_header_value

MAX_PARTS = 200
MAX_REPORT_CHARS = 256 * 1024
_STATUS = re.compile(r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.]*\d)")
_MSGID = re.compile(r"<[^<>\s]{1,990}>")
_FIELD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,60}")
_RECIPIENT_FIELDS = frozenset(
    {
        "final-recipient",
        "original-recipient",
        "action",
        "status",
        "diagnostic-code",
        "remote-mta",
        "last-attempt-date",
        "will-retry-until",
        "final-log-id",
        "x-actual-recipient",
    }
)
_RETURNED_TYPES = (
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
)


@dataclass(frozen=True)
class DsnRecipient:
    final_recipient: str  # address without the "rfc822;" type
    original_recipient: str = ""
    action: str = ""  # lower-cased as sent: failed, delayed, delivered, relayed, expanded, ...
    status: str = ""  # "5.1.1", comment removed
    diagnostic_code: str = ""  # unfolded, whitespace collapsed, type kept ("smtp; 550 ...")
    remote_mta: str = ""  # without the "dns;" type


@dataclass(frozen=True)
class DsnReport:
    recipients: tuple[DsnRecipient, ...]
    reporting_mta: str = ""
    original_envelope_id: str = ""  # xtext decoded
    arrival_date: datetime | None = None
    original_message_id: str = ""  # of the returned message, with angle brackets
    original_subject: str = ""
    source: str = "dsn"  # "dsn": from a message/delivery-status part; "text": read from prose


@dataclass(frozen=True)
class MdnReport:
    disposition: str  # displayed, deleted, dispatched, processed, ... (lower-cased)
    disposition_mode: str = ""  # "manual-action/mdn-sent-manually"
    original_message_id: str = ""
    final_recipient: str = ""
    original_recipient: str = ""
    reporting_ua: str = ""


def message_from_bytes(raw: bytes) -> Message | None:
    """compat32 parse (fast, keeps raw header text); None when even that fails."""
    try:
        return email.message_from_bytes(bytes(raw), policy=policy.compat32)
    except Exception:  # RecursionError on absurd nesting, or a parser bug
        return None


def iter_parts(message: Message, limit: int = MAX_PARTS) -> list[Message]:
    """The parts of ``message`` in pre-order, at most ``limit`` (iterative, never raises)."""
    out: list[Message] = []
    stack = [message]
    while stack and len(out) < limit:
        part = stack.pop()
        out.append(part)
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return out


def content_type(part: Message) -> str:
    try:
        return str(part.get_content_type())
    except Exception:
        return "text/plain"


def part_text(part: Message) -> str:
    """The body of a part as text: decoded payload, or the flattened sub-blocks the parser
    split a message/* part into. At most ``MAX_REPORT_CHARS``."""
    try:
        if part.is_multipart():
            flat = part.as_bytes(policy=policy.compat32)
            match = re.search(rb"\r?\n\r?\n", flat)
            data = flat[match.end() :] if match else b""
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
    except Exception:
        return ""
    return decode_bytes(data[:MAX_REPORT_CHARS], part.get_content_charset())


def field_blocks(text: str) -> list[list[tuple[str, str]]]:
    """``Name: value`` blocks separated by blank lines; folded lines joined; junk lines dropped.
    Names lower-cased, values stripped."""
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        if line[0] in " \t":
            if current:
                name, value = current[-1]
                current[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if colon and _FIELD_NAME.fullmatch(name.strip()):
            current.append((name.strip().lower(), value.strip()))
    if current:
        blocks.append(current)
    return blocks


def _collapse(value: str) -> str:
    return " ".join(value.split())


def _typed(value: str) -> str:
    """The value of a typed field (``rfc822; <a@b>``, ``dns; mx.example``) without its type."""
    value = value.split(";", 1)[1] if ";" in value else value
    value = _collapse(value)
    return value[1:-1].strip() if value.startswith("<") and value.endswith(">") else value


def _address(value: str) -> str:
    """A typed address field's address; a quoted local part unquoted (``"a..b"@c`` → a..b@c)."""
    value = _typed(value)
    local, at, domain = value.rpartition("@")
    if at and len(local) >= 2 and local[0] == local[-1] == '"':
        local = re.sub(r"\\(.)", r"\1", local[1:-1])
        value = f"{local}@{domain}"
    return value


def _status(value: str) -> str:
    match = _STATUS.search(value)
    if match:
        return match.group(0)
    return value.split()[0] if value.split() else ""


def _xtext(value: str) -> str:
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def _date(value: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _recipient(fields: list[tuple[str, str]]) -> DsnRecipient | None:
    values: dict[str, str] = {}
    for name, value in fields:
        values.setdefault(name, value)
    final = _address(values.get("final-recipient", "")) or _address(
        values.get("original-recipient", "")
    )
    if not final:
        return None
    return DsnRecipient(
        final_recipient=final,
        original_recipient=_address(values.get("original-recipient", "")),
        action=_collapse(values.get("action", "")).lower(),
        status=_status(values.get("status", "")),
        diagnostic_code=_collapse(values.get("diagnostic-code", "")),
        remote_mta=_typed(values.get("remote-mta", "")),
    )


def _split_recipients(block: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    groups: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for name, value in block:
        if name not in _RECIPIENT_FIELDS:
            continue
        # a field seen again in the same block starts the next recipient (broken DSNs put
        # several recipients in one block); within a recipient the order does not matter
        starts = any(n == name for n, _ in current)
        if starts:
            groups.append(current)
            current = []
        current.append((name, value))
    if current:
        groups.append(current)
    return groups


def returned_headers(message: Message) -> Message | None:
    """The headers of the returned message (message/rfc822 or text/rfc822-headers part)."""
    for part in iter_parts(message)[1:]:
        ctype = content_type(part)
        if ctype not in _RETURNED_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0] if ctype in ("message/rfc822", "message/global") else part
        try:
            return email.parser.HeaderParser(policy=policy.compat32).parsestr(part_text(part))
        except Exception:
            return None
    return None


def original_ids(message: Message) -> tuple[str, str]:
    """The Message-ID (with angle brackets) and decoded Subject of the returned message."""
    headers = returned_headers(message)
    if headers is None:
        return "", ""
    match = _MSGID.search(str(headers.get("message-id", "") or ""))
    subject = decode_header_value(headers.get("subject"))[:500]
    return (match.group(0) if match else ""), subject


def parse_dsn(raw: bytes) -> DsnReport | None:
    """The delivery status notification in ``raw``, or None when it has no
    ``message/delivery-status`` part with at least one recipient. Never raises."""
    message = message_from_bytes(raw)
    if message is None:
        return None
    return dsn_from_message(message)


def dsn_from_message(message: Message) -> DsnReport | None:
    status_part = next(
        (
            p
            for p in iter_parts(message)
            if content_type(p) in ("message/delivery-status", "message/global-delivery-status")
        ),
        None,
    )
    if status_part is None:
        return None
    per_message: dict[str, str] = {}
    recipients: list[DsnRecipient] = []
    for block in field_blocks(part_text(status_part)):
        for name, value in block:
            if name not in _RECIPIENT_FIELDS:
                per_message.setdefault(name, value)
        for group in _split_recipients(block):
            recipient = _recipient(group)
            if recipient is not None:
                recipients.append(recipient)
    if not recipients:
        return None
    message_id, subject = original_ids(message)
    return DsnReport(
        recipients=tuple(recipients),
        reporting_mta=_typed(per_message.get("reporting-mta", "")),
        original_envelope_id=_xtext(_collapse(per_message.get("original-envelope-id", ""))),
        arrival_date=_date(per_message.get("arrival-date", "")),
        original_message_id=message_id,
        original_subject=subject,
        source="dsn",
    )


def parse_mdn(raw: bytes) -> MdnReport | None:
    """The read receipt (RFC 8098 / 3798 ``message/disposition-notification``) in ``raw``, or
    None. Never raises."""
    message = message_from_bytes(raw)
    if message is None:
        return None
    part = next(
        (
            p
            for p in iter_parts(message)
            if content_type(p)
            in ("message/disposition-notification", "message/global-disposition-notification")
        ),
        None,
    )
    if part is None:
        return None
    values: dict[str, str] = {}
    for block in field_blocks(part_text(part)):
        for name, value in block:
            values.setdefault(name, value)
    disposition = _collapse(values.get("disposition", "")).lower()
    mode, _, kind = disposition.partition(";")
    kind = kind.split("/")[0].strip()
    if not kind:
        return None
    match = _MSGID.search(values.get("original-message-id", ""))
    message_id = match.group(0) if match else original_ids(message)[0]
    return MdnReport(
        disposition=kind,
        disposition_mode=mode.strip(),
        original_message_id=message_id,
        final_recipient=_typed(values.get("final-recipient", "")),
        original_recipient=_address(values.get("original-recipient", "")),
        reporting_ua=_collapse(values.get("reporting-ua", "")),
    )
