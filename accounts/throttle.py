"""Sign-in throttling per address and per client IP, counted in the cache.

Counts failures in a fixed window; a success clears the address's count. The cache is
shared by all web processes (Redis in production), so the limit holds across them.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"signin-fail:{kind}:{digest}"


def is_throttled(address: str, ip: str | None) -> bool:
    if cache.get(_key("addr", address), 0) >= settings.WEBMAIL_LOGIN_MAX_FAILURES:
        return True
    return bool(ip) and cache.get(_key("ip", ip or ""), 0) >= (
        settings.WEBMAIL_LOGIN_IP_MAX_FAILURES)


def _bump(key: str) -> None:
    if cache.add(key, 1, timeout=settings.WEBMAIL_LOGIN_WINDOW):
        return
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=settings.WEBMAIL_LOGIN_WINDOW)


def record_failure(address: str, ip: str | None) -> None:
    _bump(_key("addr", address))
    if ip:
        _bump(_key("ip", ip))


def record_success(address: str) -> None:
    cache.delete(_key("addr", address))
