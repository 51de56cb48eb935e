"""The IMAP gateway: ``MailStore`` (the interface) and ``ImapStore`` (imapclient).

Every imapclient or socket error is translated into ``webmail.imap.errors``. Commands are never
built from strings: criteria go to imapclient as lists of values, which it quotes or sends as
literals. Every input from a user passes the validators in ``webmail.imap.validate`` first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import ssl
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import imapclient
from imapclient import exceptions as imap_exc
from imapclient import response_parser as imap_response
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.response_types import Envelope

from webmail.imap.errors import (
    ImapAuthError,
    ImapError,
    ImapInvalidInput,
    ImapNotFound,
    ImapProtocolError,
    ImapUnavailable,
)
from webmail.imap.structure import has_attachments
from webmail.imap.types import (
    Address,
    Credentials,
    Folder,
    FolderStatus,
    MessageSummary,
    SearchField,
    SearchQuery,
    Security,
    SelectInfo,
    ServerAddress,
    SortKey,
    SpecialUse,
)
from webmail.imap.validate import check_folder, check_search_text, check_uids
from webmail.mime.headers import decode_header_value

log = logging.getLogger(__name__)

T = TypeVar("T")

SUMMARY_ITEMS = [b"UID", b"ENVELOPE", b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE",
                 b"BODYSTRUCTURE"]
#: Summaries a connection remembers (about ten pages): all but the flags never change for a
#: UID under one UIDVALIDITY (RFC 3501), so a page seen before costs a FETCH of FLAGS only.
SUMMARY_MEMO_SIZE = 500

_SPECIAL_FLAGS = {
    b"\\sent": SpecialUse.SENT,
    b"\\drafts": SpecialUse.DRAFTS,
    b"\\trash": SpecialUse.TRASH,
    b"\\junk": SpecialUse.JUNK,
    b"\\archive": SpecialUse.ARCHIVE,
}
# For servers without SPECIAL-USE (RFC 6154): the names clients commonly create.
_SPECIAL_NAMES = {
    "sent": SpecialUse.SENT, "sent items": SpecialUse.SENT, "sent messages": SpecialUse.SENT,
    "drafts": SpecialUse.DRAFTS, "draft": SpecialUse.DRAFTS,
    "trash": SpecialUse.TRASH, "deleted items": SpecialUse.TRASH,
    "deleted messages": SpecialUse.TRASH,
    "junk": SpecialUse.JUNK, "spam": SpecialUse.JUNK, "junk e-mail": SpecialUse.JUNK,
    "archive": SpecialUse.ARCHIVE, "archives": SpecialUse.ARCHIVE,
}

# RFC 5256 criteria; with SORT=DISPLAY (RFC 5957) names sort by what the list shows.
_SORT_CRITERIA = {
    SortKey.DATE: "ARRIVAL",
    SortKey.FROM: "FROM",
    SortKey.TO: "TO",
    SortKey.SUBJECT: "SUBJECT",
    SortKey.SIZE: "SIZE",
}
_DISPLAY_CRITERIA = {SortKey.FROM: "DISPLAYFROM", SortKey.TO: "DISPLAYTO"}


class MailStore(Protocol):
    """What the rest of the webmail may ask of a signed-in mail store.

    Every method may raise ``ImapUnavailable`` (transient), ``ImapNotFound`` (missing folder or
    message), ``ImapProtocolError`` (the server said NO/BAD) or ``ImapInvalidInput``.
    """

    def capabilities(self) -> frozenset[str]: ...
    def noop(self) -> None: ...
    def refresh(self) -> None: ...
    def logout(self) -> None: ...
    def list_folders(self, *, with_status: bool = False) -> list[Folder]: ...
    def folder_status(self, folder: str) -> FolderStatus: ...
    def create_folder(self, folder: str) -> None: ...
    def rename_folder(self, old: str, new: str) -> None: ...
    def delete_folder(self, folder: str) -> None: ...
    def select(self, folder: str) -> SelectInfo: ...
    def sorted_uids(self, folder: str, key: SortKey, reverse: bool,
                    query: SearchQuery | None = None) -> list[int]: ...
    def fetch_summaries(self, folder: str, uids: Sequence[int]) -> list[MessageSummary]: ...
    def fetch_sort_values(self, folder: str, key: SortKey,
                          uids: Sequence[int]) -> dict[int, Any]: ...
    def fetch_message(self, folder: str, uid: int) -> bytes: ...
    def fetch_part(self, folder: str, uid: int, section: str, offset: int = 0,
                   length: int | None = None) -> bytes: ...
    def set_flags(self, folder: str, uids: Sequence[int], flags: Sequence[str],
                  add: bool) -> None: ...
    def move(self, folder: str, uids: Sequence[int], target: str) -> None: ...
    def expunge(self, folder: str, uids: Sequence[int]) -> None: ...
    def append(self, folder: str, message: bytes, flags: Sequence[str] = (),
               when: datetime | None = None) -> int | None: ...
    def find_by_message_id(self, folder: str, message_id: str) -> list[int]: ...


def _ssl_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn imapclient and socket errors into ours (``from`` keeps the cause for the logs)."""
    try:
        yield
    except ImapError:
        raise
    except imap_exc.LoginError as exc:
        raise ImapAuthError(f"{action}: the server refused the credentials") from exc
    except (imap_exc.IMAPClientAbortError, TimeoutError, ConnectionError, ssl.SSLError,
            OSError, EOFError) as exc:
        raise ImapUnavailable(f"{action}: {exc.__class__.__name__}: {exc}") from exc
    except imap_exc.IMAPClientError as exc:
        text = str(exc)
        lowered = text.lower()
        if "invalid mailbox name" in lowered:
            # The name itself is refused (Dovecot: "[CANNOT] Invalid mailbox name: Contains
            # '..' part"): the user's input, not the server, is at fault.
            raise ImapInvalidInput(f"{action}: {text}") from exc
        if any(word in lowered for word in ("nonexistent", "doesn't exist", "does not exist",
                                            "not found", "no such", "unknown mailbox")):
            raise ImapNotFound(f"{action}: {text}") from exc
        raise ImapProtocolError(f"{action}: {text}") from exc


