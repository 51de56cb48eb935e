"""The real test mail stack as seen by tests: ports, addresses and a few helpers.

The servers are started by ``tests/infra/mailstack.sh start`` (run as root):

- Dovecot IMAP on 127.0.0.1:``IMAP_PORT`` (no TLS, plain LOGIN). Any user name logs in with
  ``PASSWORD``; every address is its own fresh Maildir, so tests use unique addresses made by
  :func:`new_address` and never share a mailbox.
- Dovecot LMTP on ``LMTP_PORT``; Postfix SMTP on ``SMTP_PORT`` (no auth, trusts 127.0.0.0/8) and
  submission on ``SUBMISSION_PORT`` (SASL AUTH required, same static password).
- ``DOMAIN`` users ``alice``, ``bob``, ``carol``, ``mallory``, ``bench``, ``postmaster`` and any
  ``t-<letters/digits/dashes>`` are deliverable; other users of ``DOMAIN`` are refused at RCPT
  with 550 5.1.1.
- Mail for ``REMOTE_DOMAIN`` is relayed to 127.0.0.1:``REMOTE_PORT``, an SMTP server the tests run
  themselves with :func:`remote_smtp_server`. Postfix keeps retrying mail it could not hand over
  (every 2-10 s), so a handler may also see leftovers of earlier tests: match on your own
  recipients or Message-ID.

Only the standard library and aiosmtpd are used here, never the project's own code.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import fcntl
import imaplib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

IMAP_PORT = 10143
LMTP_PORT = 10024
AUTH_PORT = 10044
SMTP_PORT = 10025
SUBMISSION_PORT = 10587
REMOTE_PORT = 10026
HOST = "127.0.0.1"
PASSWORD = "secret"
DOMAIN = "example.test"
REMOTE_DOMAIN = "remote.test"

STATE_DIR = Path("/var/lib/webmail-mailstack")
MAIL_ROOT = STATE_DIR / "mail"
LOG_DIR = STATE_DIR / "log"
REMOTE_LOCK_PATH = f"/tmp/webmail-remote-{REMOTE_PORT}.lock"
START_HINT = (
    "start it as root with: bash tests/infra/mailstack.sh install && "
    "bash tests/infra/mailstack.sh start"
)


def new_address(prefix: str = "t") -> str:
    """Return a fresh, unique address ``<prefix>-<hex8>@example.test``.

    Postfix accepts mail only for prefixes that start with ``t`` followed by ``-`` (or exactly
    ``t``), e.g. ``"t"`` or ``"t-alice"``; IMAP login works for any prefix.

    Raises:
        ValueError: if ``prefix`` is empty or holds characters other than ASCII letters, digits
            and dashes.
    """
    if not prefix or not all(c.isascii() and (c.isalnum() or c == "-") for c in prefix):
        raise ValueError(f"address prefix must be ASCII letters, digits or dashes: {prefix!r}")
    return f"{prefix.lower()}-{uuid.uuid4().hex[:8]}@{DOMAIN}"


def maildir_path(address: str, folder: str = "INBOX") -> Path:
    """Return the Maildir (the directory holding ``cur/``, ``new/``, ``tmp/``) of a folder.

    Layout: ``/var/lib/webmail-mailstack/mail/<domain>/<user>/Maildir/<folder>/.maildir`` with
    ``/`` as the hierarchy separator (``INBOX`` is a folder like the others). Benchmarks may
    write message files there directly (into ``new/``, then let Dovecot index them); the
    directories belong to the ``vmail`` user and exist once Dovecot has opened the folder.

    Raises:
        ValueError: if ``address`` has no ``@`` or ``folder`` would leave the mailbox.
    """
    user, sep, domain = address.lower().rpartition("@")
    parts = folder.split("/")
    if not sep or not user or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad address or folder: {address!r}, {folder!r}")
    return MAIL_ROOT.joinpath(domain, user, "Maildir", *parts, ".maildir")


def _greeting(port: int, timeout: float = 3.0) -> bytes:
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        data = b""
        while b"\n" not in data:
            chunk = sock.recv(512)
            if not chunk:
                break
            data += chunk
        return data


def require_up() -> None:
    """Check that Dovecot (IMAP, LMTP) and Postfix (SMTP, submission) answer on 127.0.0.1.

    Raises:
        RuntimeError: naming every server that does not answer with its greeting, and how to
            start the stack. Tests must fail, never skip, when the stack is down.
    """
    expected = {
        "Dovecot IMAP": (IMAP_PORT, b"* OK"),
        "Dovecot LMTP": (LMTP_PORT, b"220"),
        "Postfix SMTP": (SMTP_PORT, b"220"),
        "Postfix submission": (SUBMISSION_PORT, b"220"),
    }
    problems = []
    for name, (port, prefix) in expected.items():
        try:
            greeting = _greeting(port)
        except OSError as exc:
            problems.append(f"{name} on {HOST}:{port}: {exc}")
            continue
        if not greeting.startswith(prefix):
            problems.append(f"{name} on {HOST}:{port}: unexpected greeting {greeting[:80]!r}")
    if problems:
        raise RuntimeError(
            "the test mail stack is not running (" + "; ".join(problems) + "); " + START_HINT
        )


def imap_login(address: str, password: str = PASSWORD, timeout: float = 10.0) -> imaplib.IMAP4:
    """Open a plain imaplib connection to the test Dovecot, logged in as ``address``.

    Raises:
        OSError: if Dovecot does not answer.
        imaplib.IMAP4.error: if the login is refused.
    """
    conn = imaplib.IMAP4(HOST, IMAP_PORT, timeout=timeout)
    try:
        conn.login(address, password)
    except BaseException:
        with contextlib.suppress(Exception):
            conn.shutdown()
        raise
    return conn


def quote_mailbox(name: str) -> str:
    """Quote a mailbox name for imaplib (ASCII names only)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def fetch_messages(address: str, folder: str = "INBOX") -> list[EmailMessage]:
    """Return every message of ``address``'s ``folder``, oldest UID first (read-only).

    Raises:
        OSError: if Dovecot does not answer.
        imaplib.IMAP4.error: if the login or the SELECT is refused.
    """
    conn = imap_login(address)
    try:
        return [message for _uid, message in _fetch_since(conn, folder, 0)]
    finally:
        with contextlib.suppress(Exception):
            conn.logout()


