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

``SmtpSessions`` (one per process: ``SESSIONS``) keeps the session open for the next message to
the same server with the same login: per (host, port, security, TLS check, AUTH user, password
digest) one idle connection, NOOP-checked after ``NOOP_AFTER`` seconds idle, closed after
``IDLE_TIMEOUT`` seconds idle (a reaper thread), after ``MAX_MESSAGES_PER_SESSION`` messages and
at worker shutdown (``close_all``). A session is kept only when its transaction ended cleanly
(a final reply to DATA, or RSET answered); after a network error or an unknown outcome it is
closed. When a *reused* session fails at MAIL FROM (the server dropped an idle connection,
or says 421), nothing was transmitted, so the message is tried once more on a fresh session.
"""

from __future__ import annotations

import atexit
import enum
import functools
import hashlib
import logging
import os
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from webmail.imap.types import Credentials, Security, ServerAddress

__all__ = ["SESSIONS", "Envelope", "Outcome", "RecipientResult", "SmtpSessions", "SubmitResult",
           "Transport", "submit", "xtext"]

log = logging.getLogger(__name__)

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


def _mail(client: smtplib.SMTP, session: _Session, raw: bytes) -> tuple[int, bytes]:
    """The SMTPUTF8 check and MAIL FROM; returns the server's reply (not judged here)."""
    envelope = session.envelope
    addresses = [envelope.sender, *envelope.recipients]
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    needs_utf8 = not all(a.isascii() for a in addresses) or not head.isascii()
    if not all(a.isascii() for a in addresses) and not client.has_extn("smtputf8"):
        raise _SessionError(Outcome.PERMANENT,
                            "the server does not accept internationalized addresses (SMTPUTF8)")
    return client.mail(envelope.sender, _mail_options(client, session, raw, needs_utf8))


def _mail_refused(code: int, reply: bytes) -> _SessionError:
    return _SessionError(_classify(code), f"MAIL FROM: {code} {_words(reply)}", code,
                         _words(reply))


def _rcpts(client: smtplib.SMTP, session: _Session) -> list[str]:
    """RCPT for every recipient; returns the recipients the server took."""
    taken = []
    for address in session.envelope.recipients:
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


# What happens to the connection after a transaction: kept for the next message, closed, or
# (a reused session that failed at MAIL FROM, nothing transmitted) closed and tried afresh.
_After = Literal["keep", "close", "retry"]


def submit(server: ServerAddress, envelope: Envelope, raw: bytes, *,
           credentials: Credentials | None = None,
           before_data: Callable[[], bool] | None = None) -> SubmitResult:
    """Send ``raw`` to ``envelope.recipients`` in one SMTP session of its own; never raises for
    SMTP or network trouble (see the module docstring for the classification).

    ``credentials`` turn on AUTH. ``before_data`` runs after RCPT, right before DATA; when it
    returns False (the caller lost its claim on the message) the session ends with RSET and
    nothing is transmitted (``aborted``). Programming errors (bad arguments) still raise.
    ``SmtpSessions.submit`` does the same over a kept session.
    """
    session = _Session(envelope)
    opened = _connect(server, session, credentials)
    if isinstance(opened, SubmitResult):
        return opened
    client, _name = opened
    try:
        result, after = _transaction(client, session, raw, before_data, reused=False)
        assert result is not None
        if after == "keep":
            _quietly(client.quit)
        return result
    finally:
        client.close()


def _connect(server: ServerAddress, session: _Session,
             credentials: Credentials | None) -> tuple[smtplib.SMTP, str] | SubmitResult:
    """Open (and log in); a failure is the message's result, with every recipient decided."""
    try:
        client, session.server = _open(server)
    except _SessionError as exc:
        session.decide_open(exc.outcome, exc.words, exc.code)
        return session.result(exc.code, exc.detail)
    except (OSError, smtplib.SMTPException) as exc:
        detail = f"cannot connect to {server.host}:{server.port}: {_error_text(exc)}"
        session.decide_open(Outcome.TRANSIENT, detail, None)
        return session.result(None, detail)
    if credentials is not None:
        try:
            _login(client, credentials)
        except _SessionError as exc:
            _quietly(client.quit)
            client.close()
            session.decide_open(exc.outcome, exc.words, exc.code)
            return session.result(exc.code, exc.detail)
        except (OSError, smtplib.SMTPException) as exc:
            client.close()
            detail = f"connection lost before the message was transmitted: {_error_text(exc)}"
            session.decide_open(Outcome.TRANSIENT, detail, None)
            return session.result(None, detail)
    return client, session.server


