"""The MIME tree of a parsed message with IMAP section numbers (RFC 3501 section 6.4.5).

Numbering, as Dovecot does it (checked against Dovecot 2.3 over the shared corpus):

* the children of a multipart are numbered 1, 2, ... below the multipart's own number; the
  top-level multipart has no number of its own;
* a message that is not multipart has one part, ``1`` (its body);
* a ``message/rfc822`` part ``S`` (only that subtype: Dovecot 2.3 keeps ``message/global``,
  ``message/delivery-status`` etc. as leaves) numbers the body of the enclosed message like a
  top-level message, below ``S``: ``S.1``, ``S.2`` for a multipart body, ``S.1`` otherwise;
* a multipart without a boundary, or with no parts at all, is a leaf (Dovecot reports it as
  ``text/plain``).

The walk is bounded: at most ``max_parts`` nodes and ``max_depth`` levels of nesting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from webmail.mime.params import content_type, raw_header

MAX_DEPTH = 30
MAX_PARTS = 500
MAX_SECTION_NUMBERS = 100


@dataclass(slots=True)
class Node:
    """One part of the tree. ``kind`` is ``multipart``, ``message`` (message/rfc822) or ``leaf``."""

    section: str
    part: Message
    content_type: str
    kind: str
    depth: int
    parent_type: str = ""
    index: int = 0  # position among its siblings, from 0
    in_message: str = ""  # section of the nearest enclosing message/rfc822 part, "" at top
    children: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class Walk:
    """The result of walking a message: a synthetic root (section "") and what was cut off."""

    root: Node
    count: int = 0
    warnings: list[str] = field(default_factory=list)
    depth_cut: bool = False
    count_cut: bool = False


_PLAIN_BOUNDARY = re.compile(r"(?i)(?:^|;)\s*boundary\s*=")


def is_multipart(part: Message) -> bool:
    """A multipart with parts. Like Dovecot, one whose boundary is only given in RFC 2231 form
    (``boundary*=``) is not: its body is a leaf."""
    payload = part.get_payload()
    if not (content_type(part).startswith("multipart/") and isinstance(payload, list) and payload):
        return False
    return bool(_PLAIN_BOUNDARY.search(raw_header(part, "content-type") or ""))


def lost_boundary(message: Message, limit: int = MAX_PARTS) -> bool:
    """A multipart whose boundary the parser could not read (policy.default rejects unquoted
    boundaries with ``=``, ``/`` or ``?`` that compat32 and Dovecot accept)."""
    stack, seen = [message], 0
    while stack and seen < limit:
        part = stack.pop()
        seen += 1
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
        elif content_type(part).startswith("multipart/") and _PLAIN_BOUNDARY.search(
            raw_header(part, "content-type") or ""
        ):
            return True
    return False


def part_type(part: Message) -> str:
    """The content type a part is shown and served with: a multipart that has no usable parts
    (no boundary, none found) is ``text/plain``, as Dovecot reports it."""
    ctype = content_type(part)
    if ctype.startswith("multipart/") and not is_multipart(part):
        return "text/plain"
    return ctype


def enclosed_message(part: Message) -> Message | None:
    """The message inside a message/rfc822 part, or None for anything else."""
    if content_type(part) != "message/rfc822":
        return None
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _join(prefix: str, number: int) -> str:
    return f"{prefix}.{number}" if prefix else str(number)


def walk(message: Message, max_parts: int = MAX_PARTS, max_depth: int = MAX_DEPTH) -> Walk:
    """Number every part of ``message`` (pre-order), within the limits. Never raises."""
    root = Node("", message, content_type(message), "message", 0)
    result = Walk(root)
    _add_body(result, root, message, "", 1, "", max_parts, max_depth)
    if result.depth_cut:
        result.warnings.append(
            f"The message is nested more than {max_depth} levels deep; deeper parts are not shown."
        )
    if result.count_cut:
        result.warnings.append(
            f"The message has more than {max_parts} parts; only the first {max_parts} are shown."
        )
    return result


def _add_body(
    result: Walk,
    parent: Node,
    entity: Message,
    prefix: str,
    depth: int,
    in_message: str,
    max_parts: int,
    max_depth: int,
) -> None:
    if is_multipart(entity):
        children = entity.get_payload()
        assert isinstance(children, list)
        parent_type = content_type(entity)
        for index, child in enumerate(children):
            if not _add_part(
                result,
                parent,
                child,
                _join(prefix, index + 1),
                depth,
                parent_type,
                index,
                in_message,
                max_parts,
                max_depth,
            ):
                return
    else:
        _add_part(
            result,
            parent,
            entity,
            _join(prefix, 1),
            depth,
            "",
            0,
            in_message,
            max_parts,
            max_depth,
        )


def _add_part(
    result: Walk,
    parent: Node,
    part: Message,
    section: str,
    depth: int,
    parent_type: str,
    index: int,
    in_message: str,
    max_parts: int,
    max_depth: int,
) -> bool:
    """Add ``part`` and what it contains; False once the part limit is reached."""
    if not isinstance(part, Message):
        return True
    if result.count >= max_parts:
        result.count_cut = True
        return False
    if depth > max_depth:
        result.depth_cut = True
        return True
    result.count += 1
    inner = enclosed_message(part)
    kind = "multipart" if is_multipart(part) else "message" if inner is not None else "leaf"
    node = Node(section, part, part_type(part), kind, depth, parent_type, index, in_message)
    parent.children.append(node)
    if kind == "multipart":
        children = part.get_payload()
        assert isinstance(children, list)
        for number, child in enumerate(children):
            if not _add_part(
                result,
                node,
                child,
                f"{section}.{number + 1}",
                depth + 1,
                node.content_type,
                number,
                in_message,
                max_parts,
                max_depth,
            ):
                return False
    elif inner is not None:
        _add_body(result, node, inner, section, depth + 1, section, max_parts, max_depth)
        if result.count_cut:
            return False
    return True


def iter_nodes(node: Node) -> list[Node]:
    """All nodes below ``node`` in pre-order (iterative: no recursion limit)."""
    out: list[Node] = []
    stack = list(reversed(node.children))
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(current.children))
    return out


def find_part(message: Message, section: str) -> Message | None:
    """The part at IMAP ``section`` (``"2"``, ``"1.3.2"``), navigating directly (not bounded by
    the walk's part limit). None when there is no such part. Never raises."""
    try:
        numbers = [int(n) for n in section.split(".")]
    except ValueError:
        return None
    if not numbers or len(numbers) > MAX_SECTION_NUMBERS or min(numbers) < 1:
        return None
    entity: Message | None = message  # an entity whose *body* the next number indexes
    part: Message | None = None
    for number in numbers:
        if entity is None:
            return None
        if is_multipart(entity):
            children = entity.get_payload()
            assert isinstance(children, list)
            if number > len(children):
                return None
            child = children[number - 1]
            if not isinstance(child, Message):
                return None
            part = child
        elif number == 1:
            part = entity
        else:
            return None
        # the next number indexes this part's children (multipart) or enclosed body (message)
        entity = part if is_multipart(part) else enclosed_message(part)
    return part
