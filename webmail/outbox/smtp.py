"""SMTP submission: the only importer of smtplib.

``submit`` runs one SMTP session for one message and never raises for anything the network or
the server does: every outcome becomes a ``SubmitResult`` with one ``RecipientResult`` per
recipient, classified as

- ``accepted``  the server took responsibility (2xx after DATA);
- ``transient`` a 4xx reply, or the connection failed before the message was transmitted, so
  a later retry cannot duplicate it;
- ``permanent`` a 5xx reply (the server's code and words are kept);
- ``unknown``   the connection was lost after the payload went out and before the final
  reply: the server may or may not have queued the message, so it is never retried blindly.

``sendmail`` would hide which recipient got which reply and when the connection broke, so the
low-level ``mail``/``rcpt`` calls are used, and DATA is split into its command (``docmd``), the
payload (``send``) and the final reply (``getreply``): that split is what tells "lost before
the payload" (safe to retry) from "lost after it" (unknown).
"""

from __future__ import annotations

import enum
import functools
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from webmail.imap.types import Credentials, Security, ServerAddress

__all__ = ["Envelope", "Outcome", "RecipientResult", "SubmitResult", "Transport", "submit",
           "xtext"]

_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"


class Stage(enum.StrEnum):
    CONNECT = "connect"
    ENVELOPE = "envelope"
    DATA = "data"
    DONE = "done"


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipients: tuple[str, ...]
    envid: str = ""  # RFC 3461 ENVID, sent when the server offers DSN


@dataclass(frozen=True)
class RecipientResult:
    address: str
    outcome: Outcome
    code: int | None = None
    enhanced: str = ""
    text: str = ""


@dataclass(frozen=True)
class SubmitResult:
    recipients: tuple[RecipientResult, ...]
    stage: Stage
    server: str = ""  # the name the server gave in its greeting
    code: int | None = None  # the session-level reply (MAIL, DATA) when there was one
    detail: str = ""  # the session-level words or the network error
    dsn: bool = False  # whether DSN parameters were sent
    aborted: bool = False  # ``before_data`` said no: nothing was transmitted

    def by_address(self) -> dict[str, RecipientResult]:
        return {r.address: r for r in self.recipients}


class Transport(Protocol):
    """What the delivery service calls; ``submit`` is the real one, tests may pass a fake."""

    def __call__(self, server: ServerAddress, envelope: Envelope, raw: bytes, *,
                 credentials: Credentials | None = None,
                 before_data: Callable[[], bool] | None = None) -> SubmitResult: ...


def xtext(value: str) -> str:
    """RFC 3461 xtext: ``+`` and ``=``, controls, space and non-ASCII become ``+XX``."""
    return "".join(
        ch if "!" <= ch <= "~" and ch not in "+=" else "".join(f"+{b:02X}" for b in ch.encode())
        for ch in value
    )


