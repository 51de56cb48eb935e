"""Choosing the best body of a message tree and decoding text parts with charset fallbacks."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email.message import Message

from webmail.mime.headers import decode_bytes, normalise_charset
from webmail.mime.params import charset, content_id, disposition, param, raw_filename
from webmail.mime.render import enriched_to_text, html_to_text, text_to_html, unflow
from webmail.mime.tree import Node

MAX_BODY_BYTES = 4 * 1024 * 1024
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE
)
_TEXT_SUBTYPES = ("text/plain", "text/enriched", "text/richtext")
# labels that say nothing about 8-bit bytes
_WEAK_LABELS = frozenset({"", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "x-user-defined"})


@dataclass
class Body:
    html: str | None = None
    text: str | None = None
    html_sections: list[str] = field(default_factory=list)  # the leaves the HTML was made of
    text_sections: list[str] = field(default_factory=list)
    resources: list[Node] = field(default_factory=list)  # multipart/related siblings
    cids: dict[str, str] = field(default_factory=dict)  # cid: made up for images, to section
    truncated: bool = False
    text_native: bool = False  # the text comes from text/plain, not converted from HTML

    @property
    def sections(self) -> list[str]:
        return self.html_sections + [s for s in self.text_sections if s not in self.html_sections]

    @property
    def empty(self) -> bool:
        return self.html is None and self.text is None


def payload_bytes(part: Message) -> bytes:
    """The decoded payload of a leaf (base64/QP/uuencode undone, leniently). Never raises."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _strict(raw: bytes, codec: str) -> bool:
    try:
        raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def decode_text(raw: bytes, declared: str | None, *, is_html: bool = False) -> str:
    """Decode a text body, never raising: valid UTF-8 wins (the most common label lie); then a
    declared charset that decodes strictly; for HTML then a ``<meta charset>`` (a mail whose
    MIME label says utf-8 but whose bytes and meta say windows-1251 is shown as windows-1251);
    then the fallbacks of :func:`decode_bytes`."""
    if is_html and not raw.isascii() and not _strict(raw, "utf-8"):
        meta = _META_CHARSET.search(raw[:4096])
        label = (declared or "").strip().strip('"').lower()
        weak = label in _WEAK_LABELS or normalise_charset(label) == "utf-8"
        if meta and (weak or not _strict(raw, normalise_charset(label))):
            meta_codec = normalise_charset(meta.group(1).decode("ascii", "replace"))
            if _strict(raw, meta_codec):
                return raw.decode(meta_codec)
    return decode_bytes(raw, declared)


def leaf_text(node: Node) -> tuple[str, bool]:
    """The text of a text/* leaf for display, and whether it was cut at ``MAX_BODY_BYTES``."""
    raw = payload_bytes(node.part)
    truncated = len(raw) > MAX_BODY_BYTES
    raw = raw[:MAX_BODY_BYTES]
    is_html = node.content_type == "text/html"
    text = decode_text(raw, charset(node.part), is_html=is_html).replace("\x00", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if node.content_type in ("text/enriched", "text/richtext"):
        text = enriched_to_text(text)
    elif (
        node.content_type == "text/plain" and (param(node.part, "format") or "").lower() == "flowed"
    ):
        text = unflow(text, delsp=(param(node.part, "delsp") or "").lower() == "yes")
    return text, truncated


def _is_body_leaf(node: Node) -> bool:
    if node.kind != "leaf" or disposition(node.part) == "attachment":
        return False
    if node.content_type not in ("text/html", *_TEXT_SUBTYPES):
        return False
    # a named text part is an attachment unless it is the first thing in its container
    return node.index == 0 or not raw_filename(node.part)


def choose(node: Node) -> Body:
    """The best body below ``node``: HTML from the richest alternative, text from text/plain."""
    if node.kind == "leaf":
        if not _is_body_leaf(node):
            return Body()
        text, truncated = leaf_text(node)
        if node.content_type == "text/html":
            return Body(html=text, html_sections=[node.section], truncated=truncated)
        return Body(text=text, text_sections=[node.section], truncated=truncated, text_native=True)
    if node.kind == "message":
        return Body()
    subtype = node.content_type.split("/", 1)[1]
    if subtype == "alternative":
        return _alternative([choose(child) for child in node.children])
    if subtype == "related":
        return _related(node)
    if subtype in ("signed", "report"):
        return choose(node.children[0]) if node.children else Body()
    if subtype == "encrypted":
        return Body()
    return _mixed(node)


def _alternative(bodies: list[Body]) -> Body:
    best_html = next((b for b in reversed(bodies) if b.html is not None), None)
    best_text = next((b for b in reversed(bodies) if b.text_native), None) or next(
        (b for b in reversed(bodies) if b.text is not None), None
    )
    result = Body()
    if best_html is not None:
        result.html = best_html.html
        result.resources = best_html.resources
        result.cids = best_html.cids
        result.html_sections = best_html.html_sections
        result.truncated |= best_html.truncated
    if best_text is not None:
        result.text = best_text.text
        result.text_sections = best_text.text_sections
        result.text_native = best_text.text_native
        result.truncated |= best_text.truncated
    return result


def _related(node: Node) -> Body:
    start = (param(node.part, "start") or "").strip().strip("<>")
    root = node.children[0] if node.children else None
    if start:
        for child in node.children:
            if content_id(child.part) == start:
                root = child
                break
    if root is None:
        return Body()
    body = choose(root)
    body.resources = body.resources + [c for c in node.children if c is not root]
    return body


def _inline_image(node: Node) -> Body | None:
    """An image shown between the text parts of a multipart/mixed (Apple Mail's layout)."""
    if node.kind != "leaf" or not node.content_type.startswith("image/"):
        return None
    if disposition(node.part) == "attachment":
        return None
    cid = content_id(node.part) or f"part.{node.section}@webmail.invalid"
    return Body(
        html=f'<img src="cid:{html.escape(cid, quote=True)}" alt="">',
        resources=[node],
        cids={cid: node.section},
    )


def _mixed(node: Node) -> Body:
    """Each displayable child one after the other; inline images between HTML pieces."""
    parts: list[Body] = []
    for child in node.children:
        body = choose(child)
        if body.empty and parts:
            image = _inline_image(child)
            body = image if image is not None else body
        if not body.empty:
            parts.append(body)
    if parts and parts[-1].cids and not parts[-1].sections:
        parts.pop()  # an image after the last text is an attachment, not a body piece
    if len(parts) <= 1:
        return parts[0] if parts else Body()
    result = Body(text_native=all(b.text_native for b in parts if not b.cids))
    if any(b.html is not None and not b.cids for b in parts):
        result.html = "".join(
            b.html if b.html is not None else text_to_html(b.text or "") for b in parts
        )
    result.text = "\n\n".join(
        b.text if b.text is not None else html_to_text(b.html or "") for b in parts if not b.cids
    )
    for b in parts:
        if result.html is not None:
            result.html_sections += b.sections
            result.resources += b.resources
            result.cids.update(b.cids)
        result.text_sections += b.sections
        result.truncated |= b.truncated
    return result
