"""Typed results of the IMAP gateway (frozen dataclasses, no library types leak out)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Security(enum.StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    SSL = "ssl"


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    security: Security = Security.NONE
    timeout: float = 15.0
    verify_tls: bool = True


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


class SpecialUse(enum.StrEnum):
    """RFC 6154 special-use attributes we give their own names and place."""

    INBOX = "inbox"
    DRAFTS = "drafts"
    SENT = "sent"
    ARCHIVE = "archive"
    JUNK = "junk"
    TRASH = "trash"


# Shown first, in this order.
SPECIAL_ORDER = [SpecialUse.INBOX, SpecialUse.DRAFTS, SpecialUse.SENT, SpecialUse.ARCHIVE,
                 SpecialUse.JUNK, SpecialUse.TRASH]


@dataclass(frozen=True)
class Folder:
    name: str  # full name, decoded from modified UTF-7
    delimiter: str
    flags: frozenset[str]
    special_use: SpecialUse | None = None
    selectable: bool = True

    @property
    def parts(self) -> list[str]:
        return self.name.split(self.delimiter) if self.delimiter else [self.name]

    @property
    def leaf(self) -> str:
        return self.parts[-1]

    @property
    def depth(self) -> int:
        return len(self.parts) - 1


@dataclass(frozen=True)
class FolderStatus:
    name: str
    messages: int
    unseen: int
    uidvalidity: int
    uidnext: int
    highestmodseq: int | None = None


@dataclass(frozen=True)
class Address:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class MessageSummary:
    """One row of the mailbox list."""

    uid: int
    subject: str
    sender: tuple[Address, ...]
    to: tuple[Address, ...]
    date: datetime | None  # the Date header (the sender's clock), else the arrival time
    size: int
    flags: frozenset[str]
    has_attachments: bool
    message_id: str = ""
    received: datetime | None = None  # INTERNALDATE: when it arrived in this folder

    @property
    def seen(self) -> bool:
        return "\\Seen" in self.flags

    @property
    def flagged(self) -> bool:
        return "\\Flagged" in self.flags

    @property
    def answered(self) -> bool:
        return "\\Answered" in self.flags


class SortKey(enum.StrEnum):
    # Arrival order is what users mean by "newest first" (RFC 5256 ARRIVAL): a forged or
    # skewed Date header cannot pin a message to the top, and it equals UID order on servers
    # without SORT.
    DATE = "date"
    FROM = "from"  # the sender's display name, else address (RFC 5957 DISPLAYFROM)
    TO = "to"  # the first recipient, same rule (Sent and Drafts list recipients)
    SUBJECT = "subject"
    SIZE = "size"


class SearchField(enum.StrEnum):
    ALL = "all"  # from, to, subject or body
    FROM = "from"
    TO = "to"
    SUBJECT = "subject"
    BODY = "body"


@dataclass(frozen=True)
class SearchQuery:
    text: str
    field: SearchField = SearchField.ALL
    unseen_only: bool = False
    flagged_only: bool = False


@dataclass(frozen=True)
class SelectInfo:
    uidvalidity: int
    exists: int
    uidnext: int
    highestmodseq: int | None = None

