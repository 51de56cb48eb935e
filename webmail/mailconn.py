"""The signed-in user's mail store for a request: credentials from the session, the pool.

Views call ``mail_store(request)``; services receive the store, never the request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest

from accounts.profiles import profile_for_address
from webmail import crypto
from webmail.imap.gateway import ImapStore
from webmail.imap.pool import ConnectionPool
from webmail.imap.types import Credentials

SESSION_KEY = "mail_credential"
PURPOSE = "session-imap-password"

_pool: ConnectionPool | None = None


class NotSignedIn(Exception):
    """No usable mail credential in this session: sign in again."""


def pool() -> ConnectionPool:
    global _pool
    if _pool is None:
        _pool = ConnectionPool(per_user=settings.WEBMAIL_IMAP_POOL_PER_USER,
                               idle_timeout=settings.WEBMAIL_IMAP_POOL_IDLE)
    return _pool


def remember_password(request: HttpRequest, password: str) -> None:
    """Keep the password for this session only, encrypted (never plain text at rest)."""
    request.session[SESSION_KEY] = crypto.encrypt(password, purpose=PURPOSE)


def session_credentials(request: HttpRequest) -> Credentials:
    """Raises ``NotSignedIn`` when the session holds no credential we can open."""
    token = request.session.get(SESSION_KEY)
    if not request.user.is_authenticated or not token:
        raise NotSignedIn()
    try:
        password = crypto.decrypt(token, purpose=PURPOSE)
    except crypto.CredentialError as exc:
        raise NotSignedIn() from exc
    return Credentials(request.user.get_username(), password)


@contextlib.contextmanager
def mail_store(request: HttpRequest) -> Iterator[ImapStore]:
    """The user's pooled IMAP store; raises ``NotSignedIn`` or the gateway's errors."""
    credentials = session_credentials(request)
    profile = profile_for_address(credentials.username)
    with pool().connection(profile.imap, credentials) as store:
        yield store


@contextlib.contextmanager
def mail_store_for(username: str, password: str) -> Iterator[ImapStore]:
    """A pooled store for explicit credentials (worker tasks, sign-in)."""
    profile = profile_for_address(username)
    with pool().connection(profile.imap, Credentials(username, password)) as store:
        yield store
