"""What the compose form starts with for a reply, reply-all, forward or resumed draft.

Pure functions over the original's bytes (no I/O, no Django): the view fetches the message and
stores the attachments these functions hand back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from webmail.compose import htmlquote
from webmail.compose.uploads import ComposeState, is_token
from webmail.mime.addresses import Address, format_address
from webmail.mime.compose import InlinePart
from webmail.mime.parse import ParsedMessage, PartNotFound, parse_message, part_bytes
from webmail.mime.render import forward_header_block, html_to_text, quote_for_reply

DRAFT_ID_HEADER = "X-Webmail-Draft-Id"
ORIGIN_HEADER = "X-Webmail-Origin"
MAX_REFERENCES = 30
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw)(\[\d+\])?\s*:", re.IGNORECASE)
_FORWARD_PREFIX = re.compile(r"^\s*(fwd?|wg|tr)\s*:", re.IGNORECASE)
# Characters that make a display name need quotes in an address field (RFC 5322 specials).
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


class RefError(ValueError):
    """A ``<folder>/<uid>`` reference that cannot be read."""


@dataclass
class Prefill:
    """Initial values of the compose form, the session state, and files to attach."""

    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    body_html: str = ""
    format: str = "plain"
    from_email: str = ""  # "" means the default identity
    token: str = ""  # a resumed draft keeps its compose session id
    state: ComposeState = field(default_factory=ComposeState)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # name, type, data
    inline: list[InlinePart] = field(default_factory=list)  # images of body_html (cid:)


def parse_ref(value: str) -> tuple[str, int]:
    """``(folder, uid)`` from a ``?reply=`` style value: the folder, a slash, the UID.

    The UID is taken from the right, so folder names may contain slashes. Raises ``RefError``.
    """
    folder, slash, uid = (value or "").rpartition("/")
    if not slash or not folder or not uid.isascii() or not uid.isdigit() or len(uid) > 10:
        raise RefError("not a message reference")
    number = int(uid)
    if not 0 < number < 2**32:
        raise RefError("not a message reference")
    return folder, number


def make_ref(folder: str, uid: int) -> str:
    """The query value for ``/compose/?draft=`` and friends (the inverse of ``parse_ref``)."""
    return quote(f"{folder}/{uid}", safe="")


def address_field(addresses: Iterable[Address]) -> str:
    """Addresses as a person would type them, quoted so that ``parse_address_list`` reads
    them back unchanged (a name with a comma stays one name)."""
    out = []
    for a in addresses:
        if not a.email:
            continue
        name = a.name.strip()
        if name and name.lower() != a.email.lower():
            if _SPECIALS.search(name):
                name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
            out.append(f"{name} <{a.email}>")
        else:
            out.append(a.email)
    return ", ".join(out)


def _without(addresses: Iterable[Address], exclude: set[str]) -> list[Address]:
    """Addresses not in ``exclude`` (lower-cased) and each only once; adds what it keeps."""
    kept = []
    for a in addresses:
        key = a.email.lower()
        if a.email and key not in exclude:
            exclude.add(key)
            kept.append(a)
    return kept


def reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}".rstrip()


def forward_subject(subject: str) -> str:
    subject = " ".join(subject.split())
    return subject if _FORWARD_PREFIX.match(subject) else f"Fwd: {subject}".rstrip()


def _plain_text(parsed: ParsedMessage) -> str:
    if parsed.text is not None and parsed.text.strip():
        return parsed.text
    if parsed.html:
        return html_to_text(parsed.html)
    return parsed.text or ""


def _references(parsed: ParsedMessage) -> list[str]:
    refs = list(parsed.references)
    if not refs and parsed.in_reply_to:
        refs = [parsed.in_reply_to]
    if parsed.message_id and parsed.message_id not in refs:
        refs.append(parsed.message_id)
    # RFC 5322 3.6.4: keep the first (thread root) and the most recent ones.
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1):]
    return refs


def _identity_for(parsed: ParsedMessage, own: Sequence[str]) -> str:
    """The identity the original was written to, so the reply comes from the same address."""
    wanted = {a.email.lower() for a in (*parsed.to, *parsed.cc)}
    return next((address for address in own if address.lower() in wanted), "")


def _signature_block(signature: str) -> str:
    return f"-- \n{signature.strip()}\n" if signature.strip() else ""


def _domain(identity: str, own: Sequence[str]) -> str:
    """The domain new Content-IDs are made in: that of the identity the reply comes from."""
    return (identity or (own[0] if own else "")).rpartition("@")[2]


def _rich(prefill: Prefill, html: str) -> None:
    """Start ``prefill`` in the rich-text editor with ``html`` (its plain ``body`` stays, for
    the page without JavaScript), unless the quote is too long to post with every save."""
    if len(html) <= htmlquote.MAX_QUOTED_HTML:
        prefill.format, prefill.body_html = "html", html
    else:
        prefill.inline = []


def reply_prefill(raw: bytes, *, folder: str, uid: int, own: Sequence[str], reply_all: bool,
                  signature_for: dict[str, str], rich: bool = False) -> Prefill:
    """Reply (or reply-all) to ``raw``.

    ``own`` are the user's addresses (identities); they never get the reply-all and decide the
    From. Reply-To is honoured. A reply to one's own message (from Sent) goes to its recipients.
    ``rich`` (the user writes HTML): the original is quoted as sanitized HTML too, with its
    inline images, in ``body_html``; ``body`` always has the ``> `` quote.
    """
    parsed = parse_message(raw)
    own_lower = {a.lower() for a in own}
    author = parsed.reply_to or parsed.from_
    from_me = bool(parsed.from_) and all(a.email.lower() in own_lower for a in parsed.from_)
    seen = set(own_lower)
    if from_me and not parsed.reply_to:
        to = _without(parsed.to, seen)
        cc = _without(parsed.cc, seen) if reply_all else []
    elif reply_all:
        to = _without([*author, *parsed.to], seen)
        cc = _without(parsed.cc, seen)
    else:
        to = _without(author, seen)
        cc = []
    if not to and not cc:  # writing to oneself: keep the address rather than nothing
        to = list(author)[:1]
    identity = _identity_for(parsed, own)
    plain_signature = signature_for.get(identity or (own[0] if own else ""), "")
    signature = _signature_block(plain_signature)
    who = format_address(parsed.from_[0]) if parsed.from_ else "someone"
    quoted = quote_for_reply(_plain_text(parsed), who, parsed.date)
    body = "\n\n" + (signature + "\n" if signature else "") + quoted
    state = ComposeState(origin_folder=folder, origin_uid=uid, origin_kind="reply",
                         in_reply_to=parsed.message_id, references=_references(parsed))
    prefill = Prefill(to=address_field(to), cc=address_field(cc),
                      subject=reply_subject(parsed.subject), body=body, from_email=identity,
                      state=state)
    if rich:
        original = htmlquote.editor_html(raw, parsed, domain=_domain(identity, own))
        prefill.inline = list(original.inline)
        _rich(prefill, htmlquote.reply_html(original, author=who, date=parsed.date,
                                            signature=plain_signature))
    return prefill


def _attachments(raw: bytes, parsed: ParsedMessage) -> list[tuple[str, str, bytes]]:
    """The original's attachments (top level, not the body's inline images), decoded."""
    files = []
    for attachment in parsed.attachments:
        if attachment.in_message or attachment.is_inline:
            continue
        try:
            data, ctype, filename = part_bytes(raw, attachment.part_id)
        except PartNotFound:
            continue
        files.append((filename or attachment.filename, ctype, data))
    return files


def forward_prefill(raw: bytes, *, folder: str, uid: int, own: Sequence[str],
                    signature_for: dict[str, str], rich: bool = False) -> Prefill:
    """Forward ``raw`` inline (its text below a header block) with its attachments.

    ``rich``: the original's sanitized HTML follows the header block in ``body_html`` and its
    inline images go along as images of the new message. Inline parts that do not (plain
    text, or not an image the editor shows) are attached, so a forward loses no part.
    """
    parsed = parse_message(raw)
    identity = _identity_for(parsed, own)
    plain_signature = signature_for.get(identity or (own[0] if own else ""), "")
    signature = _signature_block(plain_signature)
    block = forward_header_block(subject=parsed.subject, from_=parsed.from_, to=parsed.to,
                                 cc=parsed.cc, date=parsed.date)
    body = "\n\n" + (signature + "\n" if signature else "") + block + "\n" + _plain_text(parsed)
    state = ComposeState(origin_folder=folder, origin_uid=uid, origin_kind="forward",
                         references=_references(parsed))
    prefill = Prefill(subject=forward_subject(parsed.subject), body=body, from_email=identity,
                      state=state, attachments=_attachments(raw, parsed))
    original = htmlquote.editor_html(raw, parsed, domain=_domain(identity, own))
    if rich:
        prefill.inline = list(original.inline)
        _rich(prefill, htmlquote.forward_html(
            original, subject=parsed.subject, from_=parsed.from_, to=parsed.to, cc=parsed.cc,
            date=parsed.date, signature=plain_signature))
    carried = {p.content_id for p in prefill.inline}
    prefill.attachments += [(p.filename, p.content_type, p.data) for p in original.inline
                            if p.content_id not in carried]
    prefill.attachments += list(original.leftover)
    return prefill


def origin_header(state: ComposeState) -> str:
    """``reply 12 INBOX`` (folder URL-quoted): kept in a draft so a resumed reply still marks
    the original as answered."""
    if state.origin is None:
        return ""
    return f"{state.origin_kind} {state.origin_uid} {quote(state.origin_folder, safe='')}"


def _header(parsed: ParsedMessage, name: str) -> str:
    lowered = name.lower()
    return next((v.strip() for k, v in parsed.headers if k.lower() == lowered), "")


def draft_prefill(raw: bytes, *, folder: str, uid: int) -> Prefill:
    """Resume the draft ``raw`` stored at ``folder``/``uid``: every field, its attachments and
    the images of its HTML, the compose session it was saved from, and what it replies to."""
    parsed = parse_message(raw)
    token = _header(parsed, DRAFT_ID_HEADER)
    state = ComposeState(in_reply_to=parsed.in_reply_to, references=list(parsed.references),
                         draft_folder=folder, draft_uid=uid)
    kind, _, rest = _header(parsed, ORIGIN_HEADER).partition(" ")
    origin_uid, _, origin_folder = rest.partition(" ")
    if kind in ("reply", "forward") and origin_uid.isdigit() and origin_folder:
        state.origin_kind, state.origin_uid = kind, int(origin_uid)
        state.origin_folder = unquote(origin_folder)
    prefill = Prefill(to=address_field(parsed.to), cc=address_field(parsed.cc),
                      bcc=address_field(parsed.bcc), subject=" ".join(parsed.subject.split()),
                      from_email=parsed.from_[0].email if parsed.from_ else "",
                      token=token if is_token(token) else "", state=state,
                      attachments=_attachments(raw, parsed))
    if parsed.html:
        sender = parsed.from_[0].email if parsed.from_ else ""
        content = htmlquote.editor_html(raw, parsed, domain=sender.rpartition("@")[2])
        prefill.format, prefill.body_html = "html", content.html
        prefill.inline = list(content.inline)
        prefill.attachments += list(content.leftover)
        prefill.body = parsed.text if parsed.text is not None else html_to_text(parsed.html)
    else:
        prefill.body = parsed.text or ""
    return prefill
