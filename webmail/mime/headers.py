"""Header decoding that never raises: RFC 2047 words, raw 8-bit, broken charsets."""

from __future__ import annotations

import codecs
import email.header
import re

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_FALLBACK_CHARSETS = ("utf-8", "windows-1252", "latin-1")
# Names mail software writes that Python does not know, or knows as a smaller charset than the
# one the sender really used (gb2312 labels on GBK text, ks_c_5601-1987 on CP949 text).
CHARSET_ALIASES = {
    "": "utf-8",
    "unknown-8bit": "windows-1252",
    "x-unknown": "windows-1252",
    "x-user-defined": "windows-1252",
    "utf8": "utf-8",
    "cp-850": "cp850",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
}
# After codecs.lookup(): the superset a mislabelled message most likely really used.
_SUPERSETS = {
    "iso8859-1": "cp1252",
    "latin-1": "cp1252",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
    "iso2022_jp": "iso2022_jp_2",
}
_WIDE = ("utf-16", "utf-32")  # no 8-bit heuristics: every second byte may be NUL or high


def normalise_charset(charset: str | None) -> str:
    """A codec name Python knows for ``charset``; windows-1252 when it is unknown."""
    name = (charset or "").strip().strip('"').strip().lower()
    name = CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "windows-1252"


def _is_ascii(raw: bytes) -> bool:
    return raw.isascii()


def decode_bytes(raw: bytes, charset: str | None = None) -> str:
    """Decode text bytes, never raising.

    Order: a declared UTF-16/32 first; then UTF-8 when the bytes have 8-bit content and are valid
    UTF-8 (a mislabelled UTF-8 body is the most common charset lie, and other 8-bit text is
    practically never valid UTF-8); then the declared charset and its usual superset; then
    windows-1252, and latin-1, which decodes anything.
    """
    declared = normalise_charset(charset) if charset is not None else ""
    candidates: list[str] = []
    if declared.startswith(_WIDE):
        candidates.append(declared)
    if not _is_ascii(raw):
        candidates.append("utf-8")
    if declared:
        candidates += [declared, _SUPERSETS.get(declared, declared)]
    candidates += _FALLBACK_CHARSETS
    seen: set[str] = set()
    for name in candidates:
        if name in seen:
            continue
        seen.add(name)
        try:
            return raw.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return raw.decode("latin-1")  # pragma: no cover - latin-1 is always in the list


def decode_raw_header(value: str | bytes | None, charset_hint: str | None = None) -> str:
    """Like :func:`decode_header_value`, with a charset for raw 8-bit bytes that are not UTF-8
    (the message's own body charset is the best guess a reader has)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = decode_bytes(value, charset_hint)
    text = str(value)
    # Surrogates from raw 8-bit headers parsed with surrogateescape.
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = decode_bytes(text.encode("utf-8", "surrogateescape"), charset_hint)
    if "=?" in text and _ENCODED_WORD.search(text):
        try:
            parts = email.header.decode_header(text)
            out = []
            for chunk, chunk_charset in parts:
                if isinstance(chunk, bytes):
                    out.append(decode_bytes(chunk, chunk_charset))
                else:
                    out.append(chunk)
            text = "".join(out)
        except Exception:  # noqa: BLE001, S110 - malformed encoded words: show them raw
            pass
    text = "".join(ch if ch.isprintable() or ch == " " else " " for ch in text)
    return " ".join(text.split())


def decode_header_value(value: str | bytes | None) -> str:
    """Decode a header value for display: RFC 2047 words, raw 8-bit bytes, folding.

    Control characters (CR, LF, NUL, ...) become spaces and runs of whitespace collapse to one,
    so the result is always a single printable line. Never raises.
    """
    return decode_raw_header(value, None)
