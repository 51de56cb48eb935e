"""Bounces without a ``message/delivery-status`` part: reading the prose of Exim, qmail, Gmail,
Domino, Exchange, OpenSMTPD and similar notifications.

Best effort and conservative: a message is read as a bounce only when its sender or subject says
so and one of the known layouts yields at least one recipient; otherwise ``parse_bounce``
returns None (an auto-reply, an abuse report or a forwarded bounce is not a bounce).
"""

from __future__ import annotations

import email.parser
import re
from collections.abc import Callable
from email import policy
from email.message import Message

from webmail.mime.dsn import (
    DsnRecipient,
    DsnReport,
    content_type,
    dsn_from_message,
    iter_parts,
    message_from_bytes,
    original_ids,
    part_text,
    returned_headers,
)
from webmail.mime.render import html_to_text

_ADDR = r"[^@\s<>()\[\]\"',;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
_ADDR_ONLY = re.compile(rf"^(\s*)<?({_ADDR})>?(?:<mailto:[^>]*>)?\s*$")
_ADDR_COLON = re.compile(rf"^\s*<({_ADDR})>:\s*$")
_ADDR_TEXT = re.compile(rf"^({_ADDR}):\s+(\S.*)$")
_STATUS = re.compile(r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.]*\d)")
_MULTILINE_REPLY = re.compile(r"\b[245]\d\d-[245]\.\d{1,3}\.\d{1,3}\b")
_REPLY_PREFIX = re.compile(r"\b[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b\s*")
_RETURNED_MARKER = re.compile(
    r"^\s*(?:-+\s*)?(?:this is a copy of the message|below this line is a copy of the message"
    r"|original message\b|below is a copy of the original message|original message headers:"
    r"|original message follows|the original message was)",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_START = re.compile(r"^(?:Return-path|Received|DKIM-Signature|Message-I[dD]):", re.MULTILINE)
_BOUNCE_SENDER = re.compile(r"(?i)\b(mailer-daemon|postmaster|mail-daemon|mail delivery)")
_BOUNCE_SUBJECT = re.compile(
    r"(?i)undeliver|delivery (status|fail|has failed|notification)|failure notice|returned mail"
    r"|mail delivery failed|could not be delivered|non-?delivery|not delivered|mail failure"
)
_DELAYED = re.compile(r"(?i)has been delayed|warning message only|will be retried|delayed mail")

Found = list[tuple[str, list[str]]]  # (recipient, the lines that explain it)


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _gmail(lines: list[str]) -> Found:
    """``Delivery to the following recipient failed permanently:`` then indented addresses;
    everything from that sentence on explains every recipient."""
    start = next(
        (i for i, line in enumerate(lines) if "Delivery to the following recipient" in line), -1
    )
    if start < 0:
        return []
    recipients = [m.group(2) for line in lines[start + 1 :] if (m := _ADDR_ONLY.match(line))]
    explanation = [line for line in lines[start:] if line.strip() and not _ADDR_ONLY.match(line)]
    return [(r, explanation) for r in recipients]


def _starred(lines: list[str]) -> Found:
    """Google Workspace: ``** Message not delivered **`` and prose; the recipient may only be
    named in the returned message (filled in by the caller)."""
    if not any(re.fullmatch(r"\s*\*\* .{3,80} \*\*\s*", line) for line in lines[:5]):
        return []
    recipients = [m.group(2) for line in lines if (m := _ADDR_ONLY.match(line))]
    explanation = [line for line in lines if line.strip() and not _ADDR_ONLY.match(line)]
    return [(r, explanation) for r in recipients] or [("", explanation)]


def _exchange(lines: list[str]) -> Found:
    """Exchange/Office 365: the address, then its server reply, under the administrators'
    section."""
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if line.strip().startswith("Diagnostic information for")
        ),
        -1,
    )
    return _address_paragraphs(lines[start + 1 :]) if start >= 0 else []


def _address_paragraphs(lines: list[str]) -> Found:
    found: Found = []
    for i, line in enumerate(lines):
        match = _ADDR_ONLY.match(line)
        if not match or not line.strip():
            continue
        block: list[str] = []
        for following in lines[i + 1 :]:
            if not following.strip() or _ADDR_ONLY.match(following):
                break
            block.append(following)
        if block:
            found.append((match.group(2), block))
    return found


def _qmail(lines: list[str]) -> Found:
    """qmail, Yahoo: ``<address>:`` then the explanation up to a blank line."""
    found: Found = []
    for i, line in enumerate(lines):
        match = _ADDR_COLON.match(line)
        if match:
            block: list[str] = []
            for following in lines[i + 1 :]:
                if not following.strip() or _ADDR_COLON.match(following):
                    break
                block.append(following)
            found.append((match.group(1), block))
    return found


def _address_colon_text(lines: list[str]) -> Found:
    """OpenSMTPD: ``address: explanation`` on one line."""
    return [(m.group(1), [m.group(2)]) for line in lines if (m := _ADDR_TEXT.match(line))]


