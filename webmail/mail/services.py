"""Writes on the user's mail: flags, moves, deletes, folders.

Services take the store and typed, keyword-only arguments (never the request). They raise what
the store raises, and ``MailActionError`` for a request that makes no sense (moving a message
into the folder it is in, deleting INBOX).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.translation import gettext as _

from webmail.imap.gateway import MailStore
from webmail.imap.validate import check_folder, check_uids
from webmail.mail.index import IndexKey, index_remove


class MailActionError(Exception):
    """An action the user asked for that cannot be done; the text is shown to them."""


class FlagAction(enum.StrEnum):
    READ = "read"
    UNREAD = "unread"
    FLAG = "flag"
    UNFLAG = "unflag"


_FLAG_CHANGES = {
    FlagAction.READ: ("\\Seen", True),
    FlagAction.UNREAD: ("\\Seen", False),
    FlagAction.FLAG: ("\\Flagged", True),
    FlagAction.UNFLAG: ("\\Flagged", False),
}


def message_flag(store: MailStore, *, folder: str, uids: Sequence[int],
                 action: FlagAction) -> None:
    """Mark messages read/unread or flag/unflag them. The folder index is not touched: its
    order never depends on flags."""
    flag, add = _FLAG_CHANGES[action]
    store.set_flags(folder, check_uids(uids), [flag], add=add)


def _removing(store: MailStore, folder: str, uids: Sequence[int],
              index_key: IndexKey | None, change: str, target: str | None = None) -> None:
    wanted = sorted(set(check_uids(uids)))
    if not wanted:
        return
    before = store.folder_status(folder)
    if change == "move":
        assert target is not None
        store.move(folder, wanted, target)
    else:
        store.expunge(folder, wanted)
    if index_key is not None:
        after = store.folder_status(folder)
        index_remove(index_key, before, after, wanted)


def message_move(store: MailStore, *, folder: str, uids: Sequence[int], target: str,
                 index_key: IndexKey | None = None) -> None:
    """Move messages to ``target``; ``index_key`` names the cached list to patch.

    Raises ``MailActionError`` when ``target`` is the folder itself, ``ImapNotFound`` when it
    does not exist."""
    check_folder(target)
    if target == folder:
        raise MailActionError(_("The messages are already in that folder."))
    _removing(store, folder, uids, index_key, "move", target)


@dataclass(frozen=True)
class DeleteOutcome:
    moved_to: str | None  # the Trash folder, or None when deleting for good needs a yes
    count: int


def message_delete(store: MailStore, *, folder: str, uids: Sequence[int], trash: str | None,
                   index_key: IndexKey | None = None) -> DeleteOutcome:
    """Delete = move to Trash. In Trash itself (or without a Trash folder) nothing happens
    here: the caller asks for confirmation and then calls ``message_expunge``."""
    wanted = check_uids(uids)
    if trash is None or trash == folder:
        return DeleteOutcome(moved_to=None, count=len(wanted))
    _removing(store, folder, wanted, index_key, "move", trash)
    return DeleteOutcome(moved_to=trash, count=len(wanted))


def message_expunge(store: MailStore, *, folder: str, uids: Sequence[int],
                    index_key: IndexKey | None = None) -> None:
    """Delete for good (after the user confirmed it)."""
    _removing(store, folder, uids, index_key, "expunge")


def folder_create(store: MailStore, *, name: str) -> str:
    """Create a folder; returns its name. ``ImapInvalidInput`` for an unusable name,
    ``ImapProtocolError`` when it exists."""
    check_folder(name)
    store.create_folder(name)
    return name


def folder_rename(store: MailStore, *, folder: str, new_name: str, protected: set[str]) -> str:
    """Rename a folder (its sub-folders move with it). ``protected`` are the special folders,
    which keep their names."""
    check_folder(new_name)
    if folder in protected or folder.upper() == "INBOX":
        raise MailActionError(_("This folder cannot be renamed."))
    if new_name == folder:
        return folder
    store.rename_folder(folder, new_name)
    return new_name


def folder_delete(store: MailStore, *, folder: str, protected: set[str]) -> None:
    """Delete a folder and the messages in it (after the user confirmed it)."""
    if folder in protected or folder.upper() == "INBOX":
        raise MailActionError(_("This folder cannot be deleted."))
    store.delete_folder(folder)
