"""Sign-in and sign-out as services (the view only parses and renders).

With two-factor sign-in on, the password proof (IMAP LOGIN) comes first and leaves the
session *not* signed in: only a pending record (the user id, the password encrypted, a time
stamp and the count of wrong codes). ``login()`` and ``remember_password()`` happen once the
code is verified.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest

from accounts import throttle
from accounts.models import AuditEntry, User
from accounts.sessions import session_forget, session_record
from webmail import crypto
from webmail.imap.errors import ImapUnavailable
from webmail.mailconn import pool, remember_password

log = logging.getLogger(__name__)

PENDING_KEY = "pending_sign_in"
PENDING_PURPOSE = "session-pending-sign-in"
PENDING_SECONDS = 300
MAX_CODE_TRIES = 5


@dataclass(frozen=True)
class SignInResult:
    user: User | None
    # "throttled", "invalid", "unavailable"; for the second step also "expired"
    error: str = ""
    needs_code: bool = False  # the password was right; now the second factor


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind ``WEBMAIL_TRUSTED_PROXIES`` proxies
    the address the outermost of them saw, read from the right of ``X-Forwarded-For`` (each
    proxy appends the address it got the request from; entries further left are the client's
    own say and can be forged). Falls back to ``REMOTE_ADDR`` when the header is missing or
    shorter than the proxies in front, or the entry is not an IP address."""
    remote = request.META.get("REMOTE_ADDR")
    proxies = int(settings.WEBMAIL_TRUSTED_PROXIES)
    if proxies <= 0:
        return remote
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [p for p in forwarded if p]
    if len(forwarded) < proxies:
        return remote
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def redact(address: str) -> str:
    """For INFO logs: keep the domain, hide the local part."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def audit(kind: str, *, actor: User | None = None, subject: str = "", ip: str | None = None,
          detail: str = "") -> None:
    AuditEntry.objects.create(kind=kind, actor=actor, subject=subject[:254], ip=ip,
                              detail=detail)


def _complete_sign_in(request: HttpRequest, user: User, password: str, *, detail: str = ""
                      ) -> SignInResult:
    ip = client_ip(request)
    throttle.record_success(user.get_username())
    login(request, user)  # rotates the session key
    remember_password(request, password)
    session_record(user=user, session_key=request.session.session_key or "", ip=ip)
    audit(AuditEntry.Kind.SIGN_IN, actor=user, subject=user.get_username(), ip=ip,
          detail=detail)
    return SignInResult(user)


def user_sign_in(request: HttpRequest, *, address: str, password: str) -> SignInResult:
    """First step: the password, proved by IMAP LOGIN. Signs in at once, or (two-factor on)
    leaves a pending sign-in in the session and returns ``needs_code``."""
    from accounts.twofactor import two_factor_enabled

    ip = client_ip(request)
    request.session.pop(PENDING_KEY, None)
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
    if two_factor_enabled(user):
        request.session.cycle_key()  # a fresh key for the half-way state too
        request.session[PENDING_KEY] = {
            "uid": user.pk,
            "password": crypto.encrypt(password, purpose=PENDING_PURPOSE),
            "at": time.time(),
            "tries": 0,
        }
        return SignInResult(None, needs_code=True)
    return _complete_sign_in(request, user, password)


def pending_sign_in_user(request: HttpRequest) -> User | None:
    """The user whose password was proved in this session and who still owes the code."""
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > (
            PENDING_SECONDS):
        return None
    uid = pending.get("uid")
    if not isinstance(uid, int):
        return None
    return User.objects.filter(pk=uid, is_active=True).first()


def user_sign_in_second_factor(request: HttpRequest, *, code: str) -> SignInResult:
    """Second step: the code from the authenticator app or a recovery code.

    Errors: "expired" (no pending sign-in, or older than five minutes: start again),
    "invalid" (wrong code; the device also slows down), "throttled" (too many wrong codes:
    the pending sign-in is dropped and the address counts a failed sign-in).
    """
    from accounts.twofactor import second_factor_verify

    ip = client_ip(request)
    user = pending_sign_in_user(request)
    pending = request.session.get(PENDING_KEY)
    if user is None or not isinstance(pending, dict):
        request.session.pop(PENDING_KEY, None)
        return SignInResult(None, "expired")
    address = user.get_username()
    if throttle.is_throttled(address, ip):
        request.session.pop(PENDING_KEY, None)
        return SignInResult(None, "throttled")
    verified = second_factor_verify(user=user, code=code)
    if verified is None:
        tries = int(pending.get("tries", 0)) + 1
        throttle.record_failure(address, ip)
        audit(AuditEntry.Kind.SIGN_IN_FAILED, subject=address, ip=ip,
              detail="wrong second-factor code")
        if tries >= MAX_CODE_TRIES:
            request.session.pop(PENDING_KEY, None)
            return SignInResult(None, "throttled")
        request.session[PENDING_KEY] = {**pending, "tries": tries}
        return SignInResult(None, "invalid")
    try:
        password = crypto.decrypt(str(pending.get("password", "")), purpose=PENDING_PURPOSE)
    except crypto.CredentialError:
        request.session.pop(PENDING_KEY, None)
        return SignInResult(None, "expired")
    request.session.pop(PENDING_KEY, None)
    detail = "second factor: authenticator app"
    if verified.kind == "recovery":
        detail = f"second factor: recovery code ({verified.recovery_codes_left} left)"
    result = _complete_sign_in(request, user, password, detail=detail)
    import django_otp

    django_otp.login(request, verified.device)
    return result


def user_sign_out(request: HttpRequest) -> None:
    user = request.user if request.user.is_authenticated else None
    if user is not None:
        pool().close_user(user.get_username())
        audit(AuditEntry.Kind.SIGN_OUT, actor=user, subject=user.get_username(),
              ip=client_ip(request))
    if request.session.session_key:
        session_forget(session_key=request.session.session_key)
    logout(request)  # flushes the session and its encrypted credential
