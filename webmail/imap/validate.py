"""Validation of user input that reaches IMAP: folder names, UIDs, search text.

imapclient quotes values itself, so these checks are about clear errors and sane sizes: a
CR, LF or NUL never reaches the wire, and absurd sizes are refused before any I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from webmail.imap.errors import ImapInvalidInput

MAX_FOLDER_LEN = 512
MAX_SEARCH_LEN = 256
MAX_UID = 2**32 - 1
MAX_UIDS_PER_CALL = 5000
_FORBIDDEN = {"\r", "\n", "\x00"}


def check_folder(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ImapInvalidInput("folder name is empty")
    if len(name) > MAX_FOLDER_LEN:
        raise ImapInvalidInput("folder name is too long")
    if any(ch in _FORBIDDEN or (ord(ch) < 32) for ch in name):
        raise ImapInvalidInput("folder name contains control characters")
    if "*" in name or "%" in name:
        raise ImapInvalidInput("folder name contains a wildcard (* or %)")
    return name


def check_uids(uids: Iterable[int] | None) -> list[int]:
    result = []
    for uid in uids or ():
        if isinstance(uid, bool) or not isinstance(uid, int):
            raise ImapInvalidInput(f"not a message id: {uid!r}")
        if not 1 <= uid <= MAX_UID:
            raise ImapInvalidInput(f"message id out of range: {uid}")
        result.append(uid)
    if len(result) > MAX_UIDS_PER_CALL:
        raise ImapInvalidInput("too many messages at once")
    return result


def parse_uid(text: str) -> int:
    """A UID from a URL or form value; ``ImapInvalidInput`` for anything else."""
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise ImapInvalidInput(f"not a message id: {text[:20]!r}")
    (uid,) = check_uids([int(text)])
    return uid


def check_search_text(text: str) -> str:
    if len(text) > MAX_SEARCH_LEN:
        raise ImapInvalidInput("search text is too long")
    if any(ch in _FORBIDDEN for ch in text):
        raise ImapInvalidInput("search text contains line breaks")
    return text.strip()
