"""Helpers shared by the mail views: URLs, the user's cache key, page size, redirects.

Dates render in the active time zone, which ``accounts.middleware`` sets from the user's
preference (else the server's ``TIME_ZONE``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import quote, urlencode

from django.conf import settings
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from webmail import mailconn
from webmail.imap.gateway import MailStore
from webmail.imap.validate import check_folder
from webmail.mail.selectors import ListParams


@contextlib.contextmanager
def open_store(request: HttpRequest) -> Iterator[MailStore]:
    """The signed-in user's store, caught up with changes made since its last use (the pool
    refreshes a reused connection when it lends it: ``ImapStore.refresh``)."""
    with mailconn.mail_store(request) as store:
        yield store


def folder_url(folder: str) -> str:
    """``/mail/<folder>/`` with the name as one URL-encoded path segment."""
    return f"/mail/{quote(folder, safe='')}/"


def message_url(folder: str, uid: int) -> str:
    return f"{folder_url(folder)}{int(uid)}/"


def part_url(folder: str, uid: int, section: str) -> str:
    return f"{message_url(folder, uid)}part/{section}/"


def compose_url(kind: str, folder: str, uid: int) -> str:
    """``/compose/?reply=<folder>/<uid>`` (``reply``, ``reply_all``, ``forward``, ``draft``)."""
    return "/compose/?" + urlencode({kind: f"{folder}/{int(uid)}"})


def user_key(request: HttpRequest) -> str:
    """What the caches are keyed by: the account, never anything the client sends."""
    return f"{request.user.pk}:{request.user.get_username().lower()}"


def clean_folder(folder: str) -> str:
    """The folder from the URL; ``ImapInvalidInput`` (400) for a name that cannot be one."""
    return check_folder(folder)


def page_size(request: HttpRequest) -> int:
    """Messages per page: the user's preference (set on the request by
    ``accounts.middleware.UserPreferencesMiddleware``), else ``WEBMAIL_PAGE_SIZE``."""
    prefs = getattr(request, "user_settings", None)
    size = getattr(prefs, "page_size", None)
    if isinstance(size, int) and 10 <= size <= 500:
        return size
    return int(settings.WEBMAIL_PAGE_SIZE)


def back_url(request: HttpRequest, folder: str, params: ListParams) -> str:
    """Where an action returns to: the form's ``next`` when it is one of our mail pages."""
    target = request.POST.get("next", "")
    if (target.startswith("/mail/") and "\\" not in target
            and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})):
        return target
    return folder_url(folder) + params.querystring()
