"""Building the MIME bytes of an outgoing message, once (Message-ID and Date fixed).

Header injection is impossible by construction: every header value is checked for line breaks
and control characters before it reaches the email package (``ComposeError``), and the
generated header block is checked again afterwards (Python 3.11's generator has had folding bugs
that let a crafted value start a new header line, gh-121650).
"""

from __future__ import annotations

import email.utils
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, MIMEPart

from webmail.mime.addresses import Address, check_addr_spec, idna_domain, parse_address_list
from webmail.mime.params import sanitise_filename
from webmail.mime.render import html_to_text

__all__ = [
    "EXTRA_HEADERS",
    "Attachment",
    "BuiltMessage",
    "ComposeError",
    "ComposeSpec",
    "InlinePart",
    "build_message",
    "parse_address_list",
]

# Extra headers a caller may set; anything else raises ComposeError.
EXTRA_HEADERS = {
    "disposition-notification-to": "Disposition-Notification-To",
    "return-receipt-to": "Return-Receipt-To",
    "importance": "Importance",
    "priority": "Priority",
    "x-priority": "X-Priority",
    "organization": "Organization",
    "auto-submitted": "Auto-Submitted",
    "user-agent": "User-Agent",
    "x-mailer": "X-Mailer",
    "autocrypt": "Autocrypt",
}
_ADDRESS_EXTRAS = {"disposition-notification-to", "return-receipt-to"}
_MSGID = re.compile(r"<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>")  # printable ASCII, no < > or space
_CTYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_BAD_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
MAX_SUBJECT_CHARS = 998


