"""Reading imapclient BODYSTRUCTURE values (RFC 3501 section 7.4.2)."""

from __future__ import annotations

from typing import Any


def _lower(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").lower()
    return str(value or "").lower()


def _disposition(part: Any) -> str:
    for item in part:
        if isinstance(item, tuple) and item and isinstance(item[0], bytes | str):
            kind = _lower(item[0])
            if kind in ("attachment", "inline") and (len(item) < 2 or isinstance(
                    item[1], tuple | list | type(None))):
                return kind
    return ""


def has_attachments(body: Any, parent: str = "mixed") -> bool:
    """True when a part is an attachment: disposition attachment, or a non-text leaf that is
    not an inline image of a multipart/related HTML body."""
    if not isinstance(body, tuple | list) or not body:
        return False
    if isinstance(body[0], list | tuple):  # multipart: ([parts], subtype, ...)
        subtype = _lower(body[1]) if len(body) > 1 else "mixed"
        return any(has_attachments(p, subtype) for p in body[0])
    maintype = _lower(body[0])
    disposition = _disposition(body)
    if disposition == "attachment":
        return True
    if maintype in ("text", "multipart"):
        return False
    if parent == "related" or (maintype == "image" and disposition == "inline"):
        return False
    if maintype == "message" and _lower(body[1]) in ("delivery-status", "disposition-notification"):
        return False
    return True