def _decode(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return decode_header_value(raw)


def _addresses(raw: Sequence[Any] | None) -> tuple[Address, ...]:
    result = []
    for item in raw or ():
        mailbox = item.mailbox.decode("utf-8", "replace") if item.mailbox else ""
        host = item.host.decode("utf-8", "replace") if item.host else ""
        if not mailbox and not host:
            continue  # RFC 3501 group syntax markers
        email = f"{mailbox}@{host}" if host else mailbox
        result.append(Address(name=_decode(item.name), email=email))
    return tuple(result)


def _flags(raw: Sequence[bytes | str]) -> frozenset[str]:
    return frozenset(f.decode("ascii", "replace") if isinstance(f, bytes) else f for f in raw)


def summary_from_fetch(uid: int, data: dict[bytes, Any]) -> MessageSummary:
    envelope: Envelope | None = data.get(b"ENVELOPE")
    date = None
    subject = ""
    sender: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    message_id = ""
    if envelope is not None:
        date = envelope.date
        subject = _decode(envelope.subject)
        sender = _addresses(envelope.from_)
        to = _addresses(envelope.to)
        message_id = _decode(envelope.message_id)
    internal = _aware(data.get(b"INTERNALDATE"))
    date = _aware(date) or internal
    body = data.get(b"BODYSTRUCTURE")
    return MessageSummary(
        uid=uid,
        subject=subject,
        sender=sender,
        to=to,
        date=date,
        size=int(data.get(b"RFC822.SIZE", 0)),
        flags=_flags(data.get(b"FLAGS", ())),
        has_attachments=has_attachments(body) if body is not None else False,
        message_id=message_id,
        received=internal,
    )


def _aware(value: Any) -> datetime | None:
    """A timezone-aware datetime; a zoneless Date header is read as UTC."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class SearchText(str):
    """A value from the user inside search criteria: always sent as an IMAP quoted string."""


def _quoted_string(value: str) -> bytes:
    # RFC 3501 quoted string; CR, LF and NUL never get here (check_search_text refuses them).
    raw = value.encode("utf-8")
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def wire_criteria(criteria: Sequence[Any]) -> bytes | list[Any]:
    """The criteria in the form that reaches the server as values, never as syntax.

    imapclient sends a value without a space, quote or backslash as a bare atom, so a search
    for ``(x`` or ``{5}`` would reach the server as syntax (a parenthesis, a literal that makes
    it wait). With ASCII-only user values (``SearchText``) the criteria are therefore one line
    in which each user value is a quoted string and the rest are our own fixed atoms; a
    non-ASCII value is left to imapclient, which sends every 8-bit argument as a literal."""
    texts = [item for item in criteria if isinstance(item, SearchText)]
    if any(not text.isascii() for text in texts):
        return [str(item) for item in criteria]
    parts = []
    for item in criteria:
        if isinstance(item, SearchText):
            parts.append(_quoted_string(item))
        else:
            atom = str(item)
            if not atom or any(ch in atom for ch in ' (){}%"\\\r\n\x00'):
                raise ImapInvalidInput(f"not a search keyword: {atom!r}")
            parts.append(atom.encode("ascii"))
    return b" ".join(parts)


def search_criteria(query: SearchQuery) -> list[Any]:
    """IMAP SEARCH criteria for a query: our keywords, the user's text as ``SearchText``."""
    text = SearchText(check_search_text(query.text))
    criteria: list[Any] = []
    if text:
        if query.field is SearchField.ALL:
            criteria += ["OR", "OR", "FROM", text, "TO", text, "OR", "SUBJECT", text,
                         "BODY", text]
        else:
            criteria += [query.field.value.upper(), text]
    if query.unseen_only:
        criteria.append("UNSEEN")
    if query.flagged_only:
        criteria.append("FLAGGED")
    return criteria or ["ALL"]


def _charset_for(criteria: Sequence[Any]) -> str | None:
    return "UTF-8" if any(isinstance(c, str) and not c.isascii() for c in criteria) else None


def _status_from(folder: str, data: dict[bytes, Any]) -> FolderStatus:
    modseq = data.get(b"HIGHESTMODSEQ")
    return FolderStatus(
        name=folder,
        messages=int(data.get(b"MESSAGES", 0)),
        unseen=int(data.get(b"UNSEEN", 0)),
        uidvalidity=int(data.get(b"UIDVALIDITY", 0)),
        uidnext=int(data.get(b"UIDNEXT", 0)),
        highestmodseq=int(modseq) if modseq is not None else None,
    )


class ImapStore:
    """A logged-in IMAP connection. Use ``ImapStore.open`` (a context manager) or the pool."""

    def __init__(self, client: imapclient.IMAPClient, server: ServerAddress, username: str):
        self._client = client
        self.server = server
        self.username = username
        self._selected: str | None = None
        self._select_info: SelectInfo | None = None
        self._caps: frozenset[str] | None = None
        self._condstore = False
        self._qresync = False
        self.broken = False
        # (folder, UIDVALIDITY, UID) -> (summary, the folder's HIGHESTMODSEQ its flags are as
        # new as, or None); see ``fetch_summaries``.
        self._summaries: OrderedDict[tuple[str, int, int],
                                     tuple[MessageSummary, int | None]] = OrderedDict()
        # STATUS answers of the current request (see ``folder_status``).
        self._statuses: dict[str, FolderStatus] = {}

    # --- life cycle -------------------------------------------------------------------------

    @classmethod
    def connect(cls, server: ServerAddress, credentials: Credentials) -> ImapStore:
        """Connect and log in; raises ``ImapAuthError`` or ``ImapUnavailable``.

        Never returns a half-logged-in client: on any failure the socket is closed.
        """
        timeout = imapclient.SocketTimeout(connect=min(server.timeout, 10.0),
                                           read=server.timeout)
        client: imapclient.IMAPClient | None = None
        try:
            with _translated("connect"):
                client = imapclient.IMAPClient(
                    server.host,
                    port=server.port,
                    ssl=server.security is Security.SSL,
                    ssl_context=_ssl_context(server.verify_tls),
                    timeout=timeout,
                )
                if server.security is Security.STARTTLS:
                    client.starttls(_ssl_context(server.verify_tls))
            # Timezone-aware datetimes, not the host's local time (imapclient's default).
            client.normalise_times = False
            with _translated("login"):
                client.login(credentials.username, credentials.password)
            store = cls(client, server, credentials.username)
            caps = store.capabilities()
            # QRESYNC (RFC 7162) implies CONDSTORE and lets the folder index learn which UIDs
            # vanished since a HIGHESTMODSEQ (``vanished_since``).
            wanted = [c for c in ("QRESYNC", "CONDSTORE") if c in caps][:1]
            if wanted:
                with _translated("enable"):
                    with contextlib.suppress(imap_exc.IMAPClientError):
                        enabled = {e.decode("ascii", "replace").upper() if isinstance(e, bytes)
                                   else str(e).upper() for e in client.enable(*wanted)}
                        store._condstore = bool(enabled & {"QRESYNC", "CONDSTORE"})
                        store._qresync = "QRESYNC" in enabled
            return store
        except BaseException:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.shutdown()
            raise

    @classmethod
    @contextlib.contextmanager
    def open(cls, server: ServerAddress, credentials: Credentials) -> Iterator[ImapStore]:
        store = cls.connect(server, credentials)
        try:
            yield store
        finally:
            store.logout()

    def _call(self, action: str, func: Callable[[], T]) -> T:
        try:
            with _translated(action):
                return func()
        except ImapUnavailable:
            self.broken = True
            raise

    def capabilities(self) -> frozenset[str]:
        if self._caps is None:
            caps = self._call("capability", self._client.capabilities)
            self._caps = frozenset(c.decode("ascii", "replace").upper() for c in caps)
        return self._caps

    def noop(self) -> None:
        self._statuses.clear()  # the server may report changes now
        self._call("noop", self._client.noop)

    def refresh(self) -> None:
        """Bring a reused connection up to date before a request works with it.

        Dovecot applies what other sessions did (new mail, expunges) to a selected folder only
        after a command, so the first command of a request would act on the state the previous
        request left: a UID FETCH or STORE of a newer message answers nothing (silently), and
        STATUS of the selected folder reports the old counts. A NOOP makes the server catch up.
        Nothing is sent when no folder is selected (a fresh connection). Raises
        ``ImapUnavailable`` when the connection is gone. Forgets the STATUS answers of the
        previous request.
        """
        self._statuses.clear()
        if self._selected is not None:
            self._call("noop", self._client.noop)

    def logout(self) -> None:
        with contextlib.suppress(Exception):
            self._client.logout()
        with contextlib.suppress(Exception):
            self._client.shutdown()
        self.broken = True

    # --- folders ----------------------------------------------------------------------------

    def list_folders(self, *, with_status: bool = False) -> list[Folder]:
        """Every folder. ``with_status``: the caller will ask ``folder_status`` of each, so
        a server with LIST-STATUS (RFC 5819) answers the counts in the same command (one round
        trip instead of one per folder); ``folder_status`` then answers from them."""
        # Dovecot and most servers put RFC 6154 attributes in plain LIST replies; for the rest
        # the common names stand in (_SPECIAL_NAMES).
        raw: list[tuple[Any, Any, str]] | None = None
        if with_status and "LIST-STATUS" in self.capabilities():
            if self._selected is None:
                # As in ``folder_status``: open INBOX (the usual first page) by SELECT, so
                # its STATUS inside the LIST is nearly free instead of a second opening.
                with contextlib.suppress(ImapNotFound, ImapProtocolError):
                    self.select("INBOX")
            raw = self._list_status()
        if raw is None:
            raw = self._call("list", lambda: self._client.list_folders())
        folders = []
        taken: set[SpecialUse] = set()
        for flags, delimiter, name in raw:
            lowered = {f.lower() for f in flags}
            special = next((s for f, s in _SPECIAL_FLAGS.items() if f in lowered), None)
            folders.append((name, delimiter, flags, special, b"\\noselect" not in lowered
                            and b"\\nonexistent" not in lowered))
            if special:
                taken.add(special)
        result = []
        for name, delimiter, flags, special, selectable in folders:
            delim = delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or "")
            if name.upper() == "INBOX":
                special = SpecialUse.INBOX
                name = "INBOX"
            elif special is None and (delim == "" or delim not in name):
                guess = _SPECIAL_NAMES.get(name.lower())
                if guess and guess not in taken:
                    special = guess
                    taken.add(guess)
            result.append(Folder(name=name, delimiter=delim, flags=_flags(flags),
                                 special_use=special, selectable=selectable))
        return result

    def folder_status(self, folder: str) -> FolderStatus:
        """STATUS of a folder. On a connection with nothing selected yet the folder is
        selected first: STATUS of an unselected folder makes the server open it (50-80 ms on
        100,000 messages in Dovecot) and the SELECT that usually follows opens it again, while
        STATUS of the selected folder is nearly free. Raises ``ImapNotFound``."""
        check_folder(folder)
        known = self._statuses.get(folder)
        if known is not None:
            return known
        if self._selected is None:
            self.select(folder)
        data = self._call("status", lambda: self._client.folder_status(folder,
                                                                         self._status_items()))
        status = _status_from(folder, data)
        self._statuses[folder] = status
        return status

    def _status_items(self) -> list[bytes]:
        what = [b"MESSAGES", b"UNSEEN", b"UIDVALIDITY", b"UIDNEXT"]
        if self._condstore:
            what.append(b"HIGHESTMODSEQ")
        return what

    def _list_status(self) -> list[tuple[Any, Any, str]] | None:
        """``LIST "" "*" RETURN (STATUS (...))``: the folders, and the STATUS of each
        remembered for this request. imapclient has no call for it, so this uses its command
        plumbing; None (the caller lists plainly) when the answer cannot be read.

        Remembered STATUS answers last until the request ends (``refresh``) or this connection
        changes something (``_changed``): a page asks for the same counts several times (the
        folder list, the page's own folder, the live-refresh state) within a few milliseconds.
        """
        client = self._client
        items = " ".join(i.decode("ascii") for i in self._status_items())

        def command() -> tuple[list[Any], list[Any]]:
            imap = client._imap
            typ, dat = imap._simple_command(
                "LIST", client._normalise_folder(""), client._normalise_folder("*"),
                "RETURN", f"(STATUS ({items}))")
            client._checkok("list", typ, dat)
            _typ, listing = imap._untagged_response(typ, dat, "LIST")
            _typ, statuses = imap._untagged_response(typ, dat, "STATUS")
            return listing, statuses

        try:
            listing, statuses = self._call("list", command)
        except AttributeError:  # imapclient's plumbing changed: list plainly
            log.warning("LIST-STATUS not possible with this imapclient", exc_info=True)
            return None
        try:
            folders = client._proc_folder_list(listing)
            found: dict[str, FolderStatus] = {}
            for line in statuses:
                if line in (b"", None):
                    continue
                parsed = imap_response.parse_response([line])
                name = parsed[0]
                if isinstance(name, bytes):
                    name = decode_utf7(name) if client.folder_encode else name.decode()
                name = "INBOX" if str(name).upper() == "INBOX" else str(name)
                pairs = parsed[-1]
                found[name] = _status_from(name, dict(zip(pairs[::2], pairs[1::2], strict=True)))
        except (ValueError, TypeError, IndexError, imap_exc.ProtocolError):
            log.warning("LIST-STATUS answer not understood; listing plainly", exc_info=True)
            return None
        self._statuses.update(found)
        return list(folders)

    def _changed(self) -> None:
        """This connection changed something: counts remembered in this request are stale."""
        self._statuses.clear()

    def create_folder(self, folder: str) -> None:
        check_folder(folder)
        self._changed()
        self._call("create", lambda: self._client.create_folder(folder))
        with contextlib.suppress(ImapProtocolError):
            self._call("subscribe", lambda: self._client.subscribe_folder(folder))

    def rename_folder(self, old: str, new: str) -> None:
        self._changed()
        check_folder(old)
        check_folder(new)
        self._unselect_if(old)
        self._call("rename", lambda: self._client.rename_folder(old, new))

    def delete_folder(self, folder: str) -> None:
        self._changed()
        check_folder(folder)
        self._unselect_if(folder)
        self._call("delete", lambda: self._client.delete_folder(folder))

    def _unselect_if(self, folder: str) -> None:
        if self._selected == folder:
            with contextlib.suppress(ImapError):
                self._call("close", self._client.close_folder)
            self._selected = None
            self._select_info = None

    # --- selected state ---------------------------------------------------------------------

    def select(self, folder: str) -> SelectInfo:
        """Select ``folder`` read-write; a reused connection keeps it selected (cheap)."""
        check_folder(folder)
        if self._selected == folder and self._select_info is not None:
            return self._select_info
        try:
            data = self._call("select", lambda: self._client.select_folder(folder))
        except ImapProtocolError as exc:
            # A new user's INBOX is created on first use; if a delivery creates it at the
            # same moment, Dovecot answers NO [ALREADYEXISTS] once. Selecting again works.
            if "ALREADYEXISTS" not in str(exc).upper():
                raise
            data = self._call("select", lambda: self._client.select_folder(folder))
        modseq = data.get(b"HIGHESTMODSEQ")
        info = SelectInfo(
            uidvalidity=int(data.get(b"UIDVALIDITY", 0)),
            exists=int(data.get(b"EXISTS", 0)),
            uidnext=int(data.get(b"UIDNEXT", 0)),
            highestmodseq=int(modseq) if modseq is not None else None,
        )
        self._selected = folder
        self._select_info = info
        return info

    def sorted_uids(self, folder: str, key: SortKey, reverse: bool,
                    query: SearchQuery | None = None) -> list[int]:
        """UIDs of the folder (or of the search hits) in the order asked.

        With SORT (RFC 5256) the server sorts: date is ARRIVAL, names use DISPLAYFROM /
        DISPLAYTO when the server offers SORT=DISPLAY (RFC 5957). Ties are in ascending UID
        order, and a descending order is the exact mirror of the ascending one.

        Without SORT (see ``fallback_order``): date order is UID order (arrival, which needs no
        data at all); other keys fetch the value of every hit (``fetch_sort_values``) and sort
        here. The folder index caches the result, so that cost is paid once per folder change,
        not per page. Raises ``ImapNotFound`` for a missing folder, ``ImapInvalidInput`` for a
        bad folder name or search text.
        """
        self.select(folder)
        criteria = search_criteria(query) if query else ["ALL"]
        caps = self.capabilities()
        if "SORT" in caps:
            sort_key = _SORT_CRITERIA[key]
            if "SORT=DISPLAY" in caps:
                sort_key = _DISPLAY_CRITERIA.get(key, sort_key)
            # Always ascending, reversed here: SORT breaks ties by ascending sequence number
            # even with REVERSE, which would list same-second arrivals oldest first under
            # "newest first". The mirror image of the ascending order has no such surprise.
            uids = [int(u) for u in self._call("sort", lambda: self._client.sort(
                [sort_key], wire_criteria(criteria), charset="UTF-8"))]
            return uids[::-1] if reverse else uids
        uids = [int(u) for u in self._call("search", lambda: self._client.search(
            wire_criteria(criteria), charset=_charset_for(criteria)))]
        values = (self.fetch_sort_values(folder, key, uids)
                  if key is not SortKey.DATE and uids else {})
        return fallback_order(uids, key, reverse, values)

    def fetch_sort_values(self, folder: str, key: SortKey,
                          uids: Sequence[int]) -> dict[int, Any]:
        """The value each message sorts by, for servers without SORT."""
        self.select(folder)
        target = check_uids(uids)
        if key is SortKey.SIZE:
            data = self._call("fetch", lambda: self._client.fetch(target, [b"RFC822.SIZE"]))
            return {int(u): int(d.get(b"RFC822.SIZE", 0)) for u, d in data.items()}
        if key is SortKey.DATE:
            data = self._call("fetch", lambda: self._client.fetch(target, [b"INTERNALDATE"]))
            return {int(u): _aware(d.get(b"INTERNALDATE")) for u, d in data.items()}
        data = self._call("fetch", lambda: self._client.fetch(target, [b"ENVELOPE"]))
        values: dict[int, Any] = {}
        for uid, item in data.items():
            envelope = item.get(b"ENVELOPE")
            if envelope is None:
                values[int(uid)] = ""
            elif key is SortKey.FROM:
                values[int(uid)] = sort_value_name(_addresses(envelope.from_))
            elif key is SortKey.TO:
                values[int(uid)] = sort_value_name(_addresses(envelope.to))
            else:
                values[int(uid)] = base_subject(_decode(envelope.subject))
        return values

    def fetch_summaries(self, folder: str, uids: Sequence[int]) -> list[MessageSummary]:
        """Summaries of exactly these UIDs, in the order given (missing ones left out).

        All but the flags never change under a UID, so rows fetched before are remembered by
        this connection and cost a FETCH of FLAGS only. With CONDSTORE not even that when the
        folder's HIGHESTMODSEQ (from a STATUS of this request) is the one the remembered flags
        were read at: any flag change or expunge raises it (RFC 7162), so nothing changed."""
        wanted = check_uids(uids)
        if not wanted:
            return []
        uidvalidity = self.select(folder).uidvalidity
        status = self._statuses.get(folder)
        modseq = (status.highestmodseq if self._condstore and status is not None
                  and status.uidvalidity == uidvalidity else None)
        memo = self._summaries
        known = {u: memo[(folder, uidvalidity, u)] for u in wanted
                 if (folder, uidvalidity, u) in memo}
        missing = [u for u in wanted if u not in known]
        by_uid: dict[int, MessageSummary] = {}
        if known and modseq is not None and all(m == modseq for _s, m in known.values()):
            by_uid = {u: summary for u, (summary, _m) in known.items()}
        elif known:
            # A UID that is gone answers nothing and is left out, as in a full fetch.
            flags = self._call("fetch", lambda: self._client.fetch(list(known), [b"FLAGS"]))
            for uid, item in flags.items():
                if int(uid) in known and b"FLAGS" in item:
                    by_uid[int(uid)] = dataclasses.replace(known[int(uid)][0],
                                                           flags=_flags(item[b"FLAGS"]))
        if missing:
            data = self._call("fetch", lambda: self._client.fetch(missing, SUMMARY_ITEMS))
            for uid, item in data.items():
                if int(uid) in missing or int(uid) in known:
                    by_uid[int(uid)] = summary_from_fetch(int(uid), item)
        for uid, summary in by_uid.items():
            key = (folder, uidvalidity, uid)
            memo[key] = (summary, modseq)
            memo.move_to_end(key)
        while len(memo) > SUMMARY_MEMO_SIZE:
            memo.popitem(last=False)
        return [by_uid[u] for u in wanted if u in by_uid]

    def fetch_message(self, folder: str, uid: int) -> bytes:
        (uid,) = check_uids([uid])
        self.select(folder)
        data = self._call("fetch", lambda: self._client.fetch([uid], [b"BODY.PEEK[]"]))
        item = data.get(uid)
        if not item or b"BODY[]" not in item:
            raise ImapNotFound(f"message {uid} not found in {folder!r}")
        return bytes(item[b"BODY[]"])

    def fetch_part(self, folder: str, uid: int, section: str, offset: int = 0,
                   length: int | None = None) -> bytes:
        """Raw (still transfer-encoded) bytes of one body section, optionally a range of it.

        ``section`` is an IMAP part number ("2", "1.3"); "" is the whole message, so large
        messages can be streamed in ranges too. Dovecot answers b"" for a part that does not
        exist. Raises ``ImapNotFound`` for a missing message or a malformed section."""
        (uid,) = check_uids([uid])
        if section and not all(p.isdigit() and len(p) < 6 for p in section.split(".")):
            raise ImapNotFound(f"no part {section!r}")
        self.select(folder)
        partial = f"<{int(offset)}.{int(length)}>" if length is not None else ""
        item_name = f"BODY.PEEK[{section}]{partial}".encode("ascii")
        data = self._call("fetch", lambda: self._client.fetch([uid], [item_name]))
        item = data.get(uid)
        if not item:
            raise ImapNotFound(f"message {uid} not found in {folder!r}")
        for k, value in item.items():
            if k.startswith(f"BODY[{section}]".encode()):
                return bytes(value or b"")
        raise ImapNotFound(f"part {section} of message {uid} not found")

    def set_flags(self, folder: str, uids: Sequence[int], flags: Sequence[str],
                  add: bool) -> None:
        wanted = check_uids(uids)
        if not wanted:
            return
        self._changed()
        self.select(folder)
        raw = [f.encode("ascii") for f in flags]
        if add:
            self._call("store", lambda: self._client.add_flags(wanted, raw, silent=True))
        else:
            self._call("store", lambda: self._client.remove_flags(wanted, raw, silent=True))

    def move(self, folder: str, uids: Sequence[int], target: str) -> None:
        wanted = check_uids(uids)
        check_folder(target)
        if not wanted or target == folder:
            return
        self._changed()
        self.select(folder)
        if "MOVE" in self.capabilities():
            self._call("move", lambda: self._client.move(wanted, target))
            return
        self._call("copy", lambda: self._client.copy(wanted, target))
        self.expunge(folder, wanted)

    def expunge(self, folder: str, uids: Sequence[int]) -> None:
        """Delete for good: flag \\Deleted and expunge only these UIDs (UIDPLUS)."""
        wanted = check_uids(uids)
        if not wanted:
            return
        self._changed()
        self.select(folder)
        self._call("store", lambda: self._client.add_flags(wanted, [b"\\Deleted"], silent=True))
        if "UIDPLUS" in self.capabilities():
            self._call("expunge", lambda: self._client.uid_expunge(wanted))
        else:
            self._call("expunge", lambda: self._client.expunge())

    def append(self, folder: str, message: bytes, flags: Sequence[str] = (),
               when: datetime | None = None) -> int | None:
        """Append a message; returns its UID when the server says (UIDPLUS APPENDUID)."""
        check_folder(folder)
        self._changed()
        raw_flags = [f.encode("ascii") for f in flags]
        response = self._call("append", lambda: self._client.append(
            folder, message, raw_flags, when))
        text = response.decode("ascii", "replace") if isinstance(response, bytes) else str(
            response)
        # "[APPENDUID <uidvalidity> <uid>] Append completed."
        if "APPENDUID" in text.upper():
            with contextlib.suppress(ValueError, IndexError):
                return int(text.upper().split("APPENDUID", 1)[1].split("]")[0].split()[1])
        return None

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        self.select(folder)
        criteria = ["HEADER", "Message-ID", SearchText(check_search_text(message_id))]
        return sorted(int(u) for u in self._call("search", lambda: self._client.search(
            wire_criteria(criteria), charset=_charset_for(criteria))))

    def fetch_outline(self, folder: str, uid: int,
                      max_parts: int = 300) -> tuple[bytes, dict[str, int]]:
        """The message with the content of every leaf part left out, and each leaf section's
        size in octets as sent (still transfer-encoded).

        The message header, each part's MIME header and the boundaries are the server's own
        bytes (``BODY[HEADER]``, ``BODY[n.MIME]``, ``BODY[n.HEADER]``, BODYSTRUCTURE), so a MIME
        parser finds the same parts under the same section numbers as in the whole message,
        at a few KB whatever its size: for listing the parts of a message too large to fetch.
        Raises ``ImapNotFound`` for a missing message, ``ImapProtocolError`` for a structure
        it cannot rebuild (no boundary, more than ``max_parts`` parts)."""
        (uid,) = check_uids([uid])
        self.select(folder)
        data = self._call("fetch", lambda: self._client.fetch([uid], [b"BODYSTRUCTURE"]))
        body = (data.get(uid) or {}).get(b"BODYSTRUCTURE")
        if body is None:
            raise ImapNotFound(f"message {uid} not found in {folder!r}")
        wanted: list[bytes] = [b"BODY.PEEK[HEADER]"]
        try:
            if _is_message(body):
                wanted.append(b"BODY.PEEK[1.HEADER]")
                _outline_items(body[8], "1", wanted)
            _outline_items(body, "", wanted)
            if len(wanted) > max_parts:
                raise ImapProtocolError(f"message {uid} has too many parts for an outline")
            data = self._call("fetch", lambda: self._client.fetch([uid], wanted))
            items = {k.decode("ascii", "replace").upper(): bytes(v or b"")
                     for k, v in (data.get(uid) or {}).items()
                     if k.upper().startswith(b"BODY[")}
            sizes: dict[str, int] = {}
            text = items.get("BODY[HEADER]", b"") + _outline_body(body, "", items, sizes)
        except (TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ImapProtocolError(f"message {uid}: structure not understood: {exc}") from exc
        return text, sizes

    # --- keeping a cached folder index fresh (webmail.mail.index) ----------------------------

    def uids_from(self, folder: str, first_uid: int,
                  query: SearchQuery | None = None) -> list[int]:
        """UIDs >= ``first_uid`` that exist (and match ``query``), ascending: the messages that
        arrived since a UIDNEXT. Raises ``ImapNotFound``, ``ImapInvalidInput``."""
        self.select(folder)
        first = max(1, int(first_uid))
        criteria = ["UID", f"{first}:*", *(search_criteria(query) if query else [])]
        found = self._call("search", lambda: self._client.search(
            wire_criteria(criteria), charset=_charset_for(criteria)))
        # "n:*" also names the last message when n is above every UID (RFC 3501).
        return sorted(int(u) for u in found if int(u) >= first)

    def sort_subset(self, folder: str, key: SortKey, uids: Sequence[int]) -> list[int]:
        """These UIDs in ascending ``key`` order exactly as ``sorted_uids`` would place them
        among themselves (the server's SORT of just this set, else ``fallback_order``)."""
        wanted = check_uids(uids)
        if not wanted:
            return []
        self.select(folder)
        caps = self.capabilities()
        if "SORT" in caps:
            sort_key = _SORT_CRITERIA[key]
            if "SORT=DISPLAY" in caps:
                sort_key = _DISPLAY_CRITERIA.get(key, sort_key)
            criteria = ["UID", ",".join(str(u) for u in wanted)]
            return [int(u) for u in self._call("sort", lambda: self._client.sort(
                [sort_key], wire_criteria(criteria), charset="UTF-8"))]
        values = (self.fetch_sort_values(folder, key, wanted)
                  if key is not SortKey.DATE else {})
        return fallback_order(wanted, key, False, values)

    def vanished_since(self, folder: str, modseq: int, last_uid: int,
                       limit: int = 50_000) -> set[int] | None:
        """UIDs up to ``last_uid`` expunged since ``modseq`` (QRESYNC ``UID FETCH ...
        (CHANGEDSINCE m VANISHED)``; the server may name more, never fewer). None without
        QRESYNC or when the answer names more than ``limit`` UIDs (re-sorting is cheaper)."""
        if not self._qresync or last_uid < 1:
            return None
        self.select(folder)
        imap = self._client._imap

        def ask() -> list[Any]:
            # imapclient's fetch() cannot take a range with modifiers and drops VANISHED, so
            # this one command goes through its imaplib connection; every part is a number.
            tag = imap._command("UID", "FETCH", f"1:{int(last_uid)}", "(UID)",
                                f"(CHANGEDSINCE {int(modseq)} VANISHED)")
            typ, data = imap._command_complete("FETCH", tag)
            if typ != "OK":
                raise imap_exc.IMAPClientError(f"UID FETCH VANISHED failed: {data!r}")
            imap.untagged_responses.pop("FETCH", None)
            return list(imap.untagged_responses.pop("VANISHED", []))

        gone: set[int] = set()
        for line in self._call("fetch", ask):
            text = (line.decode("ascii", "replace") if isinstance(line, bytes) else str(line))
            text = text.replace("(EARLIER)", "").strip()
            for part in filter(None, text.split(",")):
                low, _sep, high = part.strip().partition(":")
                if not low.isdigit() or (high and not high.isdigit()):
                    return None
                a, b = sorted((int(low), int(high or low)))
                b = min(b, int(last_uid))
                if b - a + 1 + len(gone) > limit:
                    return None
                gone.update(range(a, b + 1))
        return gone

    def refresh_selected(self) -> None:
        """Forget the cached SELECT data so the next call re-selects (after outside changes)."""
        self._changed()
        self._select_info = None
        self._selected = None


def _is_multipart(body: Any) -> bool:
    return isinstance(body, tuple | list) and bool(body) and isinstance(body[0], list | tuple)


def _is_message(body: Any) -> bool:
    """A message/rfc822 part whose BODYSTRUCTURE carries the structure inside it."""
    return (isinstance(body, tuple | list) and len(body) > 8
            and isinstance(body[0], bytes) and body[0].lower() == b"message"
            and isinstance(body[1], bytes) and body[1].lower() == b"rfc822"
            and isinstance(body[8], tuple | list))


def _child(section: str, number: int) -> str:
    return f"{section}.{number}" if section else str(number)


def _outline_items(body: Any, section: str, wanted: list[bytes]) -> None:
    """The FETCH items ``fetch_outline`` needs for the children of ``body`` (at ``section``)."""
    if _is_multipart(body):
        for number, child in enumerate(body[0], 1):
            sub = _child(section, number)
            wanted.append(f"BODY.PEEK[{sub}.MIME]".encode())
            if _is_message(child):
                wanted.append(f"BODY.PEEK[{sub}.HEADER]".encode())
                _outline_items(child[8], sub, wanted)
            elif _is_multipart(child):
                _outline_items(child, sub, wanted)


def _param(params: Any, name: str) -> bytes | None:
    if not isinstance(params, tuple | list):
        return None
    pairs = list(params)
    for key, value in zip(pairs[::2], pairs[1::2], strict=False):
        if isinstance(key, bytes) and key.lower() == name.encode() and isinstance(value, bytes):
            return value
    return None


def _outline_body(body: Any, prefix: str, items: dict[str, bytes],
                  sizes: dict[str, int]) -> bytes:
    """The body of a message (the whole one: ``prefix`` "", or one inside a message/rfc822
    part at ``prefix``): a single part there is section ``<prefix>.1`` (RFC 3501 6.4.5)."""
    if _is_multipart(body):
        return _outline_multipart(body, prefix, items, sizes)
    return _outline_leaf(body, _child(prefix, 1), sizes, items)


def _outline_multipart(body: Any, section: str, items: dict[str, bytes],
                       sizes: dict[str, int]) -> bytes:
    boundary = _param(body[2] if len(body) > 2 else None, "boundary")
    if not boundary:
        raise ImapProtocolError("multipart part without a boundary")
    out = []
    for number, child in enumerate(body[0], 1):
        sub = _child(section, number)
        out += [b"--" + boundary + b"\r\n", items.get(f"BODY[{sub}.MIME]", b"\r\n")]
        if _is_message(child):
            sizes[sub] = int(child[6]) if isinstance(child[6], int) else 0
            out += [items.get(f"BODY[{sub}.HEADER]", b"\r\n"),
                    _outline_body(child[8], sub, items, sizes)]
        elif _is_multipart(child):
            out.append(_outline_multipart(child, sub, items, sizes))
        else:
            out.append(_outline_leaf(child, sub, sizes))
    out.append(b"--" + boundary + b"--\r\n")
    return b"".join(out)


def _outline_leaf(body: Any, section: str, sizes: dict[str, int],
                  items: dict[str, bytes] | None = None) -> bytes:
    sizes[section] = int(body[6]) if len(body) > 6 and isinstance(body[6], int) else 0
    if items is not None and _is_message(body):
        return items.get(f"BODY[{section}.HEADER]", b"\r\n") + _outline_body(
            body[8], section, items, sizes)
    encoding = body[5].lower() if len(body) > 5 and isinstance(body[5], bytes) else b""
    return b"AAAA\r\n" if encoding == b"base64" else b"\r\n"


def sort_value_name(addresses: Sequence[Address]) -> str:
    """What a name column sorts by: the first display name, else its address (RFC 5957)."""
    if not addresses:
        return ""
    first = addresses[0]
    return (first.name or first.email).casefold()


def base_subject(subject: str) -> str:
    """RFC 5256 base subject, simplified: strip Re:/Fwd: prefixes and case."""
    text = subject.strip().casefold()
    changed = True
    while changed:
        changed = False
        for prefix in ("re:", "fwd:", "fw:", "aw:", "wg:"):
            if text.startswith(prefix):
                text = text[len(prefix):].strip()
                changed = True
    return text


def fallback_order(uids: Sequence[int], key: SortKey, reverse: bool,
                   values: dict[int, Any]) -> list[int]:
    """Order for servers without SORT: date is UID (arrival) order, other keys sort on
    ``values`` with ties in UID order; descending is the mirror of ascending."""
    ordered = sorted(uids)
    if key is not SortKey.DATE:
        ordered.sort(key=lambda u: _comparable(values.get(u)))  # stable: ties stay by UID
    return ordered[::-1] if reverse else ordered


def _comparable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, datetime):
        return (1, value.timestamp())
    return (1, value)
