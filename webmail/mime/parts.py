"""Parts of a raw message by IMAP section: loading the message the way ``parse_message`` does,
and the bytes of one part for a download."""

from __future__ import annotations

import email
import io
import re
from email import policy
from email.generator import BytesGenerator
from email.message import Message

from webmail.mime.body import payload_bytes
from webmail.mime.headers import decode_raw_header
from webmail.mime.params import raw_filename, raw_header, sanitise_filename
from webmail.mime.tree import (
    enclosed_message,
    find_part,
    iter_nodes,
    lost_boundary,
    part_type,
    walk,
)


class MimeError(Exception):
    """Base of the MIME package's errors."""


class PartNotFound(MimeError, LookupError):
    """No part with that IMAP section number in the message."""


def load_message(raw: bytes, warnings: list[str]) -> Message | None:
    """policy.default, then compat32 where policy.default raises or cannot read a boundary;
    None when both fail."""
    for pol in (policy.default, policy.compat32):
        try:
            message = email.message_from_bytes(raw, policy=pol)
        except RecursionError:
            warnings.append("The message structure is nested too deeply to be read.")
            return None
        except Exception:  # noqa: S112 - the header registry has bugs; try compat32
            continue
        if pol is policy.compat32 or not lost_boundary(message):
            return message
    return None


def flatten(message: Message) -> bytes:
    """The bytes of a parsed message, source headers written as they came (not refolded)."""
    buffer = io.BytesIO()
    pol = message.policy
    if isinstance(pol, policy.EmailPolicy):
        pol = pol.clone(refold_source="none")
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=pol).flatten(message)
    except Exception:  # a part the generator cannot write: nothing to offer
        return b""
    return buffer.getvalue()


def leaf_body_bytes(part: Message) -> bytes:
    """The body of a message/* leaf the parser split up (delivery-status, global, ...)."""
    flat = flatten(part)
    split = re.search(rb"\r?\n\r?\n", flat)
    return flat[split.end() :] if split else b""


def part_bytes(raw: bytes, section: str) -> tuple[bytes, str, str]:
    """The decoded payload, content type and sanitised filename of IMAP ``section`` of ``raw``
    (for downloading one attachment from the whole message). A message/rfc822 part is returned
    as the enclosed message's bytes.

    Raises PartNotFound when the message has no such part (or cannot be parsed at all).
    """
    message = load_message(raw, [])
    part = find_part(message, section) if message is not None else None
    if part is None:
        raise PartNotFound(section)
    ctype = part_type(part)
    inner = enclosed_message(part)
    if inner is not None:
        data = flatten(inner)
        fallback = decode_raw_header(raw_header(inner, "subject") or "")[:100] or "message"
    elif part.is_multipart():
        data = leaf_body_bytes(part) if ctype.startswith("message/") else flatten(part)
        fallback = ""
    else:
        data = payload_bytes(part)
        fallback = ""
    return data, ctype, sanitise_filename(raw_filename(part), ctype, fallback)


def structure(raw: bytes) -> tuple[tuple[str, str], ...]:
    """(IMAP section, content type) of every part the parse walks, in order, within the same
    limits as :func:`parse_message`. Never raises; empty when the message cannot be parsed."""
    try:
        message = load_message(bytes(raw), [])
        if message is None:
            return ()
        return tuple((n.section, n.content_type) for n in iter_nodes(walk(message).root))
    except Exception:
        return ()
