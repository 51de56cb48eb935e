"""Sign-in and sign-out as services (the view only parses and renders)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest

from accounts import throttle
from accounts.models import AuditEntry, User
from webmail.imap.errors import ImapUnavailable
from webmail.mailconn import pool, remember_password

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignInResult:
    user: User | None
    error: str = ""  # "throttled", "invalid", "unavailable"


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def redact(address: str) -> str:
    """For INFO logs: keep the domain, hide the local part."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def audit(kind: str, *, actor: User | None = None, subject: str = "", ip: str | None = None,
          detail: str = "") -> None:
    AuditEntry.objects.create(kind=kind, actor=actor, subject=subject[:254], ip=ip,
                              detail=detail)


def user_sign_in(request: HttpRequest, *, address: str, password: str) -> SignInResult:
    ip = client_ip(request)
    if throttle.is_throttled(address, ip):
        audit(AuditEntry.Kind.SIGN_IN_FAILED, subject=address, ip=ip, detail="throttled")
        return SignInResult(None, "throttled")
    try:
        user = authenticate(request, username=address, password=password)
    except ImapUnavailable as exc:
        log.warning("sign-in for %s: mail server unavailable: %s", redact(address), exc)
        return SignInResult(None, "unavailable")
    if user is None:
        throttle.record_failure(address, ip)
        audit(AuditEntry.Kind.SIGN_IN_FAILED, subject=address, ip=ip, detail="invalid")
        log.info("sign-in failed for %s", redact(address))
        return SignInResult(None, "invalid")
    throttle.record_success(address)
    login(request, user)  # rotates the session key
    remember_password(request, password)
    audit(AuditEntry.Kind.SIGN_IN, actor=user, subject=address, ip=ip)
    return SignInResult(user)


def user_sign_out(request: HttpRequest) -> None:
    user = request.user if request.user.is_authenticated else None
    if user is not None:
        pool().close_user(user.get_username())
        audit(AuditEntry.Kind.SIGN_OUT, actor=user, subject=user.get_username(),
              ip=client_ip(request))
    logout(request)  # flushes the session and its encrypted credential
