"""An in-memory ``MailStore`` for fast unit tests: a fake of our interface, not of imapclient.

It behaves like the test Dovecot where the webmail can tell the difference (the contract tests
in ``tests/imap/test_contract.py`` run the same assertions against both): special-use folders,
STATUS counts, SORT semantics (ARRIVAL, DISPLAYFROM/DISPLAYTO, base subject, RFC822.SIZE; ties in
ascending UID order), substring searches, UIDPLUS/MOVE, CRLF-normalised APPEND, section
numbering of ``BODY[section]`` and partial fetches.

``FakeStore(sort_capability=False)`` is a server without SORT: ``sorted_uids`` then takes the
gateway's own fallback (``fallback_order``). ``calls`` records what was asked, so tests can
check that a page fetched only its own messages.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from webmail.imap.errors import ImapNotFound, ImapProtocolError
from webmail.imap.gateway import (
    base_subject,
    fallback_order,
    sort_value_name,
)
from webmail.imap.structure import has_attachments
from webmail.imap.types import (
    Address,
    Folder,
    FolderStatus,
    MessageSummary,
    SearchField,
    SearchQuery,
    SelectInfo,
    SortKey,
    SpecialUse,
)
from webmail.imap.validate import check_folder, check_search_text, check_uids
from webmail.mime.headers import decode_bytes, decode_header_value

DELIMITER = "/"
_SPECIAL_FOLDERS = {
    "Drafts": SpecialUse.DRAFTS,
    "Sent": SpecialUse.SENT,
    "Trash": SpecialUse.TRASH,
    "Junk": SpecialUse.JUNK,
    "Archive": SpecialUse.ARCHIVE,
}
_SPECIAL_FLAG = {
    SpecialUse.DRAFTS: "\\Drafts",
    SpecialUse.SENT: "\\Sent",
    SpecialUse.TRASH: "\\Trash",
    SpecialUse.JUNK: "\\Junk",
    SpecialUse.ARCHIVE: "\\Archive",
}
_uidvalidity = itertools.count(1_700_000_000)


@dataclass
class _Message:
    uid: int
    raw: bytes
    flags: set[str]
    received: datetime


@dataclass
class _Mailbox:
    name: str
    uidvalidity: int
    special_use: SpecialUse | None = None
    uidnext: int = 1
    messages: dict[int, _Message] = field(default_factory=dict)


class FakeStore:
    """A signed-in mail store held in memory (one user, one "connection")."""

    def __init__(self, username: str = "alice@example.test", *, sort_capability: bool = True,
                 special_folders: bool = True) -> None:
        self.username = username
        self.sort_capability = sort_capability
        self.calls: list[tuple[Any, ...]] = []
        self.broken = False
        self._boxes: dict[str, _Mailbox] = {}
        self._add_box("INBOX", SpecialUse.INBOX)
        if special_folders:
            for name, use in _SPECIAL_FOLDERS.items():
                self._add_box(name, use)

    # --- helpers for tests --------------------------------------------------------------------

    def _add_box(self, name: str, special: SpecialUse | None = None) -> _Mailbox:
        box = _Mailbox(name=name, uidvalidity=next(_uidvalidity), special_use=special)
        self._boxes[name] = box
        return box

    def _box(self, folder: str) -> _Mailbox:
        check_folder(folder)
        key = "INBOX" if folder.upper() == "INBOX" else folder
        box = self._boxes.get(key)
        if box is None:
            raise ImapNotFound(f"Mailbox doesn't exist: {folder}")
        return box

    def _message(self, folder: str, uid: int) -> _Message:
        (uid,) = check_uids([uid])
        message = self._box(folder).messages.get(uid)
        if message is None:
            raise ImapNotFound(f"message {uid} not found in {folder!r}")
        return message

    def set_uidvalidity(self, folder: str, uidvalidity: int) -> None:
        """Pretend the server renumbered the folder (tests of the folder index)."""
        self._box(folder).uidvalidity = uidvalidity

    # --- life cycle ---------------------------------------------------------------------------

    def capabilities(self) -> frozenset[str]:
        caps = {"IMAP4REV1", "UIDPLUS", "MOVE", "SPECIAL-USE"}
        if self.sort_capability:
            caps |= {"SORT", "SORT=DISPLAY"}
        return frozenset(caps)

    def noop(self) -> None:
        self.calls.append(("noop",))

    def refresh(self) -> None:
        """Nothing to catch up with: the fake has no session state."""

    def logout(self) -> None:
        self.broken = True

    # --- folders ------------------------------------------------------------------------------

    def list_folders(self, *, with_status: bool = False) -> list[Folder]:
        self.calls.append(("list_folders",))
        names = set(self._boxes)
        parents = {DELIMITER.join(n.split(DELIMITER)[:i]) for n in names
                   for i in range(1, n.count(DELIMITER) + 1)} - names
        result = []
        for name in sorted(names | parents):
            box = self._boxes.get(name)
            flags = set()
            if box is None:
                flags.add("\\Noselect")
            if box is not None and box.special_use in _SPECIAL_FLAG:
                flags.add(_SPECIAL_FLAG[box.special_use])
            result.append(Folder(name=name, delimiter=DELIMITER, flags=frozenset(flags),
                                 special_use=box.special_use if box else None,
                                 selectable=box is not None))
        return result

    def folder_status(self, folder: str) -> FolderStatus:
        self.calls.append(("folder_status", folder))
        box = self._box(folder)
        return FolderStatus(
            name=folder,
            messages=len(box.messages),
            unseen=sum(1 for m in box.messages.values() if "\\Seen" not in m.flags),
            uidvalidity=box.uidvalidity,
            uidnext=box.uidnext,
        )

    def create_folder(self, folder: str) -> None:
        check_folder(folder)
        if folder in self._boxes or folder.upper() == "INBOX":
            raise ImapProtocolError("create: [ALREADYEXISTS] Mailbox already exists")
        self._add_box(folder)

    def rename_folder(self, old: str, new: str) -> None:
        box = self._box(old)
        check_folder(new)
        if new in self._boxes:
            raise ImapProtocolError("rename: [ALREADYEXISTS] Target mailbox already exists")
        # RFC 3501: inferior hierarchical names are renamed too.
        prefix = old + DELIMITER
        moving = [name for name in self._boxes if name.startswith(prefix)]
        del self._boxes[old]
        box.name = new
        self._boxes[new] = box
        for name in moving:
            child = self._boxes.pop(name)
            child.name = new + DELIMITER + name[len(prefix):]
            self._boxes[child.name] = child

    def delete_folder(self, folder: str) -> None:
        check_folder(folder)
        if folder not in self._boxes:
            if any(name.startswith(folder + DELIMITER) for name in self._boxes):
                raise ImapProtocolError("delete: Mailbox has children, delete them first")
            raise ImapNotFound(f"Mailbox doesn't exist: {folder}")
        if folder.upper() == "INBOX":
            raise ImapProtocolError("delete: INBOX can't be deleted")
        # Like Dovecot: a folder with children becomes a \Noselect placeholder (list_folders).
        del self._boxes[folder]

    # --- selected state -----------------------------------------------------------------------

    def select(self, folder: str) -> SelectInfo:
        box = self._box(folder)
        return SelectInfo(uidvalidity=box.uidvalidity, exists=len(box.messages),
                          uidnext=box.uidnext)

    def sorted_uids(self, folder: str, key: SortKey, reverse: bool,
                    query: SearchQuery | None = None) -> list[int]:
        """As ``ImapStore.sorted_uids``; with ``sort_capability=False`` the same fallback."""
        self.calls.append(("sorted_uids", folder, key, reverse, query))
        box = self._box(folder)
        hits = [uid for uid, m in sorted(box.messages.items()) if _matches(m, query)]
        if not self.sort_capability:
            values = self.fetch_sort_values(folder, key, hits) if key is not SortKey.DATE else {}
            return fallback_order(hits, key, reverse, values)
        values = {uid: _sort_value(box.messages[uid], key) for uid in hits}
        ordered = sorted(hits, key=lambda u: values[u])  # stable: ties in UID order
        return ordered[::-1] if reverse else ordered

    def fetch_sort_values(self, folder: str, key: SortKey,
                          uids: Sequence[int]) -> dict[int, Any]:
        self.calls.append(("fetch_sort_values", folder, key))
        box = self._box(folder)
        wanted = check_uids(uids)
        return {uid: _sort_value(box.messages[uid], key) for uid in wanted
                if uid in box.messages}

    def fetch_summaries(self, folder: str, uids: Sequence[int]) -> list[MessageSummary]:
        wanted = check_uids(uids)
        self.calls.append(("fetch_summaries", folder, tuple(wanted)))
        if not wanted:
            return []
        box = self._box(folder)
        return [_summary(box.messages[u]) for u in wanted if u in box.messages]

    def fetch_message(self, folder: str, uid: int) -> bytes:
        self.calls.append(("fetch_message", folder, uid))
        return self._message(folder, uid).raw

    def fetch_part(self, folder: str, uid: int, section: str, offset: int = 0,
                   length: int | None = None) -> bytes:
        """``BODY.PEEK[section]<offset.length>``: the part's still transfer-encoded body."""
        self.calls.append(("fetch_part", folder, uid, section, offset, length))
        message = self._message(folder, uid)
        if section and not all(p.isdigit() and len(p) < 6 for p in section.split(".")):
            raise ImapNotFound(f"no part {section!r}")
        data = (section_body(message.raw, [int(p) for p in section.split(".")]) if section
                else message.raw)
        if data is None:
            # Dovecot answers an empty string for a section that does not exist.
            return b""
        if length is not None:
            return data[offset:offset + length]
        return data[offset:]

    def set_flags(self, folder: str, uids: Sequence[int], flags: Sequence[str],
                  add: bool) -> None:
        wanted = check_uids(uids)
        self.calls.append(("set_flags", folder, tuple(wanted), tuple(flags), add))
        box = self._box(folder)
        for uid in wanted:
            message = box.messages.get(uid)
            if message is None:
                continue
            if add:
                message.flags.update(flags)
            else:
                message.flags.difference_update(flags)

    def move(self, folder: str, uids: Sequence[int], target: str) -> None:
        wanted = check_uids(uids)
        check_folder(target)
        self.calls.append(("move", folder, tuple(wanted), target))
        if not wanted or target == folder:
            return
        source = self._box(folder)
        destination = self._box(target)
        for uid in wanted:
            message = source.messages.pop(uid, None)
            if message is None:
                continue
            new_uid = destination.uidnext
            destination.uidnext += 1
            destination.messages[new_uid] = _Message(new_uid, message.raw, set(message.flags),
                                                     message.received)

    def expunge(self, folder: str, uids: Sequence[int]) -> None:
        wanted = check_uids(uids)
        self.calls.append(("expunge", folder, tuple(wanted)))
        box = self._box(folder)
        for uid in wanted:
            box.messages.pop(uid, None)

    def append(self, folder: str, message: bytes, flags: Sequence[str] = (),
               when: datetime | None = None) -> int | None:
        box = self._box(folder)
        uid = box.uidnext
        box.uidnext += 1
        # What reaches the server over IMAP has CRLF line ends (imapclient sends them so).
        raw = re.sub(rb"\r?\n", b"\r\n", message)
        received = when or datetime.now(UTC)
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        box.messages[uid] = _Message(uid, raw, set(flags), received.replace(microsecond=0))
        return uid

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        text = check_search_text(message_id).casefold()
        box = self._box(folder)
        return [uid for uid, m in sorted(box.messages.items())
                if text in _header_text(_parse(m.raw), "Message-ID").casefold()]

    def refresh_selected(self) -> None:
        """Nothing is cached in the fake."""


