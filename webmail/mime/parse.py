"""Parsing a whole message (bytes from ``BODY.PEEK[]``) into what the message view shows.

``parse_message`` never raises: whatever bytes it gets, it returns a ``ParsedMessage``, with
``warnings`` saying what could not be shown (nesting or part limits, cut headers, a structure
the parser could not handle).
"""

from __future__ import annotations

import email
import email.parser
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from types import MappingProxyType

from webmail.mime.addresses import Address, parse_address_header
from webmail.mime.body import Body, choose, payload_bytes
from webmail.mime.headers import decode_bytes, decode_raw_header
from webmail.mime.params import (
    content_id,
    content_type,
    disposition,
    param,
    raw_filename,
    raw_header,
    sanitise_filename,
)
from webmail.mime.parts import (
    MimeError,
    PartNotFound,
    flatten,
    leaf_body_bytes,
    load_message,
    part_bytes,
    structure,
)
from webmail.mime.tree import (
    MAX_DEPTH,
    MAX_PARTS,
    Node,
    enclosed_message,
    iter_nodes,
    walk,
)

MAX_HEADERS = 500
MAX_HEADER_CHARS = 8 * 1024  # per header value in the full-header view
MAX_SUBJECT_CHARS = 2000
MAX_REFERENCES = 100
MAX_FALLBACK_BODY_BYTES = 1024 * 1024
_MSGID = re.compile(r"<[^<>\s]{1,990}>")

__all__ = [
    "Attachment",
    "MimeError",
    "ParsedMessage",
    "PartNotFound",
    "parse_message",
    "part_bytes",
    "structure",
]


@dataclass(frozen=True)
class Attachment:
    """A part offered for download. ``part_id`` is its IMAP section (``BODY[part_id]``)."""

    part_id: str
    filename: str  # decoded and sanitised for display
    content_type: str
    size: int  # decoded bytes
    content_id: str = ""  # without angle brackets
    disposition: str = ""  # "attachment", "inline" or ""
    is_inline: bool = False  # a resource of the displayed HTML body (cid: or multipart/related)
    in_message: str = ""  # section of the enclosing message/rfc822 part, "" at top level


@dataclass(frozen=True)
class ParsedMessage:
    subject: str = ""
    from_: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    sender: tuple[Address, ...] = ()
    date: datetime | None = None
    message_id: str = ""  # with angle brackets, as in the header
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    list_unsubscribe: tuple[str, ...] = ()  # URIs, angle brackets removed
    list_unsubscribe_post: bool = False  # RFC 8058 one-click
    html: str | None = None  # NOT sanitized: feed it to webmail.sanitize
    text: str | None = None
    html_section: str = ""  # the part the HTML came from ("" when made of several)
    text_section: str = ""
    attachments: tuple[Attachment, ...] = ()
    inline_parts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    headers: tuple[tuple[str, str], ...] = ()
    is_dsn: bool = False
    is_mdn: bool = False
    warnings: tuple[str, ...] = ()