def _fetch_since(conn: imaplib.IMAP4, folder: str, last_uid: int) -> list[tuple[int, EmailMessage]]:
    for _attempt in range(20):
        typ, data = conn.select(quote_mailbox(folder), readonly=True)
        # A fresh user's INBOX is created on first use; when LMTP delivers at that moment,
        # Dovecot's autocreate race answers NO [ALREADYEXISTS] once. Ask again.
        if typ == "OK" or b"ALREADYEXISTS" not in b" ".join(
                d for d in data if isinstance(d, bytes)):
            break
        time.sleep(0.05)
    if typ != "OK":
        raise imaplib.IMAP4.error(f"SELECT {folder} failed: {data!r}")
    typ, data = conn.uid("SEARCH", f"UID {last_uid + 1}:*")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID SEARCH failed: {data!r}")
    # "n:*" always matches the highest UID, even when it is below n.
    uids = sorted(u for u in (int(x) for x in (data[0] or b"").split()) if u > last_uid)
    found: list[tuple[int, EmailMessage]] = []
    for uid in uids:
        typ, fetched = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH {uid} failed: {fetched!r}")
        for item in fetched:
            if isinstance(item, tuple):
                found.append((uid, _parse(item[1])))
                break
    return found


def wait_for_message(
    address: str,
    predicate: Callable[[EmailMessage], bool] = lambda message: True,
    timeout: float = 30.0,
    folder: str = "INBOX",
    interval: float = 0.25,
) -> EmailMessage:
    """Poll ``address``'s ``folder`` until a message satisfies ``predicate``; return it.

    Each message is parsed with ``email.policy.default`` and tested once (oldest first); the
    first match is returned. The mailbox is opened read-only, so \\Seen is not set.

    Raises:
        TimeoutError: if no matching message arrives within ``timeout`` seconds; the message
            lists the subjects that did arrive.
        OSError: if Dovecot does not answer.
        imaplib.IMAP4.error: if the login is refused.
    """
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    last_uid = 0
    reconnects = 0
    conn = imap_login(address)
    try:
        while True:
            try:
                arrived = _fetch_since(conn, folder, last_uid)
            except imaplib.IMAP4.abort:
                # The session's server process went away. Dovecot 2.3 panics (and its master
                # restarts the process) when a SELECT creating a fresh user's INBOX and an LMTP
                # delivery creating it too lock its list index in opposite orders (fcntl says
                # EDEADLK). A client logs in again; so does this poller, a few times.
                reconnects += 1
                if reconnects > 3:
                    raise
                with contextlib.suppress(Exception):
                    conn.shutdown()
                time.sleep(interval)
                conn = imap_login(address)
                continue
            for uid, message in arrived:
                last_uid = max(last_uid, uid)
                if predicate(message):
                    return message
                seen.append(str(message.get("Subject", "(no subject)")))
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"no matching message for {address} in {folder} within {timeout}s; "
                    f"{len(seen)} other message(s) arrived: {seen[:20]!r}"
                )
            time.sleep(interval)
    finally:
        with contextlib.suppress(Exception):
            conn.logout()