# --- message helpers --------------------------------------------------------------------------

def _parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _header_text(msg: Message, name: str) -> str:
    values = msg.get_all(name) or []
    return decode_header_value(str(values[0])) if values else ""


def _addresses(msg: Message, name: str) -> tuple[Address, ...]:
    result = []
    for display, addr in email.utils.getaddresses([str(v) for v in msg.get_all(name) or []]):
        if not addr and not display:
            continue
        result.append(Address(name=decode_header_value(display), email=addr))
    return tuple(result)


def _date(msg: Message) -> datetime | None:
    value = msg.get("Date")
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _summary(message: _Message) -> MessageSummary:
    msg = _parse(message.raw)
    return MessageSummary(
        uid=message.uid,
        subject=_header_text(msg, "Subject"),
        sender=_addresses(msg, "From"),
        to=_addresses(msg, "To"),
        date=_date(msg) or message.received,
        size=len(message.raw),
        flags=frozenset(message.flags),
        has_attachments=has_attachments(_structure(msg)),
        message_id=_header_text(msg, "Message-ID"),
        received=message.received,
    )


def _structure(msg: Message) -> Any:
    """A BODYSTRUCTURE-shaped tuple (just the fields ``structure.has_attachments`` reads)."""
    if msg.is_multipart():
        payload = msg.get_payload()
        parts = payload if isinstance(payload, list) else []
        children = [_structure(p) for p in parts if isinstance(p, Message)]
        return (children, msg.get_content_subtype().encode())
    disposition = msg.get_content_disposition()
    return (msg.get_content_maintype().encode(), msg.get_content_subtype().encode(), None,
            None, None, b"7bit", 0, (disposition.encode(), None) if disposition else None)