def _address_then_text(lines: list[str]) -> Found:
    """Last resort (Zoho and others): a line that starts with the address and explains it."""
    found: Found = []
    for line in lines:
        match = re.match(rf"^\s*<?({_ADDR})>?\s+(\S.*)$", line)
        if match and _STATUS.search(match.group(2)):
            found.append((match.group(1), [line]))
    return found


def _indented(lines: list[str]) -> Found:
    """Exim (and mail.ru, Domino): an indented address, then more deeply indented lines; for
    Domino the explanation follows a ``because:`` line instead."""
    found: Found = []
    for i, line in enumerate(lines):
        match = _ADDR_ONLY.match(line)
        if not match or not match.group(1):
            continue
        depth = len(match.group(1))
        block: list[str] = []
        for following in lines[i + 1 :]:
            indent = len(following) - len(following.lstrip())
            if not following.strip() or indent <= depth:
                break
            block.append(following)
        found.append((match.group(2), block))
    if found and not any(block for _, block in found):
        because = next(
            (i for i, line in enumerate(lines) if line.strip().lower() == "because:"), -1
        )
        if because >= 0:
            reason: list[str] = []
            for following in lines[because + 1 :]:
                if not following.strip() and reason:
                    break
                if following.strip():
                    reason.append(following)
            found = [(address, reason) for address, _ in found]
    return found


_RECOGNIZERS: tuple[Callable[[list[str]], Found], ...] = (
    _gmail,
    _starred,
    _exchange,
    _qmail,
    _address_colon_text,
    _indented,
    _address_then_text,
)


def _explain(block: list[str]) -> tuple[str, str]:
    """The diagnostic (lines joined, multi-line SMTP reply codes removed) and status code."""
    text = " ".join(" ".join(block).split())
    status = _STATUS.search(text)
    if _MULTILINE_REPLY.search(text):
        text = " ".join(_REPLY_PREFIX.sub("", text).split())
    return text, status.group(0) if status else ""


def looks_like_bounce(message: Message) -> bool:
    """Sender or subject of a non-delivery notification, and not an abuse report."""
    if content_type(message) == "multipart/report":
        report_type = str(message.get_param("report-type") or "").lower()
        if report_type and report_type != "delivery-status":
            return False
    sender = f"{message.get('from', '')} {message.get('return-path', '')}"
    subject = str(message.get("subject", ""))
    return bool(_BOUNCE_SENDER.search(sender) or _BOUNCE_SUBJECT.search(subject))


def notification_text(message: Message) -> tuple[str, str]:
    """The human-readable notification, and the text after it (an inline returned message)."""
    text = ""
    for part in iter_parts(message):
        ctype = content_type(part)
        if ctype.startswith("message/"):
            break
        if ctype in ("text/plain", "text/html") and not part.is_multipart():
            body = part_text(part)
            text = html_to_text(body) if ctype == "text/html" else body
            break
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    marker = _RETURNED_MARKER.search(text)
    if marker:  # the returned message starts on the line after the marker
        line_end = text.find("\n", marker.end())
        return text[: marker.start()], text[line_end + 1 :] if line_end >= 0 else ""
    headers = _HEADER_START.search(text)  # or directly with its header lines
    return (text[: headers.start()], text[headers.start() :]) if headers else (text, "")


def parse_bounce(raw: bytes) -> DsnReport | None:
    """A delivery report for ``raw``: its DSN part when it has one (``source="dsn"``), else what
    the notification's text says (``source="text"``); None when it is not a bounce or nothing
    can be read. Never raises."""
    message = message_from_bytes(raw)
    if message is None:
        return None
    try:
        report = dsn_from_message(message)
        if report is not None:
            return report
        return _from_text(message)
    except Exception:  # a heuristic must never take the caller down
        return None


def _from_text(message: Message) -> DsnReport | None:
    if not looks_like_bounce(message):
        return None
    notification, rest = notification_text(message)
    lines = _lines(notification)
    found: Found = []
    for recognizer in _RECOGNIZERS:
        found = recognizer(lines)
        if found:
            break
    message_id, subject = original_ids(message)
    if not message_id and rest:
        returned = email.parser.HeaderParser(policy=policy.compat32).parsestr(rest.lstrip("\n"))
        match = re.search(r"<[^<>\s]+>", str(returned.get("message-id", "")))
        message_id = match.group(0) if match else ""
    if found and not found[0][0]:  # recipient only in the returned message
        headers = returned_headers(message)
        to = str(headers.get("to", "")) if headers is not None else ""
        addresses = re.findall(_ADDR, to)
        found = [(address, found[0][1]) for address in addresses]
    delayed = bool(_DELAYED.search(notification))
    recipients: list[DsnRecipient] = []
    seen: set[str] = set()
    for address, block in found:
        if address.lower() in seen:
            continue
        seen.add(address.lower())
        diagnostic, status = _explain(block)
        recipients.append(
            DsnRecipient(
                final_recipient=address,
                action="delayed" if delayed else "failed",
                status=status,
                diagnostic_code=diagnostic,
            )
        )
    if not recipients:
        return None
    return DsnReport(
        recipients=tuple(recipients),
        original_message_id=message_id,
        original_subject=subject,
        source="text",
    )
