"""What the open mail page needs to stay current without a reload (read-only GETs).

``/mail/<folder>/?state=1`` answers a small JSON document: a fingerprint of the folder (its
UIDVALIDITY, UIDNEXT, MESSAGES, UNSEEN and HIGHESTMODSEQ), the unread count of every folder,
and, with ``?since=<uidnext>``, the newest INBOX arrivals since then (for a desktop
notification). The browser polls it and reloads the list only when the fingerprint changed:
``?partial=list`` (the rows with their tick boxes, the heading count and the pager) or
``?partial=rows`` (the compact list beside an open message). Both go through the mailbox URL
so no folder name can collide with a route, like ``?manage=``.
"""

from __future__ import annotations

import contextlib

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from webmail.imap.errors import ImapError, ImapNotFound
from webmail.imap.gateway import MailStore
from webmail.imap.types import FolderStatus
from webmail.mail.forms import list_params
from webmail.mail.selectors import FolderTree, mailbox_page
from webmail.mail.views.common import message_url, page_size, user_key

PARTIALS = ("list", "rows")
NEWEST_SHOWN = 3  # arrivals named in one notification


def fingerprint(status: FolderStatus) -> str:
    """Changes whenever a message arrives, leaves or (with CONDSTORE) changes flags."""
    return ":".join(str(v) for v in (status.uidvalidity, status.uidnext, status.messages,
                                     status.unseen, status.highestmodseq or 0))


def page_state(store: MailStore, folder: str) -> str:
    """The fingerprint a page starts from (taken before its list is read, so an arrival in
    between shows up as a change); "" when the server could not say."""
    try:
        return fingerprint(store.folder_status(folder))
    except ImapError:
        return ""


def _since(request: HttpRequest) -> int | None:
    raw = request.GET.get("since", "")
    return int(raw) if raw.isdigit() and len(raw) < 11 else None


def folder_state(request: HttpRequest, store: MailStore, *, folder: str,
                 tree: FolderTree) -> JsonResponse:
    """The JSON the page polls. Raises ``ImapNotFound`` for a folder that is gone."""
    status = store.folder_status(folder)
    inbox = status if folder == "INBOX" else None
    if inbox is None:
        with contextlib.suppress(ImapNotFound):
            inbox = store.folder_status("INBOX")
    newest: list[dict[str, object]] = []
    since = _since(request)
    if inbox is not None and since is not None and 0 < since < inbox.uidnext:
        first = max(since, inbox.uidnext - NEWEST_SHOWN)
        for row in reversed(store.fetch_summaries("INBOX", list(range(first, inbox.uidnext)))):
            if row.seen:
                continue
            sender = row.sender[0] if row.sender else None
            newest.append({"uid": row.uid, "url": message_url("INBOX", row.uid),
                           "from": (sender.name or sender.email) if sender else "",
                           "subject": row.subject})
    response = JsonResponse({
        "folder": folder,
        "state": fingerprint(status),
        "unseen": status.unseen,
        "unread": {n.name: n.unseen for n in tree.nodes if n.selectable},
        "inbox_uidnext": inbox.uidnext if inbox else None,
        "newest": newest,
    })
    response["Cache-Control"] = "no-store"
    return response


def list_partial(request: HttpRequest, store: MailStore, *, folder: str,
                 tree: FolderTree) -> HttpResponse:
    """The list part of the mailbox page, for a swap in place (``?partial=list|rows``)."""
    params = list_params(request.GET)
    role = tree.role(folder)
    page = mailbox_page(store, user_key=user_key(request), folder=folder, role=role,
                        params=params, page_size=page_size(request))
    response = render(request, "mail/_list_partial.html", {
        "tree": tree,
        "folder": folder,
        "folder_label": tree.label(folder),
        "page": page,
        "params": page.params,
        "selectable": request.GET.get("partial") == "list",
    })
    response["Cache-Control"] = "no-store"
    return response