def _sort_value(message: _Message, key: SortKey) -> Any:
    if key is SortKey.DATE:
        return message.received.timestamp()
    if key is SortKey.SIZE:
        return len(message.raw)
    msg = _parse(message.raw)
    if key is SortKey.FROM:
        return sort_value_name(_addresses(msg, "From"))
    if key is SortKey.TO:
        return sort_value_name(_addresses(msg, "To"))
    return base_subject(_header_text(msg, "Subject"))


def _body_text(msg: Message) -> str:
    texts = []
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(decode_bytes(payload, part.get_content_charset()))
    return "\n".join(texts)


def _matches(message: _Message, query: SearchQuery | None) -> bool:
    if query is None:
        return True
    text = check_search_text(query.text).casefold()
    if query.unseen_only and "\\Seen" in message.flags:
        return False
    if query.flagged_only and "\\Flagged" not in message.flags:
        return False
    if not text:
        return True
    msg = _parse(message.raw)
    fields = {
        SearchField.FROM: lambda: _header_text(msg, "From"),
        SearchField.TO: lambda: _header_text(msg, "To"),
        SearchField.SUBJECT: lambda: _header_text(msg, "Subject"),
        SearchField.BODY: lambda: _body_text(msg),
    }
    wanted = list(fields) if query.field is SearchField.ALL else [query.field]
    return any(text in fields[f]().casefold() for f in wanted)


