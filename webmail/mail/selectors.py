"""Reads for the mail pages: the folder tree, a mailbox page, a message page.

Each selector takes the user's store (never the request) and returns frozen dataclasses the
templates render. They raise what the store raises (``ImapNotFound``, ``ImapInvalidInput``,
``ImapUnavailable``); ``webmail.middleware`` turns those into pages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from webmail.imap.errors import ImapError, ImapNotFound
from webmail.imap.gateway import MailStore
from webmail.imap.types import (
    SPECIAL_ORDER,
    Folder,
    MessageSummary,
    SearchField,
    SearchQuery,
    SortKey,
    SpecialUse,
)
from webmail.mail.bodies import MessageDigest, RenderedBody, message_content
from webmail.mail.index import FolderIndex, IndexKey, load_index
from webmail.sanitize import RemotePolicy

SPECIAL_LABELS: dict[SpecialUse, Promise] = {
    SpecialUse.INBOX: _("Inbox"),
    SpecialUse.DRAFTS: _("Drafts"),
    SpecialUse.SENT: _("Sent"),
    SpecialUse.ARCHIVE: _("Archive"),
    SpecialUse.JUNK: _("Junk"),
    SpecialUse.TRASH: _("Trash"),
}
RECIPIENT_FOLDERS = frozenset({SpecialUse.SENT, SpecialUse.DRAFTS})


# --- the folder tree ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FolderNode:
    name: str  # the full IMAP name
    label: str | Promise  # what the sidebar shows
    depth: int
    special_use: SpecialUse | None
    selectable: bool
    unseen: int = 0
    total: int = 0
    has_children: bool = False


@dataclass(frozen=True)
class FolderTree:
    nodes: tuple[FolderNode, ...]
    delimiter: str

    def get(self, name: str) -> FolderNode | None:
        return next((n for n in self.nodes if n.name == name), None)

    def special(self, use: SpecialUse) -> str | None:
        """The name of the folder with this special use, if the account has one."""
        return next((n.name for n in self.nodes if n.special_use is use), None)

    def role(self, name: str) -> SpecialUse | None:
        node = self.get(name)
        return node.special_use if node else None

    def label(self, name: str) -> str | Promise:
        node = self.get(name)
        return node.label if node else name

    @property
    def targets(self) -> tuple[FolderNode, ...]:
        """Folders messages can be moved into."""
        return tuple(n for n in self.nodes if n.selectable)


def _sort_name(name: str) -> tuple[int, str]:
    return (0, "") if name == "INBOX" else (1, name.casefold())


def folder_tree(store: MailStore, *, counts: bool = True) -> FolderTree:
    """Every folder, special ones first (in ``SPECIAL_ORDER``) then the rest by name, each
    followed by its sub-folders; with unread and total counts from STATUS when ``counts``."""
    folders = store.list_folders(with_status=counts)
    by_name: dict[str, Folder] = {f.name: f for f in folders}
    delimiter = next((f.delimiter for f in folders if f.delimiter), "/")
    # Parents the server did not list (some servers omit \NonExistent parents).
    for folder in list(folders):
        parts = folder.parts
        for depth in range(1, len(parts)):
            parent = folder.delimiter.join(parts[:depth])
            if parent not in by_name:
                by_name[parent] = Folder(parent, folder.delimiter, frozenset({"\\Noselect"}),
                                         selectable=False)
    children: dict[str, list[Folder]] = {}
    for folder in by_name.values():
        parent = folder.delimiter.join(folder.parts[:-1]) if folder.depth else ""
        children.setdefault(parent, []).append(folder)

    def top_key(folder: Folder) -> tuple[int, int, str]:
        if folder.special_use is not None:
            return (0, SPECIAL_ORDER.index(folder.special_use), "")
        return (1, *_sort_name(folder.name))

    ordered: list[Folder] = []

    def add(folder: Folder) -> None:
        ordered.append(folder)
        for child in sorted(children.get(folder.name, []), key=lambda f: _sort_name(f.name)):
            add(child)

    for folder in sorted(children.get("", []), key=top_key):
        add(folder)
    nodes = []
    for folder in ordered:
        unseen = total = 0
        if counts and folder.selectable:
            # A folder deleted meanwhile by another client just shows no counts.
            with contextlib.suppress(ImapNotFound):
                status = store.folder_status(folder.name)
                unseen, total = status.unseen, status.messages
        label: str | Promise = folder.leaf
        if folder.special_use is not None:
            label = SPECIAL_LABELS[folder.special_use]
        nodes.append(FolderNode(name=folder.name, label=label, depth=folder.depth,
                                special_use=folder.special_use, selectable=folder.selectable,
                                unseen=unseen, total=total,
                                has_children=bool(children.get(folder.name))))
    return FolderTree(tuple(nodes), delimiter)


# --- list parameters ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ListParams:
    """How a mailbox page is ordered, searched and paged (the query string of its URL)."""

    sort: SortKey = SortKey.DATE
    reverse: bool = True
    page: int = 1
    q: str = ""
    field: SearchField = SearchField.ALL

    @property
    def query(self) -> SearchQuery | None:
        return SearchQuery(self.q, self.field) if self.q.strip() else None

    def index_key(self, user_key: str, folder: str) -> IndexKey:
        return IndexKey(user_key, folder, self.sort, self.reverse, self.query)

    def pairs(self, *, page: bool = True) -> list[tuple[str, str]]:
        """Only what differs from the defaults, so plain URLs stay plain."""
        out: list[tuple[str, str]] = []
        if self.sort is not SortKey.DATE:
            out.append(("sort", self.sort.value))
        if not self.reverse:
            out.append(("dir", "asc"))
        if self.q.strip():
            out.append(("q", self.q))
            if self.field is not SearchField.ALL:
                out.append(("field", self.field.value))
        if page and self.page > 1:
            out.append(("page", str(self.page)))
        return out

    def querystring(self, **changes: object) -> str:
        """``?…`` for these parameters with ``changes`` applied ("" when all are defaults)."""
        params = replace(self, **changes) if changes else self  # type: ignore[arg-type]
        pairs = params.pairs()
        return "?" + urlencode(pairs) if pairs else ""

    @property
    def item_query(self) -> str:
        """The query string a message link carries: the order, without the page."""
        return self.querystring(page=1)

    def sort_querystring(self, key: str) -> str:
        """The link of a column header: sort by it, or flip the direction if it is current."""
        sort = SortKey(key)
        if sort is self.sort:
            return self.querystring(reverse=not self.reverse, page=1)
        # Dates start newest first, names and subjects A to Z, sizes largest first.
        return self.querystring(sort=sort, reverse=sort in (SortKey.DATE, SortKey.SIZE), page=1)


# --- a mailbox page ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MailboxPage:
    folder: str
    role: SpecialUse | None
    rows: tuple[MessageSummary, ...]
    params: ListParams
    page: int
    pages: int
    total: int  # messages listed (search hits, or the whole folder)
    folder_total: int
    unseen: int
    first: int  # 1-based number of the first row shown (0 when empty)
    last: int
    index_from_cache: bool = False
    shows_recipients: bool = False

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_query(self) -> str:
        return self.params.querystring(page=1)

    @property
    def previous_query(self) -> str:
        return self.params.querystring(page=max(1, self.page - 1))

    @property
    def next_query(self) -> str:
        return self.params.querystring(page=min(self.pages, self.page + 1))

    @property
    def last_query(self) -> str:
        return self.params.querystring(page=self.pages)


def mailbox_page(store: MailStore, *, user_key: str, folder: str, role: SpecialUse | None,
                 params: ListParams, page_size: int) -> MailboxPage:
    """One page of a folder: the sorted UIDs from the folder index, then one FETCH of just the
    page's UIDs. Raises ``ImapNotFound`` for a missing folder."""
    sort = params.sort
    if role in RECIPIENT_FOLDERS and sort is SortKey.FROM:
        sort = SortKey.TO  # the column shows recipients there
    elif role not in RECIPIENT_FOLDERS and sort is SortKey.TO:
        sort = SortKey.FROM
    params = replace(params, sort=sort)
    index = load_index(store, params.index_key(user_key, folder))
    pages = index.page_count(page_size)
    page = min(max(1, params.page), pages)
    params = replace(params, page=page)
    uids = index.page(page, page_size)
    rows = tuple(store.fetch_summaries(folder, uids)) if uids else ()
    first = (page - 1) * page_size + 1 if uids else 0
    return MailboxPage(
        folder=folder, role=role, rows=rows, params=params, page=page, pages=pages,
        total=index.total, folder_total=index.status.messages, unseen=index.status.unseen,
        first=first, last=first + len(uids) - 1 if uids else 0,
        index_from_cache=index.from_cache, shows_recipients=role in RECIPIENT_FOLDERS,
    )