class RecordingHandler:
    """An aiosmtpd handler that records what Postfix relays and can refuse recipients.

    ``rcpt_reply(address)`` returns an SMTP reply such as ``"550 5.1.1 No such user"`` to refuse
    that recipient, or ``None`` to accept it. ``envelopes`` holds every accepted transaction
    (aiosmtpd ``Envelope`` objects) and ``refused`` every refused recipient address.
    """

    def __init__(self, rcpt_reply: Callable[[str], str | None] | None = None) -> None:
        self.rcpt_reply = rcpt_reply
        self.envelopes: list[Any] = []
        self.refused: list[str] = []

    async def handle_RCPT(  # aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.rcpt_reply(address) if self.rcpt_reply else None
        if reply is not None:
            self.refused.append(address)
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(  # aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 OK: queued"

    def messages(self) -> list[EmailMessage]:
        """Return the accepted messages parsed with ``email.policy.default``."""
        return [_parse(bytes(env.original_content or env.content)) for env in self.envelopes]


@contextlib.contextmanager
def remote_smtp_server(
    handler: object, port: int = REMOTE_PORT, lock_timeout: float = 120.0
) -> Iterator[Any]:
    """Run an aiosmtpd server on 127.0.0.1:``port`` (the remote.test relay) while in the block.

    Only one test at a time, across pytest-xdist workers, may own the port: an exclusive
    ``fcntl`` lock on ``/tmp/webmail-remote-<port>.lock`` is held for the whole block. Yields
    the running ``aiosmtpd.controller.Controller``.

    Raises:
        TimeoutError: if another process holds the lock for longer than ``lock_timeout`` seconds.
        OSError: if the port cannot be bound (something else listens there).
    """
    from aiosmtpd.controller import Controller

    lock_path = f"/tmp/webmail-remote-{port}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"{lock_path} stayed locked for {lock_timeout}s (another test holds "
                        f"port {port})"
                    ) from None
                time.sleep(0.1)
        controller = Controller(
            handler,
            hostname=HOST,
            port=port,
            ready_timeout=10.0,
            enable_SMTPUTF8=True,
            data_size_limit=64 * 1024 * 1024,
        )
        controller.start()
        try:
            yield controller
        finally:
            controller.stop()
    finally:
        os.close(fd)  # releases the lock
