"""Delivery status notifications (RFC 3464) as the development mail server sends them.

Pure functions over bytes: the SMTP side decides who gets a report and when; this module only
writes the ``multipart/report; report-type=delivery-status`` message and decodes the DSN
parameters of RFC 3461 (xtext).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

__all__ = ["DsnRecipient", "build_dsn", "header_block", "xtext_decode", "xtext_encode"]

_XTEXT_HEX = re.compile(r"\+([0-9A-F]{2})")
_CRLF = "\r\n"

_SUBJECTS = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delayed Mail (still being retried)",
    "delivered": "Successful Mail Delivery Report",
    "relayed": "Successful Mail Delivery Report",
}


def xtext_decode(value: str) -> str:
    """Decode RFC 3461 xtext (``+2B`` is ``+``).

    Raises:
        ValueError: the value has a ``+`` that does not start a hex pair, or decodes to
            something other than printable US-ASCII (so it can never inject a header line).
    """
    if "+" in _XTEXT_HEX.sub("", value):
        raise ValueError(f"malformed xtext: {value!r}")
    decoded = _XTEXT_HEX.sub(lambda m: chr(int(m.group(1), 16)), value)
    if not all(" " <= ch <= "~" for ch in decoded):
        raise ValueError(f"xtext must decode to printable US-ASCII: {value!r}")
    return decoded


def xtext_encode(value: str) -> str:
    """Encode a printable US-ASCII string as RFC 3461 xtext."""
    return "".join(
        f"+{ord(ch):02X}" if ch in "+=" or not "!" <= ch <= "~" else ch for ch in value
    )


@dataclass(frozen=True)
class DsnRecipient:
    """One per-recipient block of a DSN (RFC 3464 section 2.3)."""

    final_recipient: str
    action: str  # failed | delayed | delivered | relayed
    status: str  # e.g. "5.1.1"
    diagnostic: str | None = None  # the remote reply, without "smtp; "
    remote_mta: str | None = None
    original_recipient: str | None = None  # "rfc822;addr", decoded from ORCPT
    will_retry_until: datetime | None = None


def header_block(message: bytes) -> bytes:
    """The header section of a message (up to, not including, the blank line), CRLF-ended."""
    normalized = message.replace(b"\r\n", b"\n")
    head = normalized.split(b"\n\n", 1)[0]
    return head.rstrip(b"\n").replace(b"\n", b"\r\n") + b"\r\n"


def _human_text(recipients: Sequence[DsnRecipient], reporting_mta: str) -> str:
    action = recipients[0].action
    lines = [f"This is the mail system at host {reporting_mta}.", ""]
    if action == "failed":
        lines += [
            "I'm sorry to have to inform you that your message could not",
            "be delivered to one or more recipients. It's attached below.",
        ]
    elif action == "delayed":
        lines += [
            "####################################################################",
            "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #",
            "####################################################################",
            "",
            "Your message could not be delivered yet. The mail system will keep",
            "trying to deliver it.",
        ]
    else:
        lines += ["Your message was successfully delivered to the recipients below."]
    lines.append("")
    for rcpt in recipients:
        detail = rcpt.diagnostic or rcpt.status
        host = f" (host {rcpt.remote_mta} said: {detail})" if rcpt.remote_mta else f": {detail}"
        lines.append(f"<{rcpt.final_recipient}>{host}")
    lines.append("")
    lines.append("-- The development mail server of the webmail demo")
    return _CRLF.join(lines) + _CRLF


def _status_fields(
    recipients: Sequence[DsnRecipient],
    reporting_mta: str,
    envid: str | None,
    arrival: datetime,
) -> str:
    fields = [f"Reporting-MTA: dns; {reporting_mta}"]
    if envid:
        fields.append(f"Original-Envelope-Id: {envid}")
    fields.append(f"Arrival-Date: {format_datetime(arrival)}")
    out = _CRLF.join(fields) + _CRLF
    for rcpt in recipients:
        block = []
        if rcpt.original_recipient:
            block.append(f"Original-Recipient: {rcpt.original_recipient}")
        addr_type = "rfc822" if rcpt.final_recipient.isascii() else "utf-8"
        block += [
            f"Final-Recipient: {addr_type}; {rcpt.final_recipient}",
            f"Action: {rcpt.action}",
            f"Status: {rcpt.status}",
        ]
        if rcpt.remote_mta:
            block.append(f"Remote-MTA: dns; {rcpt.remote_mta}")
        if rcpt.diagnostic:
            block.append(f"Diagnostic-Code: smtp; {rcpt.diagnostic}")
        block.append(f"Last-Attempt-Date: {format_datetime(arrival)}")
        if rcpt.will_retry_until:
            block.append(f"Will-Retry-Until: {format_datetime(rcpt.will_retry_until)}")
        out += _CRLF + _CRLF.join(block) + _CRLF
    return out


def build_dsn(
    *,
    recipients: Sequence[DsnRecipient],
    original: bytes,
    to: str,
    reporting_mta: str,
    arrival: datetime,
    date: datetime,
    envid: str | None = None,
    return_full: bool = False,
) -> bytes:
    """Write a DSN about ``original`` for ``recipients`` (all with the same action).

    ``return_full`` (RET=FULL) returns the whole message as ``message/rfc822``; otherwise only
    its header section as ``text/rfc822-headers``. Dates must be timezone-aware.

    Raises:
        ValueError: no recipients, or recipients with different actions.
    """
    if not recipients:
        raise ValueError("a DSN needs at least one recipient")
    actions = {rcpt.action for rcpt in recipients}
    if len(actions) != 1:
        raise ValueError(f"one DSN reports one action, got {sorted(actions)}")
    token = secrets.token_hex(8)
    boundary = f"=_dsn_{token}"
    head = _CRLF.join(
        [
            f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
            f"To: {to}",
            f"Subject: {_SUBJECTS[recipients[0].action]}",
            f"Date: {format_datetime(date)}",
            f"Message-ID: <dsn.{token}@{reporting_mta}>",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=delivery-status;{_CRLF}'
            f' boundary="{boundary}"',
        ]
    )
    if return_full:
        returned_type, returned = "message/rfc822", original
        if not returned.endswith(b"\n"):
            returned += b"\r\n"
    else:
        returned_type, returned = "text/rfc822-headers", header_block(original)
    human = _human_text(recipients, reporting_mta)
    status = _status_fields(recipients, reporting_mta, envid, arrival)
    # RFC 6533: reports about internationalized addresses use the "global" types.
    charset = "us-ascii" if human.isascii() else "utf-8"
    status_type = "message/" + ("delivery-status" if status.isascii() else "global-delivery-status")
    parts = [
        (
            "Content-Description: Notification\r\n"
            f"Content-Type: text/plain; charset={charset}\r\n"
            + ("" if human.isascii() else "Content-Transfer-Encoding: 8bit\r\n")
            + "\r\n"
            + human
        ).encode("utf-8"),
        (
            f"Content-Description: Delivery report\r\nContent-Type: {status_type}\r\n\r\n"
            + status
        ).encode("utf-8"),
        (
            f"Content-Description: Undelivered Message{' Headers' if not return_full else ''}"
            f"\r\nContent-Type: {returned_type}\r\n"
            + ("Content-Transfer-Encoding: 8bit\r\n" if return_full else "")
            + "\r\n"
        ).encode("ascii")
        + returned,
    ]
    body = b"This is a MIME-encapsulated message.\r\n\r\n"
    for part in parts:
        body += f"--{boundary}\r\n".encode("ascii") + part
        if not part.endswith(b"\r\n"):
            body += b"\r\n"
        body += b"\r\n"
    body += f"--{boundary}--\r\n".encode("ascii")
    return head.encode("utf-8") + b"\r\n\r\n" + body
