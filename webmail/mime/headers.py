"""Header decoding that never raises: RFC 2047 words, raw 8-bit, broken charsets."""

from __future__ import annotations

import base64
import binascii
import codecs
import re

_ENCODED_WORD_PARTS = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_B64_WORD = re.compile(r"[A-Za-z0-9+/]*=*")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
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


_WEAK_LABELS = frozenset({"", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "x-user-defined"})


def _mostly_utf8(raw: bytes) -> bool:
    """UTF-8 text with a few broken bytes (a truncated header, one stray latin-1 byte)."""
    text = raw.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    return good >= 2 and good > 2 * bad


def decode_bytes(raw: bytes, charset: str | None = None) -> str:
    """Decode text bytes, never raising.

    Order: a declared UTF-16/32 first; then UTF-8 when the bytes have 8-bit content and are valid
    UTF-8 (a mislabelled UTF-8 body is the most common charset lie, and other 8-bit text is
    practically never valid UTF-8); then the declared charset and its usual superset; then,
    without a meaningful label, UTF-8 with replacement characters when the bytes are mostly
    UTF-8; then windows-1252, and latin-1, which decodes anything.
    """
    label = (charset or "").strip().strip('"').strip().lower()
    declared = "" if label in _WEAK_LABELS else normalise_charset(label)
    eight_bit = not raw.isascii()
    candidates: list[str] = []
    if declared.startswith(_WIDE):
        candidates.append(declared)
    if eight_bit:
        candidates.append("utf-8")
    if declared:
        candidates += [declared, _SUPERSETS.get(declared, declared)]
    for name in dict.fromkeys(candidates):
        try:
            return raw.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    if eight_bit and not declared and _mostly_utf8(raw):
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _decode_word(encoding: str, payload: str) -> bytes | None:
    if encoding in "bB":
        if not _B64_WORD.fullmatch(payload):
            return None
        data = payload.rstrip("=")
        if len(data) % 4 == 1:
            return None
        data += "=" * (-len(data) % 4)
        try:
            return base64.b64decode(data)
        except (binascii.Error, ValueError):
            return None
    raw = payload.replace("_", " ").encode("ascii", "surrogateescape")
    return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def decode_encoded_words(text: str) -> str:
    """Decode the RFC 2047 encoded words in ``text`` (RFC 2231 ``*lang`` tolerated).

    Whitespace between adjacent encoded words is dropped (RFC 2047 section 6.2) and adjacent words
    in the same charset are joined before decoding, so a multibyte character split across two
    words survives. Words that do not decode stay as they were written.
    """
    tokens: list[tuple[str, str, bytes]] = []  # (charset or "" for plain text, text, bytes)
    pos = 0
    for match in _ENCODED_WORD_PARTS.finditer(text):
        between = text[pos : match.start()]
        decoded = _decode_word(match.group(2), match.group(3))
        if decoded is None:
            tokens.append(("", between + match.group(0), b""))
        else:
            if between and not (between.isspace() and tokens and tokens[-1][0]):
                tokens.append(("", between, b""))
            charset = match.group(1)
            if tokens and tokens[-1][0].lower() == charset.lower():
                tokens[-1] = (tokens[-1][0], "", tokens[-1][2] + decoded)
            else:
                tokens.append((charset, "", decoded))
        pos = match.end()
    tokens.append(("", text[pos:], b""))
    return "".join(
        decode_bytes(raw, charset) if charset else plain for charset, plain, raw in tokens
    )


_EW_RUN = re.compile(
    r"=\?[^?\s*]+(?:\*[^?\s]*)?\?[bBqQ]\?[^?\s]*\?=(?:\s+=\?[^?\s*]+(?:\*[^?\s]*)?\?[bBqQ]\?[^?\s]*\?=)+"
)


def merge_adjacent_encoded_words(text: str) -> str:
    """Rewrite each run of white-space-separated encoded words as one UTF-8 encoded word.

    The white space between adjacent encoded words is not part of the text (RFC 2047 section
    6.2), but the stdlib header registry keeps it in display names; one word per run keeps the
    header's structure (an encoded word is one atom) and fixes that.
    """

    def merge(match: re.Match[str]) -> str:
        decoded = decode_encoded_words(match.group(0))
        return "=?utf-8?b?" + base64.b64encode(decoded.encode("utf-8")).decode("ascii") + "?="

    return _EW_RUN.sub(merge, text)


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
    if "=?" in text:
        text = decode_encoded_words(text)
    return clean_line(text)


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def clean_line(text: str) -> str:
    """One display line: line breaks and tabs become spaces, other control characters and
    bidi overrides (which can make ``exe.pdf`` read as ``fdp.exe``) are dropped, white space
    collapses."""
    out = []
    for ch in text:
        if ch in "\t\r\n\x0b\x0c\x85\u2028\u2029":
            out.append(" ")
        elif ch in _BIDI_CONTROLS or (ch < " " or "\x7f" <= ch < "\xa0"):
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def decode_header_value(value: str | bytes | None) -> str:
    """Decode a header value for display: RFC 2047 words, raw 8-bit bytes, folding.

    Control characters (CR, LF, NUL, ...) become spaces and runs of whitespace collapse to one,
    so the result is always a single printable line. Never raises.
    """
    return decode_raw_header(value, None)
