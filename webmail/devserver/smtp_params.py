"""Parsing of SMTP ``MAIL FROM`` / ``RCPT TO`` arguments with their ESMTP parameters.

aiosmtpd upper-cases the parameters (which would corrupt a case-sensitive ENVID) and refuses
any it does not know, so the development server parses them here: SIZE, BODY, SMTPUTF8 and the
DSN extension of RFC 3461 (RET, ENVID on MAIL; NOTIFY, ORCPT on RCPT). Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from webmail.devserver.dsn import xtext_decode

__all__ = [
    "MailParams",
    "ParamError",
    "RcptParams",
    "parse_mail_params",
    "parse_path",
    "parse_rcpt_params",
]

_ANGLE_PATH = re.compile(r"^\s*<([^<>\s]*)>(.*)$", re.DOTALL)
_BARE_PATH = re.compile(r"^\s*([^<>\s]+)(.*)$", re.DOTALL)
_MAILBOX = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)*$")
_KEYWORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_NOTIFY_VALUES = frozenset({"SUCCESS", "FAILURE", "DELAY"})


class ParamError(ValueError):
    """A malformed or unsupported argument; ``reply`` is the SMTP reply to send."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class MailParams:
    size: int | None = None
    body: str = "7BIT"
    smtputf8: bool = False
    envid: str | None = None  # decoded from xtext
    ret: str | None = None  # "FULL" | "HDRS"


@dataclass(frozen=True)
class RcptParams:
    notify: frozenset[str] | None = None  # None: not given; {"NEVER"} or a subset of SUCCESS etc.
    orcpt: str | None = None  # "rfc822;addr", decoded from xtext

    def wants(self, event: str) -> bool:
        """Whether a DSN for ``event`` (SUCCESS, FAILURE, DELAY) should be sent.

        Without NOTIFY the server reports failures only (RFC 3461 section 4.1 leaves it open).
        """
        if self.notify is None:
            return event == "FAILURE"
        return event in self.notify


def parse_path(arg: str | None, keyword: str, *, allow_empty: bool) -> tuple[str, list[str]]:
    """Split ``FROM:<addr> PARAM=V ...`` into the address and the raw parameter words.

    Raises:
        ParamError: missing keyword, malformed or (unless ``allow_empty``) empty address.
    """
    syntax = f"501 5.5.4 Syntax: {'MAIL FROM' if keyword == 'FROM:' else 'RCPT TO'}:<address>"
    if arg is None or not arg[: len(keyword)].upper() == keyword:
        raise ParamError(syntax)
    rest = arg[len(keyword) :]
    match = _ANGLE_PATH.match(rest) or _BARE_PATH.match(rest)
    if match is None:
        raise ParamError(syntax)
    address, params = match.group(1), match.group(2).split()
    if address == "" and allow_empty:
        return "", params
    if not _MAILBOX.match(address):
        raise ParamError(f"553 5.1.3 <{address}>: malformed address")
    return address, params


def _split_params(words: list[str], command: str) -> dict[str, str | None]:
    result: dict[str, str | None] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not _KEYWORD.match(key) or (eq and not value):
            raise ParamError(f"501 5.5.4 Malformed {command} parameter: {word}")
        key = key.upper()
        if key in result:
            raise ParamError(f"501 5.5.4 Duplicate {command} parameter: {key}")
        result[key] = value if eq else None
    return result


def _xtext(value: str | None, name: str, max_len: int) -> str:
    if value is None:
        raise ParamError(f"501 5.5.4 {name} needs a value")
    try:
        decoded = xtext_decode(value)
    except ValueError:
        raise ParamError(f"501 5.5.4 Malformed {name} parameter") from None
    if len(decoded) > max_len:
        raise ParamError(f"501 5.5.4 {name} too long")
    return decoded


def parse_mail_params(words: list[str], *, size_limit: int | None) -> MailParams:
    """Parse and check the parameters of MAIL FROM.

    Raises:
        ParamError: malformed, duplicate, unknown parameters or a declared SIZE over the limit.
    """
    raw = _split_params(words, "MAIL")
    size: int | None = None
    if "SIZE" in raw:
        value = raw.pop("SIZE")
        if value is None or not value.isdigit():
            raise ParamError("501 5.5.4 SIZE needs a number")
        size = int(value)
        if size_limit and size > size_limit:
            raise ParamError("552 5.3.4 Message size exceeds fixed maximum message size")
    body = "7BIT"
    if "BODY" in raw:
        body = (raw.pop("BODY") or "").upper()
        if body not in ("7BIT", "8BITMIME"):
            raise ParamError("501 5.5.4 BODY can only be 7BIT or 8BITMIME")
    smtputf8 = "SMTPUTF8" in raw
    if smtputf8 and raw.pop("SMTPUTF8") is not None:
        raise ParamError("501 5.5.4 SMTPUTF8 takes no value")
    envid = _xtext(raw.pop("ENVID"), "ENVID", 100) if "ENVID" in raw else None
    ret: str | None = None
    if "RET" in raw:
        ret = (raw.pop("RET") or "").upper()
        if ret not in ("FULL", "HDRS"):
            raise ParamError("501 5.5.4 RET must be FULL or HDRS")
    if raw:
        raise ParamError(f"555 5.5.4 MAIL parameter {next(iter(raw))} not recognized")
    return MailParams(size=size, body=body, smtputf8=smtputf8, envid=envid, ret=ret)


def parse_rcpt_params(words: list[str]) -> RcptParams:
    """Parse and check the parameters of RCPT TO (NOTIFY, ORCPT).

    Raises:
        ParamError: malformed, duplicate or unknown parameters.
    """
    raw = _split_params(words, "RCPT")
    notify: frozenset[str] | None = None
    if "NOTIFY" in raw:
        values = frozenset((raw.pop("NOTIFY") or "").upper().split(","))
        if values != {"NEVER"} and not (values and values <= _NOTIFY_VALUES):
            raise ParamError("501 5.5.4 NOTIFY is NEVER or a list of SUCCESS, FAILURE, DELAY")
        notify = values
    orcpt: str | None = None
    if "ORCPT" in raw:
        orcpt = _xtext(raw.pop("ORCPT"), "ORCPT", 500)
        addr_type, semi, addr = orcpt.partition(";")
        if not semi or not addr or not _KEYWORD.match(addr_type):
            raise ParamError("501 5.5.4 ORCPT must be addr-type;address")
    if raw:
        raise ParamError(f"555 5.5.4 RCPT parameter {next(iter(raw))} not recognized")
    return RcptParams(notify=notify, orcpt=orcpt)
