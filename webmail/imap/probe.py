"""Checking an IMAP server without a user's session: for the admin's "test connection".

Runs the steps a sign-in would, one at a time, and reports each: TCP connect, the greeting,
TLS (implicit or STARTTLS), CAPABILITY, and LOGIN only when a test credential is given. Every
error becomes a failed step with a readable detail; nothing is raised.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from dataclasses import dataclass, field

import imapclient
from imapclient import exceptions as imap_exc

from webmail.imap.types import Credentials, Security, ServerAddress

OK = "ok"
WARNING = "warning"
FAILED = "failed"
SKIPPED = "skipped"

# What the webmail uses when offered (the page still works without them).
USEFUL_CAPABILITIES = ("IDLE", "SORT", "SORT=DISPLAY", "CONDSTORE", "QRESYNC", "SPECIAL-USE",
                       "MOVE", "UIDPLUS", "LIST-STATUS", "ESEARCH", "ENABLE")


@dataclass(frozen=True)
class ProbeStep:
    name: str
    status: str  # ok, warning, failed, skipped
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (OK, WARNING, SKIPPED)


@dataclass(frozen=True)
class ProbeReport:
    server: str  # "host:port (security)"
    steps: tuple[ProbeStep, ...] = field(default_factory=tuple)
    capabilities: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def checked(self) -> bool:
        """False when every step was skipped (nothing was actually tried)."""
        return any(step.status != SKIPPED for step in self.steps)


def _context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted: {exc.verify_message or exc}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer before the timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, socket.gaierror):
        return f"host name not found ({exc.strerror or exc})"
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _ms(start: float) -> str:
    return f"{(time.monotonic() - start) * 1000:.0f} ms"


def probe_imap(server: ServerAddress, credentials: Credentials | None = None) -> ProbeReport:
    """Check ``server`` step by step; logs in only when ``credentials`` are given."""
    label = f"{server.host}:{server.port} ({server.security.value})"
    steps: list[ProbeStep] = []
    caps: tuple[str, ...] = ()

    def done() -> ProbeReport:
        return ProbeReport(label, tuple(steps), caps)

    start = time.monotonic()
    try:
        with socket.create_connection((server.host, server.port),
                                      timeout=min(server.timeout, 10.0)):
            pass
    except OSError as exc:
        steps.append(ProbeStep("TCP connect", FAILED, _describe(exc)))
        return done()
    steps.append(ProbeStep("TCP connect", OK, f"connected in {_ms(start)}"))

    client: imapclient.IMAPClient | None = None
    start = time.monotonic()
    try:
        try:
            client = imapclient.IMAPClient(
                server.host, port=server.port, ssl=server.security is Security.SSL,
                ssl_context=_context(server.verify_tls),
                timeout=imapclient.SocketTimeout(connect=min(server.timeout, 10.0),
                                                 read=server.timeout))
        except (OSError, EOFError, imap_exc.IMAPClientError) as exc:
            if server.security is Security.SSL:
                steps.append(ProbeStep("TLS (implicit)", FAILED, _describe(exc)))
            else:
                steps.append(ProbeStep("greeting", FAILED, _describe(exc)))
            return done()
        if server.security is Security.SSL:
            steps.append(ProbeStep("TLS (implicit)", OK,
                                   "certificate verified" if server.verify_tls
                                   else "certificate NOT verified (WEBMAIL_TLS_VERIFY off)"))
        welcome = client.welcome
        greeting = welcome.decode("utf-8", "replace") if isinstance(welcome, bytes) \
            else str(welcome)
        steps.append(ProbeStep("greeting", OK, f"{greeting[:200]} ({_ms(start)})"))

        if server.security is Security.STARTTLS:
            try:
                client.starttls(_context(server.verify_tls))
            except (OSError, EOFError, imap_exc.IMAPClientError) as exc:
                steps.append(ProbeStep("STARTTLS", FAILED, _describe(exc)))
                return done()
            steps.append(ProbeStep("STARTTLS", OK,
                                   "certificate verified" if server.verify_tls
                                   else "certificate NOT verified (WEBMAIL_TLS_VERIFY off)"))

        try:
            raw_caps = client.capabilities()
        except (OSError, EOFError, imap_exc.IMAPClientError) as exc:
            steps.append(ProbeStep("CAPABILITY", FAILED, _describe(exc)))
            return done()
        caps = tuple(c.decode("ascii", "replace").upper() if isinstance(c, bytes)
                     else str(c).upper() for c in raw_caps)
        if "IMAP4REV1" not in caps and "IMAP4REV2" not in caps:
            steps.append(ProbeStep("CAPABILITY", FAILED,
                                   "the server does not speak IMAP4rev1: " + " ".join(caps)))
            return done()
        useful = [c for c in USEFUL_CAPABILITIES if c in caps]
        missing = [c for c in ("SORT", "SPECIAL-USE", "MOVE", "UIDPLUS") if c not in caps]
        detail = " ".join(caps)
        if useful:
            detail += " | used by the webmail: " + ", ".join(useful)
        if missing:
            detail += " | missing (slower fallbacks): " + ", ".join(missing)
        steps.append(ProbeStep("CAPABILITY", OK, detail))
        if "LOGINDISABLED" in caps:
            steps.append(ProbeStep("plain LOGIN", FAILED,
                                   "the server refuses LOGIN on this connection "
                                   "(LOGINDISABLED): use STARTTLS or TLS"))
            return done()
        if server.security is Security.NONE and server.host not in ("127.0.0.1", "::1",
                                                                    "localhost"):
            steps.append(ProbeStep("security", WARNING,
                                   "passwords cross the network unencrypted"))

        if credentials is None:
            steps.append(ProbeStep("LOGIN", SKIPPED, "no test credential given"))
            return done()
        start = time.monotonic()
        try:
            client.login(credentials.username, credentials.password)
        except imap_exc.LoginError:
            steps.append(ProbeStep("LOGIN", FAILED, "the server refused the test credential"))
            return done()
        except (OSError, EOFError, imap_exc.IMAPClientError) as exc:
            steps.append(ProbeStep("LOGIN", FAILED, _describe(exc)))
            return done()
        steps.append(ProbeStep("LOGIN", OK, f"signed in as {credentials.username} "
                                            f"({_ms(start)})"))
        return done()
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()
            with contextlib.suppress(Exception):
                client.shutdown()
