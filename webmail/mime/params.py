"""Reading a part's Content-Type / Content-Disposition parameters without ever raising.

``policy.default`` header objects are tried first; where they raise (the header parser has bugs
on hostile input) or lose information (``filename`` and ``filename*`` both present: RFC 2231
says the ``*`` form wins, the registry keeps the first), the raw header is read again with the
``compat32`` parameter parser.
"""

from __future__ import annotations

import email.utils
import mimetypes
import unicodedata
from email import policy
from email.message import Message

from webmail.mime.headers import decode_bytes, decode_raw_header

MAX_FILENAME_CHARS = 150


def raw_header(part: Message, name: str) -> str | None:
    """The first raw value of header ``name`` (as parsed, unfolded not yet), or None."""
    lname = name.lower()
    try:
        for key, value in part.raw_items():
            if key.lower() == lname:
                return str(value)
    except Exception:  # noqa: S110 - a part we cannot read has no such header
        pass
    return None


def content_type(part: Message) -> str:
    """``type/subtype`` in lower case, with RFC 2045 defaults. Never raises."""
    try:
        return str(part.get_content_type())
    except Exception:
        raw = raw_header(part, "content-type") or ""
        ctype = raw.split(";", 1)[0].strip().lower()
        return ctype if ctype.count("/") == 1 else "text/plain"


def _compat_view(part: Message, header: str) -> Message:
    view = Message(policy=policy.compat32)
    raw = raw_header(part, header)
    if raw is not None:
        if any("\udc80" <= ch <= "\udcff" for ch in raw):
            raw = decode_bytes(raw.encode("utf-8", "surrogateescape"), None)
        view[header] = raw
    return view


def param(part: Message, name: str, header: str = "content-type") -> str | None:
    """Parameter ``name`` of ``header``, RFC 2231 decoded (the ``name*`` form preferred), raw
    8-bit and RFC 2047 words decoded; None when absent. Never raises."""
    name = name.lower()
    value: str | None = None
    try:
        params = _compat_view(part, header).get_params(header=header) or []
        values = [v for k, v in params[1:] if k.lower() == name]
        encoded = [v for v in values if isinstance(v, tuple)]
        if encoded or values:
            chosen = (encoded or values)[0]
            value = str(email.utils.collapse_rfc2231_value(chosen, errors="replace"))
    except Exception:
        value = None
    if value is None:
        try:
            found = getattr(part.get(header), "params", {}).get(name)
            value = None if found is None else str(found)
        except Exception:
            value = None
    if value is None:
        return None
    return decode_raw_header(value, None) if name != "boundary" else value


def disposition(part: Message) -> str:
    """``attachment``, ``inline`` or "" (absent or unknown). Never raises."""
    raw = raw_header(part, "content-disposition")
    if raw is None:
        return ""
    token = raw.split(";", 1)[0].strip().lower()
    return token if token in ("attachment", "inline") else ""


def charset(part: Message) -> str | None:
    """The declared charset parameter (not validated), or None."""
    value = param(part, "charset")
    return value.strip() if value is not None else None


def content_id(part: Message) -> str:
    """The Content-ID without angle brackets, or ""."""
    raw = raw_header(part, "content-id")
    if not raw:
        return ""
    value = decode_raw_header(raw, None).strip()
    if value.startswith("<") and ">" in value:
        value = value[1 : value.index(">")]
    return value.strip()[:250]


def raw_filename(part: Message) -> str:
    """The filename as the sender wrote it (decoded, not sanitised), or ""."""
    return param(part, "filename", "content-disposition") or param(part, "name") or ""


def _clean_name(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
    )
    return " ".join(name.split()).strip(". ")


def sanitise_filename(
    name: str, ctype: str = "application/octet-stream", fallback: str = ""
) -> str:
    """A filename safe to show and to offer for download: no path, no control or bidi-override
    characters, no leading or trailing dots, at most ``MAX_FILENAME_CHARS`` characters (the
    extension kept). An empty result becomes ``fallback`` (or "attachment") plus an extension
    guessed from ``ctype``."""
    name = _clean_name(name)
    if not name:
        extension = ".eml" if ctype == "message/rfc822" else ""
        extension = extension or mimetypes.guess_extension(ctype, strict=False) or ""
        fallback = fallback.replace("/", "-").replace("\\", "-")
        name = (_clean_name(fallback)[:100] or "attachment") + extension
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10 and stem:
            name = stem[: MAX_FILENAME_CHARS - len(extension) - 2] + "…." + extension
        else:
            name = name[: MAX_FILENAME_CHARS - 1] + "…"
    return name
