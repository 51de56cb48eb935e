"""The SMTP side of the development mail server (aiosmtpd), with demo routing rules.

Recipients by domain:

- the local domain (``example.test``): known users get the message in their INBOX; unknown
  ones are refused at RCPT with ``550 5.1.1``;
- ``bounce.test``: accepted, then a failure DSN (RFC 3464) reaches the sender a few seconds
  later (if the sender is a local user and NOTIFY allows it);
- ``delay.test``: accepted, then a "delayed" DSN if the sender asked for NOTIFY=DELAY;
- ``slow.test``: ``451 4.4.1`` at RCPT, so clients show their retry behaviour;
- anything else: accepted and dropped (logged).

The DSN extension (RFC 3461: RET, ENVID, NOTIFY, ORCPT), SMTPUTF8 and 8BITMIME are offered.
No AUTH: the development profile uses ``WEBMAIL_SMTP_AUTH=none``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from webmail.devserver.dsn import DsnRecipient, build_dsn
from webmail.devserver.smtp_params import (
    MailParams,
    ParamError,
    RcptParams,
    parse_mail_params,
    parse_path,
    parse_rcpt_params,
)
from webmail.devserver.store import MailStore, StoredMessage

__all__ = ["DevMailHandler", "DevSMTP", "DsnEnvelope"]

log = logging.getLogger("webmail.devserver.smtp")

BOUNCE_DOMAIN = "bounce.test"
DELAY_DOMAIN = "delay.test"
SLOW_DOMAIN = "slow.test"


class DsnEnvelope(Envelope):
    """aiosmtpd's envelope plus the DSN parameters, kept per recipient."""

    def __init__(self) -> None:
        super().__init__()
        self.params = MailParams()
        self.rcpt_params: dict[str, RcptParams] = {}


class DevSMTP(SMTP):
    """aiosmtpd's SMTP with its own MAIL/RCPT parsing, to take the DSN parameters."""

    def __init__(self, handler: DevMailHandler, **kwargs: Any) -> None:
        super().__init__(handler, enable_SMTPUTF8=True, decode_data=False, **kwargs)
        # RFC 3461 section 5: DSN parameters may make MAIL and RCPT lines longer.
        self.command_size_limits = defaultdict(lambda: 512, {"MAIL": 512 + 110, "RCPT": 512 + 500})
        self.handler = handler

    def _create_envelope(self) -> DsnEnvelope:  # aiosmtpd's factory for a fresh envelope
        return DsnEnvelope()

    def dsn_envelope(self) -> DsnEnvelope:
        # A method, not a property: aiosmtpd inspects every attribute at construction.
        assert isinstance(self.envelope, DsnEnvelope)
        return self.envelope

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("MAIL"):
            return
        envelope = self.dsn_envelope()
        if envelope.mail_from is not None:
            await self.push("503 5.5.1 Error: nested MAIL command")
            return
        try:
            address, words = parse_path(arg, "FROM:", allow_empty=True)
            if words and not (self.session and self.session.extended_smtp):
                raise ParamError("501 5.5.4 Parameters need EHLO")
            params = parse_mail_params(words, size_limit=self.data_size_limit)
            if not address.isascii() and not params.smtputf8:
                raise ParamError("553 5.6.7 Non-ASCII address needs SMTPUTF8")
        except ParamError as exc:
            await self.push(exc.reply)
            return
        envelope.mail_from = address
        envelope.mail_options = words
        envelope.smtp_utf8 = params.smtputf8
        envelope.params = params
        await self.push("250 2.1.0 Ok")

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("RCPT"):
            return
        envelope = self.dsn_envelope()
        if envelope.mail_from is None:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        try:
            address, words = parse_path(arg, "TO:", allow_empty=False)
            if words and not (self.session and self.session.extended_smtp):
                raise ParamError("501 5.5.4 Parameters need EHLO")
            params = parse_rcpt_params(words)
            if not address.isascii() and not envelope.smtp_utf8:
                raise ParamError("553 5.6.7 Non-ASCII address needs SMTPUTF8")
        except ParamError as exc:
            await self.push(exc.reply)
            return
        refusal = await self.handler.refusal(address)
        if refusal:
            log.info("RCPT %s refused: %s", address, refusal)
            await self.push(refusal)
            return
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(words)
        envelope.rcpt_params[address] = params
        await self.push("250 2.1.5 Ok")


@dataclass
class _Reports:
    """DSNs to send for one transaction, by action."""

    failed: list[DsnRecipient] = field(default_factory=list)
    delayed: list[DsnRecipient] = field(default_factory=list)
    delivered: list[DsnRecipient] = field(default_factory=list)