def _first_msgid(value: str) -> str:
    match = _MSGID.search(value)
    if match:
        return match.group(0)
    value = value.strip()
    return value[:998] if value and " " not in value else ""


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(decode_raw_header(value[:200]))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _headers(message: Message, hint: str | None, warnings: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    try:
        items = list(message.raw_items())
    except Exception:
        items = []
    cut = False
    for name, value in items[:MAX_HEADERS]:
        value = str(value)
        long = len(value) > MAX_HEADER_CHARS
        text = decode_raw_header(value[:MAX_HEADER_CHARS], hint) + ("…" if long else "")
        cut |= long
        out.append((decode_raw_header(str(name), hint)[:200], text))
    if len(items) > MAX_HEADERS:
        warnings.append(
            f"The message has {len(items)} header lines; only the first {MAX_HEADERS} are shown."
        )
    if cut:
        warnings.append(f"Header values longer than {MAX_HEADER_CHARS} characters are cut.")
    return out


def _report_type(message: Message) -> str:
    if content_type(message) != "multipart/report":
        return ""
    return (param(message, "report-type") or "").strip().lower()


def _attachments(
    nodes: list[Node], body: Body, inline: set[str], inner: dict[str, tuple[str, list[str]]]
) -> list[Attachment]:
    """Every leaf and enclosed message, except text parts shown as a body (top-level or of
    their enclosed message) that have no filename."""
    out: list[Attachment] = []
    for node in nodes:
        if node.kind == "multipart":
            continue
        shown = inner[node.in_message][1] if node.in_message else body.sections
        if node.section in shown and not raw_filename(node.part):
            continue
        fallback = ""
        if node.kind == "message":
            enclosed = enclosed_message(node.part)
            size = len(flatten(enclosed)) if enclosed is not None else 0
            fallback = inner[node.section][0] or "message"
        elif node.part.is_multipart():  # message/delivery-status and the like
            size = len(leaf_body_bytes(node.part))
        else:
            size = len(payload_bytes(node.part))
        out.append(
            Attachment(
                part_id=node.section,
                filename=sanitise_filename(raw_filename(node.part), node.content_type, fallback),
                content_type=node.content_type,
                size=size,
                content_id=content_id(node.part),
                disposition=disposition(node.part),
                is_inline=node.section in inline,
                in_message=node.in_message,
            )
        )
    return out


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse ``raw`` (a whole RFC 5322 message) for display. Never raises.

    Limits: ``MAX_DEPTH`` nesting levels and ``MAX_PARTS`` parts are walked, ``MAX_HEADERS``
    header lines and ``MAX_HEADER_CHARS`` per value shown; what is cut is named in ``warnings``.
    """
    warnings: list[str] = []
    try:
        return _parse(bytes(raw), warnings)
    except Exception:
        warnings.append("The message could not be read; it is shown as plain text.")
        text = decode_bytes(bytes(raw)[:MAX_FALLBACK_BODY_BYTES])
        return ParsedMessage(text=text, warnings=tuple(warnings))


def _parse(raw: bytes, warnings: list[str]) -> ParsedMessage:
    message = load_message(raw, warnings)
    if message is None:
        return _headers_only(raw, warnings)
    hint = param(message, "charset")
    tree = walk(message, MAX_PARTS, MAX_DEPTH)
    warnings.extend(tree.warnings)
    nodes = iter_nodes(tree.root)
    body = choose(_body_root(tree.root))
    # enclosed messages: (subject, sections of their own body)
    inner: dict[str, tuple[str, list[str]]] = {}
    for node in nodes:
        if node.kind == "message":
            enclosed = enclosed_message(node.part)
            subject = decode_raw_header(raw_header(enclosed, "subject") if enclosed else "")
            inner[node.section] = (subject[:100], choose(_body_root(node)).sections)
    if body.empty:
        # a message that is only an enclosed message (or a digest): show the first one's body
        first = next((n for n in nodes if n.kind == "message" and n.children), None)
        if first is not None:
            body = choose(_body_root(first))
    if body.truncated:
        warnings.append("The message text is very long and was cut.")
    inline_parts: dict[str, str] = {}
    for node in nodes:
        cid = content_id(node.part) if node.kind == "leaf" and not node.in_message else ""
        if cid and cid not in inline_parts:
            inline_parts[cid] = node.section
    for cid, section in body.cids.items():
        inline_parts.setdefault(cid, section)
    html = (body.html or "").lower()
    inline = {section for cid, section in inline_parts.items() if "cid:" + cid.lower() in html}
    inline |= {r.section for r in body.resources if r.kind == "leaf"}
    attachments = _attachments(nodes, body, inline, inner)
    return _result(message, hint, body, attachments, inline_parts, warnings)


def _body_root(node: Node) -> Node:
    """The node whose best body is the body of ``node`` (the synthetic root or a
    message/rfc822 node): its single body part, or a stand-in for its top multipart."""
    children = node.children
    entity = node.part if node.section == "" else enclosed_message(node.part)
    if entity is None:
        return Node(node.section, node.part, node.content_type, "leaf", node.depth)
    if len(children) == 1 and children[0].part is entity:
        return children[0]
    return Node(
        node.section, entity, content_type(entity), "multipart", node.depth, children=children
    )


def _result(
    message: Message,
    hint: str | None,
    body: Body,
    attachments: list[Attachment],
    inline_parts: dict[str, str],
    warnings: list[str],
) -> ParsedMessage:
    def header(name: str) -> str:
        return raw_header(message, name) or ""

    def addresses(name: str) -> tuple[Address, ...]:
        return parse_address_header(raw_header(message, name), hint)

    subject = decode_raw_header(header("subject")[: MAX_SUBJECT_CHARS * 4], hint)
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[:MAX_SUBJECT_CHARS] + "…"
        warnings.append(f"The subject is longer than {MAX_SUBJECT_CHARS} characters and was cut.")
    references = tuple(_MSGID.findall(header("references")))[-MAX_REFERENCES:]
    unsubscribe = tuple(
        "".join(uri.split()) for uri in re.findall(r"<([^<>]{1,2000})>", header("list-unsubscribe"))
    )[:10]
    report_type = _report_type(message)
    headers = tuple(_headers(message, hint, warnings))
    return ParsedMessage(
        subject=subject,
        from_=addresses("from"),
        to=addresses("to"),
        cc=addresses("cc"),
        reply_to=addresses("reply-to"),
        bcc=addresses("bcc"),
        sender=addresses("sender"),
        date=_date(raw_header(message, "date")),
        message_id=_first_msgid(decode_raw_header(header("message-id")[:2000])),
        in_reply_to=_first_msgid(decode_raw_header(header("in-reply-to")[:2000])),
        references=references,
        list_unsubscribe=unsubscribe,
        list_unsubscribe_post="one-click" in header("list-unsubscribe-post").lower(),
        html=body.html,
        text=body.text,
        html_section=body.html_sections[0] if len(body.html_sections) == 1 else "",
        text_section=body.text_sections[0] if len(body.text_sections) == 1 else "",
        attachments=tuple(attachments),
        inline_parts=MappingProxyType(inline_parts),
        headers=headers,
        is_dsn=report_type == "delivery-status",
        is_mdn=report_type == "disposition-notification",
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _headers_only(raw: bytes, warnings: list[str]) -> ParsedMessage:
    """The fallback for structures the parser cannot handle: headers, and the body as text."""
    try:
        message = email.parser.BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    except Exception:
        message = Message()
    split = re.search(rb"\r?\n\r?\n", raw)
    text = decode_bytes(raw[split.end() :][:MAX_FALLBACK_BODY_BYTES] if split else b"")
    warnings.append("The message is shown as plain text.")
    return _result(message, None, Body(text=text), [], {}, warnings)