class ComposeError(ValueError):
    """The message cannot be built as asked (line break in a header, bad address, ...).

    ``field`` names the offending input, for the form to show the error next to it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class InlinePart:
    """A resource of the HTML body, referenced there as ``cid:<content_id>``."""

    content_id: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ComposeSpec:
    from_: Address
    to: Sequence[Address] = ()
    cc: Sequence[Address] = ()
    bcc: Sequence[Address] = ()
    reply_to: Sequence[Address] = ()
    subject: str = ""
    text: str = ""
    html: str | None = None  # already sanitized by the caller
    attachments: Sequence[Attachment] = ()
    inline: Sequence[InlinePart] = ()
    in_reply_to: str = ""
    references: Sequence[str] = ()
    extra_headers: Sequence[tuple[str, str]] = ()
    message_id: str = ""  # generated when empty
    msgid_domain: str = ""  # for a generated Message-ID; the From domain when empty
    date: datetime | None = None  # now when None


@dataclass(frozen=True)
class BuiltMessage:
    raw: bytes  # CRLF line endings
    message_id: str  # with angle brackets
    date: datetime
    envelope_from: str
    recipients: tuple[str, ...]  # To + Cc + Bcc, each once, in that order
    smtputf8: bool  # an address needs SMTPUTF8 (RFC 6531) at MAIL FROM
    header_names: tuple[str, ...] = field(default=())


def _check_text(name: str, value: str, limit: int = 4000) -> str:
    if _BAD_CHARS.search(value):
        raise ComposeError(name, "line breaks and control characters are not allowed")
    if len(value) > limit:
        raise ComposeError(name, f"longer than {limit} characters")
    return value.replace("\t", " ")


def _mailbox(name: str, address: Address) -> tuple[HeaderAddress, str, bool]:
    """The header address, the envelope address and whether it needs SMTPUTF8."""
    display, addr = address
    _check_text(name, display, 500)
    _check_text(name, addr, 320)
    error = check_addr_spec(addr)
    if error:
        raise ComposeError(name, f"“{addr}”: {error}")
    local, _, domain = addr.rpartition("@")
    if not domain.startswith("["):
        domain = idna_domain(domain)
    utf8 = not local.isascii()
    if utf8:
        domain = address.email.rpartition("@")[2].lower()  # U-labels are fine under SMTPUTF8
    if local.startswith('"'):
        username = re.sub(r"\\(.)", r"\1", local[1:-1])
    else:
        username = local
    return (
        HeaderAddress(display_name=display, username=username, domain=domain),
        f"{local}@{domain}",
        utf8,
    )


def _msgid(name: str, value: str) -> str:
    value = _check_text(name, value.strip(), 998)
    if not _MSGID.fullmatch(value):
        raise ComposeError(name, f"“{value}” is not a message id like <id@domain>")
    return value


def _body_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text if text.endswith("\n") else text + "\n"


def _content_type(name: str, value: str) -> tuple[str, str]:
    _check_text(name, value, 255)
    ctype = value.split(";", 1)[0].strip().lower()
    if not _CTYPE.fullmatch(ctype) or ctype.startswith("multipart/"):
        ctype = "application/octet-stream"
    maintype, subtype = ctype.split("/", 1)
    return maintype, subtype


def _attach(message: MIMEPart, item: Attachment | InlinePart, inline: bool) -> None:
    label = "inline" if inline else "attachment"
    _check_text(label, item.filename, 1000)
    maintype, subtype = _content_type(label, item.content_type)
    filename = sanitise_filename(item.filename, f"{maintype}/{subtype}")
    if maintype == "message" and subtype != "rfc822":
        # message/delivery-status and friends are header blocks the email package can only
        # write from parsed sub-messages: a forwarded report goes along as its text.
        maintype, subtype = "text", "plain"
    if (maintype, subtype) == ("message", "rfc822"):
        lines = item.data.splitlines()
        if any(len(line) > 998 for line in lines):
            maintype, subtype = "application", "octet-stream"
    kwargs: dict[str, object] = {"filename": filename}
    if maintype == "message":
        kwargs["cte"] = "7bit" if item.data.isascii() else "8bit"
    if isinstance(item, InlinePart):
        cid = item.content_id.strip().strip("<>")
        _check_text("inline", cid, 250)
        if not cid or not _MSGID.fullmatch(f"<{cid}>" if "@" in cid else f"<{cid}@inline>"):
            raise ComposeError("inline", f"“{cid}” is not a usable Content-ID")
        kwargs["cid"] = f"<{cid}>"
        kwargs["disposition"] = "inline"
        message.add_related(item.data, maintype, subtype, **kwargs)  # type: ignore[arg-type]
    else:
        message.add_attachment(item.data, maintype, subtype, **kwargs)  # type: ignore[arg-type]


def _verify(raw: bytes, expected: set[str]) -> tuple[str, ...]:
    """The generated header block: CRLF only, folded lines start with white space, and exactly
    the header fields we set (no field smuggled in by folding)."""
    head, sep, _ = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ComposeError("message", "could not be generated")
    names: list[str] = []
    for line in head.split(b"\r\n"):
        if b"\r" in line or b"\n" in line or b"\x00" in line:
            raise ComposeError("message", "a header line contains a bare line break")
        if line[:1] in (b" ", b"\t"):
            continue
        name, colon, _ = line.partition(b":")
        if not colon or not name or not re.fullmatch(rb"[!-9;-~]+", name):
            raise ComposeError("message", "the generated header block is malformed")
        names.append(name.decode("ascii").lower())
    if set(names) != expected:
        raise ComposeError("message", "the generated header block has unexpected fields")
    return tuple(names)


def build_message(spec: ComposeSpec) -> BuiltMessage:
    """Build the message bytes for ``spec``.

    Raises ComposeError for a line break or control character in any header input, an invalid
    address, message id, Content-ID or extra header, or when there is no recipient.
    """
    sender, envelope_from, utf8 = _mailbox("from", spec.from_)
    lists: dict[str, list[HeaderAddress]] = {"to": [], "cc": [], "reply-to": []}
    recipients: dict[str, str] = {}
    for name, addresses in (
        ("to", spec.to),
        ("cc", spec.cc),
        ("bcc", spec.bcc),
        ("reply-to", spec.reply_to),
    ):
        for address in addresses:
            header_address, envelope, needs_utf8 = _mailbox(name, address)
            utf8 |= needs_utf8
            if name in lists:
                lists[name].append(header_address)
            if name != "reply-to":
                recipients.setdefault(envelope.lower(), envelope)
    if not recipients:
        raise ComposeError("to", "at least one recipient is needed")
    subject = _check_text("subject", spec.subject, MAX_SUBJECT_CHARS)
    date = (spec.date or datetime.now(UTC)).replace(microsecond=0)
    if date.tzinfo is None:
        raise ComposeError("date", "must be timezone-aware")
    domain = spec.msgid_domain or envelope_from.rpartition("@")[2]
    _check_text("msgid_domain", domain, 253)
    if not domain.isascii():
        domain = idna_domain(domain)
    message_id = (
        _msgid("message_id", spec.message_id)
        if spec.message_id
        else f"<{secrets.token_urlsafe(18)}@{domain.strip('[]') or 'localhost'}>"
    )
    in_reply_to = _msgid("in_reply_to", spec.in_reply_to) if spec.in_reply_to else ""
    references = [_msgid("references", ref) for ref in spec.references][-50:]

    message = EmailMessage(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
    message["From"] = sender
    for name, header in (("to", "To"), ("cc", "Cc"), ("reply-to", "Reply-To")):
        if lists[name]:
            message[header] = lists[name]
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(date)
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for key, value in spec.extra_headers:
        canonical = EXTRA_HEADERS.get(key.strip().lower())
        if canonical is None:
            raise ComposeError("extra_headers", f"the header “{key[:50]}” is not allowed")
        if canonical.lower() in _ADDRESS_EXTRAS:
            found, errors = parse_address_list(_check_text(canonical, value, 998))
            if errors or len(found) != 1:
                raise ComposeError(canonical, "must be one valid address")
            # an unstructured header in the registry: the bare address, never an encoded name
            message[canonical] = _mailbox(canonical, found[0])[1]
        else:
            message[canonical] = _check_text(canonical, value.strip(), 998)
    message["MIME-Version"] = "1.0"

    text = _body_text(spec.text if spec.text or spec.html is None else html_to_text(spec.html))
    message.set_content(text, subtype="plain", charset="utf-8")
    if spec.html is not None:
        message.add_alternative(_body_text(spec.html), subtype="html", charset="utf-8")
        if spec.inline:
            html_part = list(message.iter_parts())[1]
            for inline in spec.inline:
                _attach(html_part, inline, True)
    elif spec.inline:
        raise ComposeError("inline", "inline parts need an HTML body")
    for attachment in spec.attachments:
        _attach(message, attachment, False)

    for part in message.walk():
        if part is not message:
            del part["MIME-Version"]  # the stdlib adds it to every part it creates
    raw = message.as_bytes()
    expected = {k.lower() for k in message.keys()}
    names = _verify(raw, expected)
    return BuiltMessage(
        raw=raw,
        message_id=message_id,
        date=date,
        envelope_from=envelope_from,
        recipients=tuple(recipients.values()),
        smtputf8=utf8,
        header_names=names,
    )