class DevMailHandler:
    """aiosmtpd handler: routing by domain, local delivery into pymap, DSNs."""

    def __init__(
        self,
        store: MailStore,
        *,
        local_domain: str = "example.test",
        hostname: str = "devmail.example.test",
        report_delay: float = 3.0,
    ) -> None:
        self.store = store
        self.local_domain = local_domain.lower()
        self.hostname = hostname
        self.report_delay = report_delay
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-DSN", responses[-1]]

    async def refusal(self, address: str) -> str | None:
        """The RCPT reply refusing ``address``, or None to accept it."""
        domain = address.rpartition("@")[2].lower()
        if domain == self.local_domain:
            if address.lower() not in await self.store.users():
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        elif domain == SLOW_DOMAIN:
            return (
                f"451 4.4.1 <{address}>: Recipient address temporarily rejected: "
                f"host mx.{SLOW_DOMAIN} is not responding, try again later"
            )
        return None

    def _trace(self, session: Session, envelope: DsnEnvelope, rcpt: str, qid: str) -> bytes:
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        proto = "UTF8SMTP" if envelope.smtp_utf8 else "ESMTP"
        lines = [
            f"Return-Path: <{envelope.mail_from}>",
            f"Delivered-To: {rcpt}",
            f"Received: from {session.host_name} ([{peer}])",
            f"\tby {self.hostname} (webmail devserver) with {proto} id {qid}",
            f"\tfor <{rcpt}>; {format_datetime(datetime.now(UTC))}",
        ]
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope, DsnEnvelope)
        content = envelope.original_content or b""
        qid = secrets.token_hex(5).upper()
        arrival = datetime.now(UTC)
        users = await self.store.users()
        reports = _Reports()
        failed_local = 0
        for rcpt in envelope.rcpt_tos:
            params = envelope.rcpt_params.get(rcpt, RcptParams())
            domain = rcpt.rpartition("@")[2].lower()
            if domain == self.local_domain:
                try:
                    await self.store.append(
                        rcpt, [StoredMessage(self._trace(session, envelope, rcpt, qid) + content)]
                    )
                except Exception:
                    log.exception("%s: delivery to %s failed", qid, rcpt)
                    failed_local += 1
                    continue
                log.info("%s: delivered to %s (from <%s>)", qid, rcpt, envelope.mail_from)
                if params.wants("SUCCESS"):
                    reports.delivered.append(
                        DsnRecipient(rcpt, "delivered", "2.0.0",
                                     diagnostic="250 2.0.0 Ok: delivered to mailbox",
                                     original_recipient=params.orcpt)
                    )
            elif domain == BOUNCE_DOMAIN:
                log.info("%s: %s accepted; it will bounce", qid, rcpt)
                if params.wants("FAILURE"):
                    reports.failed.append(
                        DsnRecipient(
                            rcpt, "failed", "5.1.1",
                            diagnostic=f"550 5.1.1 <{rcpt}>: Recipient address rejected: "
                            "User unknown in virtual mailbox table",
                            remote_mta=f"mx.{BOUNCE_DOMAIN}", original_recipient=params.orcpt,
                        )
                    )
            elif domain == DELAY_DOMAIN:
                log.info("%s: %s accepted; it will be reported delayed", qid, rcpt)
                if params.wants("DELAY"):
                    reports.delayed.append(
                        DsnRecipient(
                            rcpt, "delayed", "4.4.1",
                            diagnostic=f"451 4.4.1 <{rcpt}>: connection to mx.{DELAY_DOMAIN} "
                            "timed out",
                            remote_mta=f"mx.{DELAY_DOMAIN}", original_recipient=params.orcpt,
                            will_retry_until=arrival + timedelta(days=5),
                        )
                    )
            else:
                log.info("%s: %s accepted and dropped (no such domain here)", qid, rcpt)
        if failed_local:
            return "451 4.3.0 Error: local delivery failed, try again later"
        self._schedule_reports(envelope, content, arrival, reports, users)
        return f"250 2.0.0 Ok: queued as {qid}"

    def _schedule_reports(
        self, envelope: DsnEnvelope, content: bytes, arrival: datetime, reports: _Reports,
        users: frozenset[str],
    ) -> None:
        sender = envelope.mail_from or ""
        if sender.lower() not in users:
            if reports.failed or reports.delayed or reports.delivered:
                log.info("no DSN: the sender <%s> is not a local user", sender)
            return
        for recipients, delay in (
            (reports.delivered, 0.2),
            (reports.failed, self.report_delay),
            (reports.delayed, self.report_delay),
        ):
            if recipients:
                task = asyncio.create_task(
                    self._send_report(sender, envelope.params, content, arrival, recipients, delay)
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send_report(
        self, sender: str, params: MailParams, content: bytes, arrival: datetime,
        recipients: list[DsnRecipient], delay: float,
    ) -> None:
        await asyncio.sleep(delay)
        dsn = build_dsn(
            recipients=recipients, original=content, to=sender, reporting_mta=self.hostname,
            arrival=arrival, date=datetime.now(UTC), envid=params.envid,
            return_full=params.ret == "FULL",
        )
        trace = f"Return-Path: <>\r\nDelivered-To: {sender}\r\n".encode()
        try:
            await self.store.append(sender, [StoredMessage(trace + dsn)])
        except Exception:
            log.exception("could not deliver the DSN to %s", sender)
        else:
            log.info("DSN (%s) for %s sent to %s", recipients[0].action,
                     ", ".join(r.final_recipient for r in recipients), sender)

    async def close(self) -> None:
        """Cancel reports not yet sent (they are lost, as on a crashed MTA)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
