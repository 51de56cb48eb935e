"""What the message view shows of one message, parsed once and cached.

``message_content`` fetches the message (``BODY.PEEK[]``: reading it does not set \\Seen),
parses it with ``webmail.mime.parse`` and returns a ``MessageDigest`` (headers, parts) and the
sanitized body for one remote-content policy. Both are cached:

- digest: (user, folder, UIDVALIDITY, UID, DIGEST_VERSION);
- body: (user, folder, UIDVALIDITY, UID, policy, ``webmail.sanitize.POLICY_VERSION``).

A message's bytes never change under a UID (RFC 3501), so neither can go stale; a new
sanitizer version or UIDVALIDITY gives new keys. Opening a message costs one fetch and one
parse; the body document, the attachments and the second policy then come from the cache.
Each web process also keeps the ones it used last (``recent``, ``WEBMAIL_LOCAL_BODY_CACHE_MB``):
the message page and its body document, asked for one after the other, do not read a megabyte
of HTML from Redis again.

Inline images (``cid:``) are embedded as ``data:`` URIs. The body document lives in a sandboxed
iframe without ``allow-same-origin``, so its own requests come from an opaque origin and the
browser does not send the SameSite=Lax session cookie with them: an ``<img>`` pointing at our
part URL would get the sign-in redirect. PNG, GIF, JPEG and WebP up to ``MAX_INLINE_IMAGE``
bytes (``MAX_INLINE_TOTAL`` per message) are embedded; other inline parts are listed with the
attachments instead.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.conf import settings
from django.core.cache import cache
from django.utils.html import escape
from django.utils.translation import gettext

from webmail.imap.errors import ImapProtocolError
from webmail.imap.gateway import MailStore
from webmail.localcache import BoundedLRU
from webmail.mime.addresses import Address
from webmail.mime.parse import MimeError, ParsedMessage, parse_message, part_bytes
from webmail.mime.render import text_to_html
from webmail.mime.tree import find_part
from webmail.sanitize import POLICY_VERSION, RemotePolicy, sanitize_html

DIGEST_VERSION = 2
#: Above this size a download learns the parts from the message's outline (its headers and
#: structure, a few KB) instead of fetching and parsing all of it: memory stays bounded.
OUTLINE_ABOVE = 4 * 1024 * 1024
CACHE_TIMEOUT = 24 * 3600
MAX_INLINE_IMAGE = 2 * 1024 * 1024
MAX_INLINE_TOTAL = 6 * 1024 * 1024
EMBEDDABLE_IMAGES = frozenset({"image/png", "image/gif", "image/jpeg", "image/webp"})
_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}


@dataclass(frozen=True)
class PartInfo:
    """A downloadable part: its IMAP section and what is needed to stream it."""

    section: str
    filename: str
    content_type: str
    size: int  # decoded bytes (approximately, for display)
    encoding: str  # Content-Transfer-Encoding, lower case
    content_id: str = ""
    is_inline: bool = False  # embedded in the HTML body (shown there, not listed)


@dataclass(frozen=True)
class MessageDigest:
    subject: str
    from_: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime | None
    message_id: str
    parts: tuple[PartInfo, ...]
    inline_cids: tuple[tuple[str, str], ...]  # (Content-ID, section) embedded in the body
    warnings: tuple[str, ...]
    is_dsn: bool = False

    @property
    def attachments(self) -> tuple[PartInfo, ...]:
        """The parts to list under the message (inline images of the body are not)."""
        return tuple(p for p in self.parts if not p.is_inline)

    def part(self, section: str) -> PartInfo | None:
        return next((p for p in self.parts if p.section == section), None)


@dataclass(frozen=True)
class RenderedBody:
    html: str  # safe to put inside our own body document (sanitized or escaped)
    remote_blocked: int
    has_remote: bool

    @cached_property
    def html_bytes(self) -> bytes:
        """The HTML as UTF-8, encoded once for this object (kept by the process's copy)."""
        return self.html.encode("utf-8")

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("html_bytes", None)  # never twice the size in the shared cache
        return state


#: (digest, body) by the shared cache's body or facts key; immutable, like those entries.
#: The digest is None where only the body was read (the body document).
recent: BoundedLRU[tuple[MessageDigest | None, RenderedBody]] = BoundedLRU(
    settings.WEBMAIL_LOCAL_BODY_CACHE_MB * 1024 * 1024)


def _keep(key: str, digest: MessageDigest | None, body: RenderedBody) -> None:
    recent.put(key, (digest, body), len(body.html) + 4096)


def _key(kind: str, *parts: object) -> str:
    text = "\x00".join(str(p) for p in parts)
    return f"mail:{kind}:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _body_key(policy: RemotePolicy, *base: object) -> str:
    """The rendered body's key; ``base`` is (user key, folder, UIDVALIDITY, UID)."""
    return _key("body", POLICY_VERSION, policy.value, *base)


def message_content(store: MailStore, *, user_key: str, folder: str, uid: int,
                    policy: RemotePolicy, html: bool = True) -> tuple[MessageDigest, RenderedBody]:
    """The digest and the rendered body of one message, from the cache or the server.

    ``html=False`` (the message page, whose body is a document of its own) leaves the body's
    HTML out (``""``) and reads only the small facts about it from the cache, not the HTML,
    which can be megabytes. Raises ``ImapNotFound`` when the message does not exist, and what
    the store raises.
    """
    uidvalidity = store.select(folder).uidvalidity
    base = (user_key, folder, uidvalidity, uid)
    digest_key = _key("digest", DIGEST_VERSION, *base)
    body_key = _body_key(policy, *base)
    facts_key = _key("bodyfacts", POLICY_VERSION, policy.value, *base)
    local = recent.get(body_key if html else facts_key)
    if local is not None and local[0] is not None:
        return local[0], local[1]
    found = cache.get_many([digest_key, body_key if html else facts_key])
    digest = found.get(digest_key)
    if isinstance(digest, MessageDigest):
        if html and isinstance(body := found.get(body_key), RenderedBody):
            _keep(body_key, digest, body)
            return digest, body
        facts = found.get(facts_key)
        if not html and isinstance(facts, tuple) and len(facts) == 2:
            body = RenderedBody("", int(facts[0]), bool(facts[1]))
            _keep(facts_key, digest, body)
            return digest, body
    raw = store.fetch_message(folder, uid)
    parsed = parse_message(raw)
    embedded = _embeddable(raw, parsed)
    digest = _digest(parsed, raw, embedded)
    body = _render(parsed, policy, embedded)
    cache.set_many({digest_key: digest, body_key: body,
                    facts_key: (body.remote_blocked, body.has_remote)}, CACHE_TIMEOUT)
    facts = dataclasses.replace(body, html="")
    _keep(body_key, digest, body)
    _keep(facts_key, digest, facts)
    return digest, (body if html else facts)


def cached_body(store: MailStore, *, user_key: str, folder: str, uid: int,
                policy: RemotePolicy) -> RenderedBody | None:
    """The rendered body when a view made it before (this process's copy, else the shared
    cache), without asking the server anything but the folder's UIDVALIDITY (known to a
    connection that has it selected). None: call ``message_content``."""
    uidvalidity = store.select(folder).uidvalidity
    body_key = _body_key(policy, user_key, folder, uidvalidity, uid)
    local = recent.get(body_key)
    if local is not None:
        return local[1]
    found = cache.get(body_key)
    if not isinstance(found, RenderedBody):
        return None
    _keep(body_key, None, found)
    return found


def message_digest(store: MailStore, *, user_key: str, folder: str, uid: int) -> MessageDigest:
    """The digest alone (attachment downloads): cached, else fetched and parsed; a message
    above ``OUTLINE_ABOVE`` is read from its outline. Raises ``ImapNotFound``."""
    uidvalidity = store.select(folder).uidvalidity
    digest_key = _key("digest", DIGEST_VERSION, user_key, folder, uidvalidity, uid)
    digest = cache.get(digest_key)
    if isinstance(digest, MessageDigest):
        return digest
    digest = _outline_digest(store, folder, uid)
    if digest is None:
        raw = store.fetch_message(folder, uid)
        digest = _digest(parse_message(raw), raw)
    cache.set(digest_key, digest, CACHE_TIMEOUT)
    return digest


def _outline_digest(store: MailStore, folder: str, uid: int) -> MessageDigest | None:
    """The digest of a large message from its outline (no content: nothing is embedded and
    sizes are estimated from the encoded ones), or None for a small one or a store or
    structure that has no outline."""
    fetch_outline = getattr(store, "fetch_outline", None)
    if fetch_outline is None:
        return None
    found = store.fetch_summaries(folder, [uid])
    if not found or found[0].size <= OUTLINE_ABOVE:
        return None
    try:
        outline, sizes = fetch_outline(folder, uid)  # the IMAP gateway's
    except ImapProtocolError:
        return None
    digest = _digest(parse_message(outline), outline, {})
    parts = tuple(
        dataclasses.replace(p, size=_decoded_size(sizes.get(p.section, p.size), p.encoding))
        for p in digest.parts)
    return dataclasses.replace(digest, parts=parts)


def _decoded_size(encoded: int, encoding: str) -> int:
    return encoded * 3 // 4 if encoding == "base64" else encoded


def _encodings(raw: bytes, sections: list[str]) -> dict[str, str]:
    """Content-Transfer-Encoding of each section, read from the message itself."""
    if not sections:
        return {}
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:  # a message the parser cannot read: stream its parts as they are
        return {}
    result = {}
    for section in sections:
        part = find_part(message, section)
        value = part.get("Content-Transfer-Encoding") if part is not None else None
        result[section] = str(value or "7bit").strip().lower()
    return result


def _embeddable(raw: bytes, parsed: ParsedMessage) -> dict[str, tuple[str, str, bytes]]:
    """Inline images of the HTML body that will be embedded: cid -> (section, type, bytes)."""
    if parsed.html is None:
        return {}
    inline = {a.part_id for a in parsed.attachments if a.is_inline}
    found: dict[str, tuple[str, str, bytes]] = {}
    total = 0
    for cid, section in parsed.inline_parts.items():
        if section not in inline:
            continue
        try:
            data, ctype, _name = part_bytes(raw, section)
        except MimeError:
            continue
        ctype = _TYPE_ALIASES.get(ctype.lower(), ctype.lower())
        if (ctype not in EMBEDDABLE_IMAGES or len(data) > MAX_INLINE_IMAGE
                or total + len(data) > MAX_INLINE_TOTAL):
            continue
        total += len(data)
        found[cid] = (section, ctype, data)
    return found


def _digest(parsed: ParsedMessage, raw: bytes,
            embedded: dict[str, tuple[str, str, bytes]] | None = None) -> MessageDigest:
    if embedded is None:
        embedded = _embeddable(raw, parsed)
    shown = {section for section, _type, _data in embedded.values()}
    sections = [a.part_id for a in parsed.attachments]
    encodings = _encodings(raw, sections)
    parts = tuple(
        PartInfo(
            section=a.part_id,
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            encoding=encodings.get(a.part_id, "7bit"),
            content_id=a.content_id,
            is_inline=a.part_id in shown,
        )
        for a in parsed.attachments
    )
    return MessageDigest(
        subject=parsed.subject,
        from_=parsed.from_,
        to=parsed.to,
        cc=parsed.cc,
        reply_to=parsed.reply_to,
        date=parsed.date,
        message_id=parsed.message_id,
        parts=parts,
        inline_cids=tuple((cid, e[0]) for cid, e in embedded.items()),
        warnings=parsed.warnings,
        is_dsn=parsed.is_dsn,
    )


def _render(parsed: ParsedMessage, policy: RemotePolicy,
            embedded: dict[str, tuple[str, str, bytes]]) -> RenderedBody:
    if parsed.html is not None:
        # The sanitizer only accepts same-origin paths for cid: references; each gets a
        # placeholder path no mail can guess, swapped for its data: URI (a string we build
        # from base64 text alone) after sanitizing.
        token = secrets.token_hex(12)
        placeholders = {cid: f"/_inline/{token}/{n}" for n, cid in enumerate(embedded)}
        result = sanitize_html(parsed.html, policy=policy, cid_map=placeholders)
        html = result.html
        for cid, placeholder in placeholders.items():
            _section, ctype, data = embedded[cid]
            uri = f"data:{ctype};base64,{base64.b64encode(data).decode('ascii')}"
            html = html.replace(placeholder, uri)
        if result.truncated:
            html += "<hr><p><em>" + escape(gettext(
                "This message is too long to show in full. The source has all of it."
            )) + "</em></p>"
        return RenderedBody(html, result.remote_blocked, result.has_remote)
    if parsed.text is not None:
        return RenderedBody(text_to_html(parsed.text), 0, False)
    return RenderedBody("", 0, False)