def _words(message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _enhanced(text: str) -> str:
    match = _ENHANCED.match(text)
    return match.group(1) if match else ""


def _classify(code: int) -> Outcome:
    if 200 <= code < 300:
        return Outcome.ACCEPTED
    if 500 <= code < 600:
        return Outcome.PERMANENT
    return Outcome.TRANSIENT  # 4xx and anything odd: try again later


def _payload(raw: bytes) -> bytes:
    """CRLF line ends, dot-stuffed (RFC 5321 4.5.2), with the end-of-data line."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


@functools.lru_cache(maxsize=2)
def _ssl_context(verify: bool) -> ssl.SSLContext:
    # Loading the CA store costs tens of milliseconds: once per process, not per message.
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _SessionError(Exception):
    """A reply or failure that decides every still-open recipient at once."""

    def __init__(self, outcome: Outcome, detail: str, code: int | None = None,
                 words: str = "") -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail
        self.code = code
        self.words = words or detail  # what a recipient's diagnostic shows


@dataclass
class _Session:
    envelope: Envelope
    results: dict[str, RecipientResult] = field(default_factory=dict)
    stage: Stage = Stage.CONNECT
    server: str = ""
    dsn: bool = False

    def decide_open(self, outcome: Outcome, detail: str, code: int | None) -> None:
        """Give every recipient without a final result this outcome."""
        for address in self.envelope.recipients:
            current = self.results.get(address)
            if current is None or current.outcome is Outcome.ACCEPTED:
                self.results[address] = RecipientResult(address, outcome, code,
                                                        _enhanced(detail), detail)

    def result(self, code: int | None = None, detail: str = "",
               aborted: bool = False) -> SubmitResult:
        ordered = tuple(self.results[a] for a in self.envelope.recipients)
        return SubmitResult(ordered, self.stage, self.server, code, detail, self.dsn, aborted)


def _open(server: ServerAddress) -> tuple[smtplib.SMTP, str]:
    """Connect, greet, EHLO (and STARTTLS); returns the client and the server's name.

    The host goes to the constructor: smtplib takes the TLS server name (SNI and the
    certificate check) from there. A refusing greeting raises ``SMTPConnectError``.
    """
    client: smtplib.SMTP
    try:
        if server.security is Security.SSL:
            client = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout,
                                      context=_ssl_context(server.verify_tls))
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    except smtplib.SMTPConnectError as exc:
        words = _words(exc.smtp_error)
        raise _SessionError(Outcome.TRANSIENT, f"{exc.smtp_code} {words}", exc.smtp_code,
                            words) from exc
    try:
        code, reply = client.ehlo()
        if code != 250:
            code, reply = client.helo()
            if code != 250:
                raise _SessionError(Outcome.TRANSIENT, f"EHLO/HELO: {code} {_words(reply)}",
                                    code, _words(reply))
        # The first word of the EHLO reply is the server's name ("said mx.example").
        name = _words(reply).split(" ", 1)[0] or server.host
        if server.security is Security.STARTTLS:
            if not client.has_extn("starttls"):
                raise _SessionError(Outcome.TRANSIENT, "the server does not offer STARTTLS")
            client.starttls(context=_ssl_context(server.verify_tls))
            client.ehlo()
    except BaseException:
        client.close()
        raise
    return client, name


def _login(client: smtplib.SMTP, credentials: Credentials) -> None:
    try:
        client.login(credentials.username, credentials.password)
    except smtplib.SMTPAuthenticationError as exc:
        detail = f"authentication refused: {exc.smtp_code} {_words(exc.smtp_error)}"
        # 535 means the credential is wrong (sign in again, then resend); 454 is temporary.
        outcome = Outcome.PERMANENT if exc.smtp_code >= 500 else Outcome.TRANSIENT
        raise _SessionError(outcome, detail, exc.smtp_code, _words(exc.smtp_error)) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise _SessionError(Outcome.TRANSIENT, "the server does not offer AUTH") from exc


def _mail_options(client: smtplib.SMTP, session: _Session, raw: bytes,
                  needs_utf8: bool) -> list[str]:
    options: list[str] = []
    if client.has_extn("size"):
        options.append(f"SIZE={len(raw)}")
    if not raw.isascii() and client.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    if needs_utf8 and client.has_extn("smtputf8"):
        options.append("SMTPUTF8")
    if client.has_extn("dsn"):
        session.dsn = True
        options.append("RET=HDRS")
        if session.envelope.envid:
            options.append(f"ENVID={xtext(session.envelope.envid)}")
    return options


def _rcpt_options(session: _Session, address: str) -> list[str]:
    if not session.dsn:
        return []
    options = ["NOTIFY=FAILURE,DELAY"]
    if address.isascii():  # RFC 6533's utf-8 address type is not worth the risk here
        options.append(f"ORCPT=rfc822;{xtext(address)}")
    return options


def _envelope(client: smtplib.SMTP, session: _Session, raw: bytes) -> list[str]:
    """MAIL and RCPT; returns the recipients the server took at RCPT."""
    envelope = session.envelope
    addresses = [envelope.sender, *envelope.recipients]
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    needs_utf8 = not all(a.isascii() for a in addresses) or not head.isascii()
    if not all(a.isascii() for a in addresses) and not client.has_extn("smtputf8"):
        raise _SessionError(Outcome.PERMANENT,
                            "the server does not accept internationalized addresses (SMTPUTF8)")
    code, reply = client.mail(envelope.sender, _mail_options(client, session, raw, needs_utf8))
    if code != 250:
        raise _SessionError(_classify(code), f"MAIL FROM: {code} {_words(reply)}", code,
                            _words(reply))
    taken = []
    for address in envelope.recipients:
        code, reply = client.rcpt(address, _rcpt_options(session, address))
        text = _words(reply)
        outcome = _classify(code)
        session.results[address] = RecipientResult(address, outcome, code, _enhanced(text), text)
        if outcome is Outcome.ACCEPTED:
            taken.append(address)
    return taken


def _data(client: smtplib.SMTP, session: _Session, raw: bytes) -> tuple[int, str]:
    code, reply = client.docmd("DATA")
    if code != 354:
        raise _SessionError(_classify(code) if code >= 400 else Outcome.TRANSIENT,
                            f"DATA: {code} {_words(reply)}", code, _words(reply))
    # From here on, a lost connection leaves the outcome unknown.
    session.stage = Stage.DATA
    client.send(_payload(raw))
    code, reply = client.getreply()
    return code, _words(reply)


def submit(server: ServerAddress, envelope: Envelope, raw: bytes, *,
           credentials: Credentials | None = None,
           before_data: Callable[[], bool] | None = None) -> SubmitResult:
    """Send ``raw`` to ``envelope.recipients`` in one SMTP session; never raises for SMTP or
    network trouble (see the module docstring for the classification).

    ``credentials`` turn on AUTH. ``before_data`` runs after RCPT, right before DATA; when it
    returns False (the caller lost its claim on the message) the session ends with RSET and
    nothing is transmitted (``aborted``). Programming errors (bad arguments) still raise.
    """
    session = _Session(envelope)
    try:
        client, session.server = _open(server)
    except _SessionError as exc:
        session.decide_open(exc.outcome, exc.words, exc.code)
        return session.result(exc.code, exc.detail)
    except (OSError, smtplib.SMTPException) as exc:
        detail = f"cannot connect to {server.host}:{server.port}: {_error_text(exc)}"
        session.decide_open(Outcome.TRANSIENT, detail, None)
        return session.result(None, detail)
    try:
        return _transact(client, session, raw, credentials, before_data)
    finally:
        client.close()


def _transact(client: smtplib.SMTP, session: _Session, raw: bytes,
              credentials: Credentials | None,
              before_data: Callable[[], bool] | None) -> SubmitResult:
    try:
        if credentials is not None:
            _login(client, credentials)
        session.stage = Stage.ENVELOPE
        taken = _envelope(client, session, raw)
        if not taken:
            _quietly(client.rset)
            _quietly(client.quit)
            return session.result()
        if before_data is not None and not before_data():
            _quietly(client.rset)
            _quietly(client.quit)
            session.decide_open(Outcome.TRANSIENT, "stopped before DATA: claim lost", None)
            return session.result(detail="stopped before DATA", aborted=True)
        code, text = _data(client, session, raw)
    except _SessionError as exc:
        _quietly(client.rset)
        _quietly(client.quit)
        session.decide_open(exc.outcome, exc.words, exc.code)
        return session.result(exc.code, exc.detail)
    except (OSError, smtplib.SMTPException) as exc:
        if session.stage is Stage.DATA:
            detail = f"connection lost after the message was transmitted: {_error_text(exc)}"
            session.decide_open(Outcome.UNKNOWN, detail, None)
        else:
            detail = f"connection lost before the message was transmitted: {_error_text(exc)}"
            session.decide_open(Outcome.TRANSIENT, detail, None)
        return session.result(None, detail)
    session.decide_open(_classify(code), text, code)
    session.stage = Stage.DONE
    _quietly(client.quit)
    return session.result(code, text)


def _quietly(call: Callable[[], object]) -> None:
    try:
        call()
    except (OSError, smtplib.SMTPException):
        pass


def _error_text(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}" if text != exc.__class__.__name__ else text



# --- "test connection" for the admin: every step reported, nothing raised -------------------


@dataclass(frozen=True)
class ProbeStep:
    name: str
    status: str  # ok, warning, failed, skipped
    detail: str = ""


@dataclass(frozen=True)
class ProbeResult:
    steps: tuple[ProbeStep, ...]
    extensions: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(step.status != "failed" for step in self.steps)


def probe(server: ServerAddress, credentials: Credentials | None = None) -> ProbeResult:
    """Connect, greet, TLS, EHLO (which extensions: DSN, SIZE, AUTH …) and, only with a test
    credential, AUTH. Never raises: each failure is a failed step with the server's words."""
    steps: list[ProbeStep] = []
    client: smtplib.SMTP | None = None
    try:
        try:
            client, name = _open(server)
        except _SessionError as exc:
            steps.append(ProbeStep("connect, greeting, EHLO", "failed", exc.detail))
            return ProbeResult(tuple(steps))
        tls = {Security.SSL: "implicit TLS", Security.STARTTLS: "STARTTLS"}.get(server.security)
        steps.append(ProbeStep("connect and greeting", "ok", f"said {name}"))
        if tls:
            steps.append(ProbeStep(tls, "ok", "encrypted"))
        extensions = tuple(sorted(k.upper() for k in client.esmtp_features))
        auth = client.esmtp_features.get("auth", "").strip()
        missing = [e for e in ("DSN", "8BITMIME", "SMTPUTF8") if e not in extensions]
        steps.append(ProbeStep(
            "EHLO", "warning" if "DSN" in missing else "ok",
            f"offers {', '.join(extensions) or 'nothing'}"
            + (f"; AUTH mechanisms: {auth}" if auth else "")
            + (f"; missing {', '.join(missing)}" if missing else "")))
        if credentials is None:
            steps.append(ProbeStep("AUTH", "skipped", "no test credential given"))
        else:
            try:
                _login(client, credentials)
                steps.append(ProbeStep("AUTH", "ok", "accepted"))
            except _SessionError as exc:
                steps.append(ProbeStep("AUTH", "failed", exc.detail))
        return ProbeResult(tuple(steps), extensions)
    except (OSError, smtplib.SMTPException) as exc:
        steps.append(ProbeStep("connect" if client is None else "session", "failed",
                               _error_text(exc)))
        return ProbeResult(tuple(steps))
    finally:
        if client is not None:
            _quietly(client.quit)
