"""A message's HTML as the compose editor gets it: sanitized, with its inline images.

Pure functions over the original's bytes (no I/O, no Django), used by ``prefill.py`` for a
rich-text reply or forward and for a resumed draft:

- the HTML goes through ``sanitize_compose_html`` (the same allow-list as everything else; no
  style sheets, no ids, no remote images at all: nothing in the editor loads from elsewhere);
- its ``cid:`` images (PNG, GIF, JPEG, WebP) are carried along as ``InlinePart``\\ s under new
  Content-IDs of our own making (random, from a safe alphabet), and the references in the
  sanitized HTML are renamed to them. A reference to a part that is not carried is emptied.
  Inline parts that are not carried are handed back as files, for a forward to attach.

The attribution line and the forward header block are the ones the plain-text quote uses
(``webmail.mime.render``), so both alternatives of the message say the same.
"""

from __future__ import annotations

import html as htmllib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

from webmail.mime.addresses import Address
from webmail.mime.compose import InlinePart
from webmail.mime.parse import MimeError, ParsedMessage, part_bytes
from webmail.mime.render import forward_header_block, quote_for_reply, text_to_html
from webmail.sanitize import sanitize_compose_html

#: Image types the editor shows and the message carries as related parts.
INLINE_TYPES = frozenset({"image/png", "image/gif", "image/jpeg", "image/webp"})
_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
MAX_INLINE_IMAGE = 5 * 1024 * 1024
MAX_INLINE_TOTAL = 15 * 1024 * 1024
#: A quote longer than this (characters of sanitized HTML) is not offered in the editor: every
#: draft save would post it again. The reply is then started in plain text.
MAX_QUOTED_HTML = 1_000_000
#: ``cid:`` references in sanitized HTML: the sanitizer keeps exactly this alphabet. Only those
#: in an attribute value or a CSS ``url(`` are touched (``"``, ``&quot;`` or ``(`` before them).
_CID_REF = re.compile(r"(?<=[\";(])cid:([\w.@%+=$-]+)", re.A)
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,250}[A-Za-z0-9])?")
QUOTE_STYLE = "margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex"


@dataclass(frozen=True)
class EditorHtml:
    """Sanitized HTML for the editor, its images, and inline parts that were not carried."""

    html: str
    inline: tuple[InlinePart, ...] = ()
    leftover: tuple[tuple[str, str, bytes], ...] = ()  # (filename, type, data)


def new_content_id(domain: str) -> str:
    """A fresh Content-ID (without ``<>``) in the alphabet every layer accepts."""
    domain = domain.strip("[]").lower()
    if not domain.isascii() or not _DOMAIN.fullmatch(domain) or ".." in domain:
        domain = "localhost"
    return f"{secrets.token_hex(12)}@{domain}"


def _images(raw: bytes, parsed: ParsedMessage) -> dict[str, tuple[str, str, str, bytes]]:
    """The body's inline parts by Content-ID: (section, filename, type, data)."""
    inline = {a.part_id: a for a in parsed.attachments if a.is_inline and not a.in_message}
    found: dict[str, tuple[str, str, str, bytes]] = {}
    for cid, section in parsed.inline_parts.items():
        attachment = inline.get(section)
        if attachment is None:
            continue
        try:
            data, ctype, filename = part_bytes(raw, section)
        except MimeError:
            continue
        ctype = ctype.lower()
        found[cid] = (section, filename or attachment.filename, _TYPE_ALIASES.get(ctype, ctype),
                      data)
    return found


def rename_cids(html: str, names: dict[str, str]) -> str:
    """``cid:`` references of sanitized ``html`` renamed by ``names`` (old -> new Content-ID,
    both without ``<>``); references to anything else are emptied (no broken load)."""
    folded = {k.lower(): v for k, v in names.items()}

    def swap(match: re.Match[str]) -> str:
        key = unquote(match[1]).strip().strip("<>")
        new = names.get(key) or folded.get(key.lower())
        return f"cid:{new}" if new else ""

    return _CID_REF.sub(swap, html)


def editor_html(raw: bytes, parsed: ParsedMessage, *, domain: str) -> EditorHtml:
    """The body of ``parsed`` for the editor (its HTML, else its text as HTML), sanitized,
    with the images it shows carried under new Content-IDs."""
    if parsed.html is None:
        return EditorHtml(sanitize_compose_html(text_to_html(parsed.text or "")))
    html = sanitize_compose_html(parsed.html)
    referenced = {unquote(m[1]).strip().strip("<>").lower() for m in _CID_REF.finditer(html)}
    names: dict[str, str] = {}
    by_section: dict[str, str] = {}
    inline: list[InlinePart] = []
    leftover: list[tuple[str, str, bytes]] = []
    total = 0
    for cid, (section, filename, ctype, data) in _images(raw, parsed).items():
        if section in by_section:  # one part under two names
            names[cid] = by_section[section]
            continue
        fits = len(data) <= MAX_INLINE_IMAGE and total + len(data) <= MAX_INLINE_TOTAL
        if ctype in INLINE_TYPES and fits and cid.lower() in referenced:
            new = new_content_id(domain)
            names[cid] = by_section[section] = new
            total += len(data)
            inline.append(InlinePart(content_id=new, filename=filename, content_type=ctype,
                                     data=data))
        else:
            by_section[section] = ""
            leftover.append((filename, ctype, data))
    return EditorHtml(rename_cids(html, names), tuple(inline), tuple(leftover))


def signature_html(signature: str) -> str:
    """The ``-- `` signature block as editor HTML (escaped text)."""
    signature = signature.strip()
    if not signature:
        return ""
    lines = "<br>".join(htmllib.escape(line, quote=False) for line in signature.split("\n"))
    return f'<div class="mail-signature">-- <br>{lines}</div>'


def _lines(text: str) -> str:
    return "<br>".join(htmllib.escape(line, quote=False)
                       for line in text.rstrip("\n").split("\n"))


def reply_html(body: EditorHtml, *, author: str, date: datetime | None,
               signature: str) -> str:
    """A reply's editor HTML: room to type, the signature, the attribution line and the
    original inside ``<blockquote class="mail-quote" type="cite">``."""
    intro = quote_for_reply("", author, date).split("\n", 1)[0]
    return sanitize_compose_html(
        "<div><br></div><div><br></div>" + signature_html(signature)
        + f'<div class="mail-attribution">{_lines(intro)}</div>'
        + f'<blockquote class="mail-quote" type="cite" style="{QUOTE_STYLE}">'
        + body.html + "</blockquote>")


def forward_html(body: EditorHtml, *, subject: str, from_: Sequence[Address],
                 to: Sequence[Address], cc: Sequence[Address], date: datetime | None,
                 signature: str) -> str:
    """A forward's editor HTML: room to type, the signature, the "Forwarded message" header
    block and the original."""
    block = forward_header_block(subject=subject, from_=from_, to=to, cc=cc, date=date)
    return sanitize_compose_html(
        "<div><br></div><div><br></div>" + signature_html(signature)
        + f'<div class="mail-forward-header">{_lines(block)}</div><br>'
        + f'<div class="mail-forwarded">{body.html}</div>')