def _reset(client: smtplib.SMTP) -> _After:
    """RSET after an unfinished transaction: the session is reusable only if it answers 250."""
    try:
        code, _reply = client.rset()
    except (OSError, smtplib.SMTPException):
        return "close"
    return "keep" if code == 250 else "close"


def _transaction(client: smtplib.SMTP, session: _Session, raw: bytes,
                 before_data: Callable[[], bool] | None, *,
                 reused: bool) -> tuple[SubmitResult | None, _After]:
    """MAIL, RCPT, the fence, DATA on an open (logged-in) session; never QUIT.

    Returns ``(None, "retry")`` only for a reused session that failed at MAIL FROM (nothing
    was transmitted: the caller tries a fresh session).
    """
    session.stage = Stage.ENVELOPE
    try:
        try:
            code, reply = _mail(client, session, raw)
        except (OSError, smtplib.SMTPException):
            if reused:
                return None, "retry"
            raise
        if code == 421 and reused:
            return None, "retry"
        if code != 250:
            raise _mail_refused(code, reply)
        taken = _rcpts(client, session)
        if not taken:
            return session.result(), _reset(client)
        if before_data is not None and not before_data():
            after = _reset(client)
            session.decide_open(Outcome.TRANSIENT, "stopped before DATA: claim lost", None)
            return session.result(detail="stopped before DATA", aborted=True), after
        code, text = _data(client, session, raw)
    except _SessionError as exc:
        after = "close" if exc.code == 421 else _reset(client)
        session.decide_open(exc.outcome, exc.words, exc.code)
        return session.result(exc.code, exc.detail), after
    except (OSError, smtplib.SMTPException) as exc:
        if session.stage is Stage.DATA:
            detail = f"connection lost after the message was transmitted: {_error_text(exc)}"
            session.decide_open(Outcome.UNKNOWN, detail, None)
        else:
            detail = f"connection lost before the message was transmitted: {_error_text(exc)}"
            session.decide_open(Outcome.TRANSIENT, detail, None)
        return session.result(None, detail), "close"
    session.decide_open(_classify(code), text, code)
    session.stage = Stage.DONE
    return session.result(code, text), "close" if code == 421 else "keep"


# --- kept sessions ------------------------------------------------------------------------

IDLE_TIMEOUT = 30.0  # seconds an unused session stays open
NOOP_AFTER = 5.0  # a session idle longer than this is checked with NOOP before use
MAX_MESSAGES_PER_SESSION = 100  # then QUIT and a fresh session (servers limit this too)
_QUIT_TIMEOUT = 2.0

_Key = tuple[str, int, str, bool, str, str]


@dataclass
class _Kept:
    client: smtplib.SMTP
    name: str
    messages: int = 0
    last_used: float = field(default_factory=time.monotonic)


def _key(server: ServerAddress, credentials: Credentials | None) -> _Key:
    user, digest = "", ""
    if credentials is not None:
        user = credentials.username
        digest = hashlib.sha256(credentials.password.encode("utf-8")).hexdigest()
    return (server.host, server.port, str(server.security), server.verify_tls, user, digest)


def _close(client: smtplib.SMTP) -> None:
    sock = getattr(client, "sock", None)
    if sock is not None:
        try:
            sock.settimeout(_QUIT_TIMEOUT)
        except OSError:
            pass
    _quietly(client.quit)
    client.close()


