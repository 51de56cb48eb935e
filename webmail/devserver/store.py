"""The pymap maildir backend of the development mail server, and in-process access to it.

Everything that writes mail goes through pymap's own session API (the same code an IMAP
APPEND runs), so UIDs, the ``dovecot-uidlist`` files and the flags stay consistent with what
the IMAP server shows, even while it runs. Users live in ``pymap-etc-passwd`` and
``pymap-etc-shadow`` in the base directory with PBKDF2 password hashes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Awaitable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from pymap import context as pymap_context
from pymap.backend.maildir import Config, Identity, Login, MaildirBackend
from pymap.backend.maildir.users import PasswordsFile, UsersFile
from pymap.exceptions import MailboxConflict
from pymap.imap import IMAPService
from pymap.parsing.message import AppendMessage
from pymap.parsing.specials.flag import Flag
from pysasl.hashing import BuiltinHash

__all__ = ["DELIMITER", "MailStore", "StoredMessage", "hash_password"]

T = TypeVar("T")

#: The hierarchy delimiter pymap's maildir backend uses ("Projects/Webmail").
DELIMITER = "/"
# PBKDF2 rounds: a real hash, but cheap enough that a demo sign-in stays instant.
_HASH_ROUNDS = 60_000
_HOSTNAME = "devmail.example.test"


def hash_password(password: str) -> str:
    """A pysasl PBKDF2-SHA256 hash in passlib's format, as pymap verifies it."""
    return BuiltinHash(rounds=_HASH_ROUNDS).hash(password)


@dataclass(frozen=True)
class StoredMessage:
    """One message to append: raw bytes (CRLF), IMAP flags, INTERNALDATE."""

    data: bytes
    flags: Sequence[str] = ()
    when: datetime | None = None
    folder: str = "INBOX"


class MailStore:
    """The pymap maildir backend rooted at ``base_dir``; also serves IMAP when asked.

    Must be created and used inside one running asyncio event loop.
    """

    def __init__(self, base_dir: Path, *, host: str = "127.0.0.1", imap_port: int = 1143) -> None:
        self.base_dir = base_dir
        (base_dir / "maildirs").mkdir(parents=True, exist_ok=True)
        # pymap writes its index files to a temporary file and renames it into place:
        # keep the temporary files on the same filesystem (a /tmp on tmpfs would break it).
        if os.stat(base_dir).st_dev != os.stat(tempfile.gettempdir()).st_dev:
            tmp = base_dir / "tmp"
            tmp.mkdir(exist_ok=True)
            tempfile.tempdir = str(tmp)  # process-wide: fine for the server process
        os.environ.setdefault("FQDN", _HOSTNAME)  # pymap's greeting; avoids a DNS lookup
        args = argparse.Namespace(
            host=host, port=imap_port, debug=False, cert=None, key=None, tls=False,
            passlib_cfg=None, proxy_protocol=None, inherited_sockets=None,
            base_dir=str(base_dir), concurrency=None, layout="++", colon=None,
        )
        self.config = Config.from_args(args, hash_context=BuiltinHash(), invalid_user_sleep=0.2)
        self.backend = MaildirBackend(Login(self.config), self.config)
        self.config.apply_context()

    async def _run(self, coro: Awaitable[T]) -> T:
        # pymap's maildir backend does its file I/O in a thread pool (its "subsystem").
        pymap_context.subsystem.set(self.config.subsystem)
        return await self.config.subsystem.execute(coro)

    async def serve_imap(self, stack: AsyncExitStack) -> None:
        """Start the IMAP listener; it stops when ``stack`` closes.

        Raises:
            OSError: the port could not be bound (``errno.EADDRINUSE`` when it is taken).
        """
        await IMAPService(self.backend, self.config).start(stack)

    async def users(self) -> frozenset[str]:
        """The user names (lower-case addresses) pymap knows."""

        async def read() -> frozenset[str]:
            async with UsersFile.with_read(str(self.base_dir)) as users_file:
                return frozenset(rec.name.lower() for rec in users_file.get_all())

        return await self._run(read())

    async def add_user(self, address: str, password: str) -> bool:
        """Create the user if missing (its Maildir lives in ``maildirs/<address>``).

        Returns True when the user was created, False when it already existed.
        """
        name = address.lower()

        async def write() -> bool:
            base = str(self.base_dir)
            async with UsersFile.with_write(base) as users_file, \
                    PasswordsFile.with_write(base) as passwords_file:
                if users_file.has(name):
                    return False
                users_file.set(users_file.build_record(name, f"maildirs/{name}"))
                passwords_file.set(passwords_file.build_record(name, hash_password(password)))
                return True

        return await self._run(write())

    def maildir_path(self, address: str) -> Path:
        return self.base_dir / "maildirs" / address.lower()

    def _identity(self, address: str) -> Identity:
        return Identity(self.config, self.backend.login.tokens, address.lower(), None, frozenset())

    async def create_folders(self, address: str, names: Iterable[str]) -> None:
        """Create (and subscribe) folders, parents first; existing ones are left alone."""

        async def create() -> None:
            async with self._identity(address).new_session() as session:
                for name in names:
                    try:
                        await session.create_mailbox(name)
                    except (MailboxConflict, KeyError):  # pymap: KeyError when it exists
                        pass
                    await session.subscribe(name)

        await self._run(create())

    async def append(self, address: str, messages: Sequence[StoredMessage]) -> list[int]:
        """Append messages, in order, as the user; returns the UIDs given.

        Raises:
            pymap.exceptions.UserNotFound: no such user.
            pymap.exceptions.MailboxNotFound: a folder does not exist.
        """

        async def append_all() -> list[int]:
            uids: list[int] = []
            async with self._identity(address).new_session() as session:
                for msg in messages:
                    flags = frozenset(Flag(f.encode("ascii")) for f in msg.flags)
                    append_uid, _ = await session.append_messages(
                        msg.folder, [AppendMessage(msg.data, msg.when, flags)]
                    )
                    uids.extend(append_uid.uids)
            return uids

        return await self._run(append_all())
