"""A scriptable loopback SMTP server (aiosmtpd) for fault injection in outbox tests.

It speaks the DSN extension (RFC 3461) so the tests can see ENVID/RET/NOTIFY/ORCPT, answers
each recipient as scripted, can be slow on DATA, can drop the connection after the payload,
and can be stopped and started again on the same port ("down, then back").
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

_DSN_MAIL = ("ENVID=", "RET=")
_DSN_RCPT = ("NOTIFY=", "ORCPT=")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.lru_cache(maxsize=1)
def _certificate() -> tuple[str, str]:
    """A self-signed certificate for mx.scripted.test, made once per test process."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.scripted.test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
            .sign(key, hashes.SHA256()))
    folder = Path(tempfile.mkdtemp(prefix="scripted-tls-"))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(folder / "cert.pem"), str(folder / "key.pem")


def server_tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_certificate())
    return context


def _split(arg: str | None, prefixes: tuple[str, ...]) -> tuple[str | None, list[str]]:
    if not arg:
        return arg, []
    kept: list[str] = []
    taken: list[str] = []
    for word in arg.split(" "):
        (taken if word.upper().startswith(prefixes) else kept).append(word)
    return " ".join(kept), taken


class DsnSMTP(SMTP):
    """aiosmtpd's SMTP with DSN parameters accepted and recorded (aiosmtpd refuses them)."""

    async def smtp_MAIL(self, arg: str | None) -> None:
        arg, dsn = _split(arg, _DSN_MAIL)
        await super().smtp_MAIL(arg)
        if self.envelope is not None and self.envelope.mail_from is not None:
            self.envelope.mail_options.extend(dsn)

    async def smtp_RCPT(self, arg: str | None) -> None:
        arg, dsn = _split(arg, _DSN_RCPT)
        before = len(self.envelope.rcpt_tos) if self.envelope is not None else 0
        await super().smtp_RCPT(arg)
        if self.envelope is not None and len(self.envelope.rcpt_tos) > before:
            self.envelope.rcpt_options.append((self.envelope.rcpt_tos[-1], dsn))  # type: ignore[arg-type]


@dataclass
class Transaction:
    mail_from: str
    mail_options: list[str]
    rcpt_tos: list[str]
    rcpt_options: list[Any]
    content: bytes

    @property
    def message_id(self) -> str:
        msg = email.message_from_bytes(self.content, policy=email.policy.default)
        return str(msg.get("Message-ID", ""))


@dataclass
class Script:
    """What the server answers. Change it between attempts."""

    rcpt: Callable[[str], str | None] = lambda address: None  # None -> 250
    data_reply: str = "250 2.0.0 Ok: queued"
    data_delay: float = 0.0
    rcpt_delay: float = 0.0
    drop_after_data: bool = False
    dsn: bool = True
    auth: tuple[str, str] | None = None  # (user, password) required when set
    tls: str = "none"  # "starttls" offers STARTTLS; "ssl" is TLS from the first byte


@dataclass
class Handler:
    script: Script = field(default_factory=Script)
    transactions: list[Transaction] = field(default_factory=list)
    rcpt_seen: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    data_started: threading.Event = field(default_factory=threading.Event)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.script.dsn:
            responses.insert(len(responses) - 1, "250-DSN")
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,
                          address: str, rcpt_options: list[str]) -> str:
        self.rcpt_seen.append(address)
        if self.script.rcpt_delay:
            await asyncio.sleep(self.script.rcpt_delay)
        reply = self.script.rcpt(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_started.set()
        self.transactions.append(Transaction(
            envelope.mail_from, list(envelope.mail_options), list(envelope.rcpt_tos),
            list(envelope.rcpt_options), bytes(envelope.original_content or envelope.content)))
        if self.script.data_delay:
            await asyncio.sleep(self.script.data_delay)
        if self.script.drop_after_data:
            server.transport.close()
        return self.script.data_reply

    def count(self, message_id: str) -> int:
        """How many times a message with this Message-ID was taken (DATA completed)."""
        return sum(1 for t in self.transactions if t.message_id == message_id)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return DsnSMTP(self.handler, **self.SMTP_kwargs)


class ScriptedServer:
    """Start/stop an aiosmtpd server on a fixed loopback port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = Handler()
        self._controller: Controller | None = None

    @property
    def script(self) -> Script:
        return self.handler.script

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        wanted = self.script.auth
        if wanted and isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            password = auth_data.password.decode()
            if (login, password) == wanted:
                self.handler.logins.append(login)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> ScriptedServer:
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": True}
        if self.script.auth:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self.script.tls == "starttls":
            kwargs["tls_context"] = server_tls_context()
        elif self.script.tls == "ssl":
            kwargs["ssl_context"] = server_tls_context()
        self._controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                       server_hostname="mx.scripted.test", ready_timeout=10,
                                       **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