class SmtpSessions:
    """Open SMTP sessions of this process, reused across messages (see the module docstring).

    ``submit`` has ``Transport``'s signature. One idle session per key; a session is taken out
    while it is used, so two threads never share one.
    """

    def __init__(self, *, idle_timeout: float = IDLE_TIMEOUT, noop_after: float = NOOP_AFTER,
                 max_messages: int = MAX_MESSAGES_PER_SESSION) -> None:
        self.idle_timeout = idle_timeout
        self.noop_after = noop_after
        self.max_messages = max_messages
        self._idle: dict[_Key, _Kept] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._reaper: threading.Thread | None = None
        self.opened = 0  # sessions opened (for tests and logs)

    def _take(self, key: _Key) -> _Kept | None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's sockets are not ours
                self._idle.clear()
                self._reaper = None
                self._pid = os.getpid()
            return self._idle.pop(key, None)

    def _give_back(self, key: _Key, kept: _Kept) -> None:
        kept.last_used = time.monotonic()
        if kept.messages >= self.max_messages:
            _close(kept.client)
            return
        with self._lock:
            old = self._idle.pop(key, None)
            self._idle[key] = kept
            if self._reaper is None or not self._reaper.is_alive():
                self._reaper = threading.Thread(target=self._reap, name="smtp-session-reaper",
                                                daemon=True)
                self._reaper.start()
        if old is not None:
            _close(old.client)

    def _reap(self) -> None:
        while True:
            time.sleep(max(self.idle_timeout / 3, 0.05))
            self.close_idle()
            with self._lock:
                if not self._idle:
                    self._reaper = None
                    return

    def close_idle(self) -> int:
        """Close the sessions idle longer than ``idle_timeout``; returns how many."""
        now = time.monotonic()
        with self._lock:
            old = [k for k, v in self._idle.items() if now - v.last_used > self.idle_timeout]
            expired = [self._idle.pop(k) for k in old]
        for kept in expired:
            _close(kept.client)
        return len(expired)

    def close_all(self) -> None:
        """QUIT every idle session (worker shutdown)."""
        with self._lock:
            kept = list(self._idle.values()) if self._pid == os.getpid() else []
            self._idle.clear()
        for item in kept:
            _close(item.client)

    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def _alive(self, kept: _Kept) -> bool:
        if time.monotonic() - kept.last_used <= self.noop_after:
            return True
        try:
            code, _reply = kept.client.noop()
        except (OSError, smtplib.SMTPException):
            return False
        return code == 250

    def submit(self, server: ServerAddress, envelope: Envelope, raw: bytes, *,
               credentials: Credentials | None = None,
               before_data: Callable[[], bool] | None = None) -> SubmitResult:
        """``submit`` over a kept session when there is one (same classification)."""
        key = _key(server, credentials)
        kept = self._take(key)
        if kept is not None and not self._alive(kept):
            kept.client.close()
            kept = None
        if kept is not None:
            session = _Session(envelope)
            session.server = kept.name
            result, after = self._run(kept, session, raw, before_data, reused=True)
            if after != "retry":
                assert result is not None
                self._after(key, kept, after)
                return result
            log.info("kept SMTP session to %s:%s was gone at MAIL FROM; a fresh one",
                     server.host, server.port)
            kept.client.close()
        session = _Session(envelope)
        opened = _connect(server, session, credentials)
        if isinstance(opened, SubmitResult):
            return opened
        self.opened += 1
        kept = _Kept(*opened)
        result, after = self._run(kept, session, raw, before_data, reused=False)
        assert result is not None
        self._after(key, kept, after)
        return result

    @staticmethod
    def _run(kept: _Kept, session: _Session, raw: bytes,
             before_data: Callable[[], bool] | None,
             reused: bool) -> tuple[SubmitResult | None, _After]:
        try:
            result, after = _transaction(kept.client, session, raw, before_data, reused=reused)
        except BaseException:
            kept.client.close()
            raise
        kept.messages += 1
        return result, after

    def _after(self, key: _Key, kept: _Kept, after: _After) -> None:
        if after == "keep":
            self._give_back(key, kept)
        else:
            _quietly(kept.client.quit)
            kept.client.close()


SESSIONS = SmtpSessions()
atexit.register(SESSIONS.close_all)


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
