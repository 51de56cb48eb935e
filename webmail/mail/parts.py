"""Streaming attachments: incremental transfer decoding and what type a browser may see.

A part is fetched in ranges (``BODY.PEEK[section]<offset.length>``) and decoded chunk by chunk,
so memory stays at about one chunk whatever the attachment's size.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Callable, Iterator

CHUNK_SIZE = 1024 * 1024

# Types a browser would render as a document or run: served as a plain download instead.
_ACTIVE_TYPES = frozenset({
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
    "text/javascript", "application/javascript", "application/ecmascript", "text/ecmascript",
    "application/x-javascript", "text/css", "application/pdf+xml", "text/xsl",
    "application/x-shockwave-flash", "text/vtt", "application/wasm", "text/x-javascript",
    "application/json+javascript", "multipart/x-mixed-replace", "text/cache-manifest",
})
# Only these are shown inline (as an image inside the body, or opened in a tab).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/gif", "image/jpeg", "image/webp"})
_TOKEN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_BASE64_NOISE = re.compile(rb"[^A-Za-z0-9+/=]+")


def download_type(declared: str) -> str:
    """The Content-Type to send for a part: as declared, unless the browser could treat it as
    a document or script (HTML, SVG, XML, JavaScript and relatives), then octet-stream."""
    ctype = (declared or "").strip().lower()
    if not _TOKEN.fullmatch(ctype):
        return "application/octet-stream"
    if (ctype in _ACTIVE_TYPES or ctype.endswith(("+xml", "/xml")) or "script" in ctype
            or ctype.startswith(("multipart/", "text/html"))):
        return "application/octet-stream"
    return ctype


class Base64Decoder:
    """base64 across chunk boundaries: whole 4-character quanta are decoded, the rest waits.

    Line breaks and other noise are dropped as RFC 2045 says; padding in the middle (parts
    glued together by broken software) ends one quantum and decoding goes on after it.
    """

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        buf = self._pending + _BASE64_NOISE.sub(b"", data)
        out = bytearray()
        while True:
            buf = buf.lstrip(b"=")  # a quantum never starts with padding: leftovers of one
            pad = buf.find(b"=")
            if pad == -1:
                usable = len(buf) - len(buf) % 4
                out += _b64(buf[:usable])
                self._pending = buf[usable:]
                return bytes(out)
            end = (pad // 4 + 1) * 4
            if end > len(buf):  # the quantum with the padding is not complete yet
                usable = pad - pad % 4
                out += _b64(buf[:usable])
                self._pending = buf[usable:]
                return bytes(out)
            out += _b64(buf[:end])
            buf = buf[end:]

    def flush(self) -> bytes:
        rest = self._pending.rstrip(b"=")
        self._pending = b""
        if len(rest) % 4 == 1:
            rest = rest[:-1]  # a lone character carries no whole byte
        return _b64(rest + b"=" * (-len(rest) % 4)) if rest else b""


def _b64(data: bytes) -> bytes:
    if not data:
        return b""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return b""


class QuotedPrintableDecoder:
    """quoted-printable line by line: only complete lines are decoded, so an ``=XX`` escape
    or a soft line break is never cut in half."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        buf = self._pending + data
        cut = buf.rfind(b"\n") + 1
        self._pending = buf[cut:]
        return binascii.a2b_qp(buf[:cut]) if cut else b""

    def flush(self) -> bytes:
        rest, self._pending = self._pending, b""
        return binascii.a2b_qp(rest) if rest else b""


class IdentityDecoder:
    def feed(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


Decoder = Base64Decoder | QuotedPrintableDecoder | IdentityDecoder


def decoder_for(encoding: str) -> Decoder:
    """The decoder for a Content-Transfer-Encoding (7bit, 8bit, binary and unknown ones pass)."""
    name = (encoding or "").strip().lower()
    if name == "base64":
        return Base64Decoder()
    if name == "quoted-printable":
        return QuotedPrintableDecoder()
    return IdentityDecoder()


def stream_decoded(fetch: Callable[[int, int], bytes], encoding: str,
                   chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Decoded bytes of a part whose raw bytes ``fetch(offset, length)`` returns in ranges;
    stops at the first short (or empty) range. Raises what ``fetch`` raises."""
    decoder = decoder_for(encoding)
    offset = 0
    while True:
        raw = fetch(offset, chunk_size)
        offset += len(raw)
        if raw:
            out = decoder.feed(raw)
            if out:
                yield out
        if len(raw) < chunk_size:
            break
    tail = decoder.flush()
    if tail:
        yield tail


def stream_text(chunks: Iterator[bytes]) -> Iterator[str]:
    """UTF-8 text of a byte stream, bad bytes replaced, characters never split across chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail
