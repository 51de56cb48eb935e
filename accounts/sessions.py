"""Which sessions a user is signed in with, and ending them all at once.

Each sign-in records its session key in ``UserSession``; ending a user's sessions deletes
each key through the configured session engine (database, cache or cached_db alike) and
closes the user's pooled IMAP connections, so the very next request is signed out.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone

from accounts.models import User, UserSession
from webmail.mailconn import pool

log = logging.getLogger(__name__)


def _store(session_key: str) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key=session_key)
    return store


def session_record(*, user: User, session_key: str, ip: str | None) -> None:
    """Remember that ``user`` signed in with ``session_key`` (and forget expired ones)."""
    cutoff = timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    UserSession.objects.filter(user=user, created__lt=cutoff).delete()
    UserSession.objects.update_or_create(session_key=session_key,
                                         defaults={"user": user, "ip": ip})


def session_forget(*, session_key: str) -> None:
    UserSession.objects.filter(session_key=session_key).delete()


def user_sessions_end(*, user: User) -> int:
    """End every session of ``user`` now and close their IMAP connections in this process.

    Returns how many sessions were ended. Other web processes' pooled connections for the
    user can no longer be reached (no session holds the password) and idle out.
    """
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        _store(key).delete(key)
    UserSession.objects.filter(user=user).delete()
    pool().close_user(user.get_username())
    log.info("ended %d session(s) of user %s", len(keys), user.pk)
    return len(keys)