# --- BODY[section] over raw bytes (RFC 3501 section 6.4.5 numbering) ---------------------------

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _split(entity: bytes) -> tuple[bytes, bytes]:
    if entity.startswith((b"\r\n", b"\n")):
        return b"", entity[2 if entity.startswith(b"\r\n") else 1:]
    match = _BLANK_LINE.search(entity)
    if match is None:
        return entity, b""
    return entity[:match.start()], entity[match.end():]


def _content_type(head: bytes, default: str = "text/plain") -> tuple[str, str | None]:
    msg = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.compat32)
    if msg.get("Content-Type") is None:
        return default, None
    ctype = msg.get_content_type()
    boundary = msg.get_param("boundary")
    return ctype, str(boundary) if isinstance(boundary, str) else None


def _subparts(body: bytes, boundary: str) -> list[bytes]:
    # RFC 2046 5.1.1: the line break before a delimiter belongs to the delimiter.
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary.encode("latin-1"))
                           + rb"(--)?[ \t]*(?:\r?\n|$)")
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start:match.start()])
        if match.group(1):
            return parts
        start = match.end()
    if start is not None:
        parts.append(body[start:])
    return parts


def section_body(entity: bytes, path: list[int]) -> bytes | None:
    """The bytes IMAP's ``BODY[<path>]`` returns for this message, or None if there is none."""
    return all_sections(entity).get(".".join(str(n) for n in path))


def all_sections(entity: bytes, max_parts: int = 5000) -> dict[str, bytes]:
    """Every IMAP section of a message and what ``BODY[section]`` returns for it, in one walk
    (RFC 3501 6.4.5 numbering; like Dovecot, "N.1" of a single part is that part again)."""
    out: dict[str, bytes] = {}
    _walk(entity, "", "text/plain", out, max_parts, 0)
    return out


def _walk(entity: bytes, prefix: str, default: str, out: dict[str, bytes], max_parts: int,
          depth: int) -> None:
    """Number the body of ``entity`` (a message or a multipart part) below ``prefix``."""
    if depth > 100 or len(out) >= max_parts:
        return
    head, body = _split(entity)
    ctype, boundary = _content_type(head, default)
    parts = _subparts(body, boundary) if ctype.startswith("multipart/") and boundary else []
    if not parts:  # a leaf; like Dovecot, also a multipart without boundary or without parts
        key = f"{prefix}.1" if prefix else "1"
        out.setdefault(key, body)
        if ctype == "message/rfc822":
            _walk(body, key, "text/plain", out, max_parts, depth + 1)
        else:
            out.setdefault(f"{key}.1", body)  # Dovecot's "N.1" of a single part
        return
    child_default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
    for number, child in enumerate(parts, start=1):
        if len(out) >= max_parts:
            return
        key = f"{prefix}.{number}" if prefix else str(number)
        child_head, child_body = _split(child)
        child_type, _ = _content_type(child_head, child_default)
        out[key] = child_body
        if child_type.startswith("multipart/"):
            _walk(child, key, child_default, out, max_parts, depth + 1)
        elif child_type == "message/rfc822":
            _walk(child_body, key, "text/plain", out, max_parts, depth + 1)
        else:
            out.setdefault(f"{key}.1", child_body)  # Dovecot's "N.1" of a single part