# --- a message page ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MessagePage:
    folder: str
    uid: int
    summary: MessageSummary
    digest: MessageDigest | None  # None when the message is too large to show
    body: RenderedBody | None
    remote: bool
    previous_uid: int | None = None
    next_uid: int | None = None
    position: int | None = None  # 1-based, in the list it was opened from
    total: int = 0

    @property
    def too_large(self) -> bool:
        return self.digest is None


def message_summary(store: MailStore, folder: str, uid: int) -> MessageSummary:
    """One message's list row; ``ImapNotFound`` when the UID does not exist in the folder."""
    found = store.fetch_summaries(folder, [uid])
    if not found:
        raise ImapNotFound(f"message {uid} not found in {folder!r}")
    return found[0]


def message_page(store: MailStore, *, user_key: str, folder: str, uid: int, params: ListParams,
                 remote: bool | None, max_bytes: int,
                 allow_remote: Callable[[str], bool] = lambda sender: False) -> MessagePage:
    """What the message view shows. The message is read with BODY.PEEK and then marked
    \\Seen explicitly (opening it is reading it). ``remote`` is the owner's choice for this
    view; None asks ``allow_remote(sender address)`` (their standing preference). Raises
    ``ImapNotFound``."""
    summary = message_summary(store, folder, uid)
    if remote is None:
        remote = bool(summary.sender) and allow_remote(summary.sender[0].email)
    digest: MessageDigest | None = None
    body: RenderedBody | None = None
    if summary.size <= max_bytes:
        policy = RemotePolicy.ALLOW if remote else RemotePolicy.BLOCK
        # The body itself is the body document's (its own request): only facts about it here.
        digest, body = message_content(store, user_key=user_key, folder=folder, uid=uid,
                                       policy=policy, html=False)
    if not summary.seen:
        store.set_flags(folder, [uid], ["\\Seen"], add=True)
        summary = replace(summary, flags=summary.flags | {"\\Seen"})
    previous_uid, next_uid, position, total = message_neighbours(
        store, user_key=user_key, folder=folder, uid=uid, params=params)
    return MessagePage(folder=folder, uid=uid, summary=summary, digest=digest, body=body,
                       remote=remote, previous_uid=previous_uid, next_uid=next_uid,
                       position=position, total=total)


def message_neighbours(store: MailStore, *, user_key: str, folder: str, uid: int,
                       params: ListParams) -> tuple[int | None, int | None, int | None, int]:
    """(previous UID, next UID, 1-based position, total) in the list the message was opened
    from. A failure here must not hide the message itself, so it gives (None, None, None, 0)."""
    try:
        index: FolderIndex = load_index(store, params.index_key(user_key, folder))
    except ImapError:
        return None, None, None, 0
    previous_uid, next_uid = index.neighbours(uid)
    pos = index.position(uid)
    return previous_uid, next_uid, (pos + 1 if pos is not None else None), index.total
