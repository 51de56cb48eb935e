"""One message: the view, its body document, its source, its parts.

The body is never part of the app page. ``body/`` is our own minimal HTML document holding the
sanitized body, shown in ``<iframe sandbox="allow-popups allow-popups-to-escape-sandbox">``
(no scripts, no same-origin) and served with its own strict CSP; remote images load only when
the owner asked for them (``?remote=1``, which only changes what is displayed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import RemotePolicy as RemotePolicyChoice
from accounts.models import UserSettings
from accounts.preferences import remote_allowance_add
from accounts.selectors import remote_allowed, user_settings
from webmail.compose.models import Contact
from webmail.imap.errors import ImapError, ImapNotFound
from webmail.imap.gateway import MailStore
from webmail.imap.types import Address, SpecialUse
from webmail.imap.validate import parse_uid
from webmail.mail.bodies import RenderedBody, cached_body, message_content, message_digest
from webmail.mail.forms import list_params
from webmail.mail.parts import INLINE_IMAGE_TYPES, download_type, stream_decoded, stream_text
from webmail.mail.selectors import (
    FolderTree,
    ListParams,
    MailboxPage,
    folder_tree,
    mailbox_page,
    message_neighbours,
    message_page,
    message_summary,
)
from webmail.mail.views import actions, live
from webmail.mail.views.common import (
    back_url,
    clean_folder,
    compose_url,
    folder_url,
    message_url,
    open_store,
    page_size,
    part_url,
    user_key,
)
from webmail.mail.views.mailbox import render_mailbox
from webmail.outbox.selectors import MessageDelivery, delivery_for_message_id
from webmail.sanitize import RemotePolicy

log = logging.getLogger(__name__)


def body_csp(remote: bool) -> str:
    """The body document's own policy: no scripts, no forms, no fonts, images only from us
    (and data:), plus https: when the owner chose to show remote content."""
    # No 'self': inline cid: images are embedded as data: URIs, so a body never needs to
    # request anything from the webmail itself (no same-origin requests from mail content).
    images = "data: https:" if remote else "data:"
    return "; ".join([
        "default-src 'none'",
        f"img-src {images}",
        "style-src 'unsafe-inline'",
        "font-src 'none'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'self'",
        "sandbox allow-popups allow-popups-to-escape-sandbox",
    ])


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def message_view(request: HttpRequest, folder: str, uid: str) -> HttpResponse:
    """GET: the message (marks it \\Seen). POST: an action on it, then the next message."""
    folder = clean_folder(folder)
    with open_store(request) as store:
        tree = folder_tree(store)
        # "/mail/Archive/2024/" is also the mailbox of a folder named "Archive/2024": the
        # decoded path cannot tell them apart, the folder list can.
        nested = f"{folder}{tree.delimiter}{uid}" if tree.delimiter == "/" else ""
        if nested and tree.get(nested) is not None:
            if request.method == "POST":
                return HttpResponseRedirect(folder_url(nested))
            return render_mailbox(request, store, folder=nested, tree=tree)
        number = parse_uid(uid)
        params = list_params(request.GET if request.method == "GET" else request.POST)
        if request.method == "POST":
            previous_uid, next_uid, _pos, _total = message_neighbours(
                store, user_key=user_key(request), folder=folder, uid=number, params=params)
            after = next_uid or previous_uid
            default = (message_url(folder, after) if after else folder_url(folder)) \
                + params.querystring()
            action = request.POST.get("action", "")
            if action == "allow_remote":
                return _allow_remote(request, store, folder, number,
                                     message_url(folder, number) + params.item_query)
            stays = action in ("read", "unread", "flag", "unflag")
            back = back_url(request, folder, params) if stays else default
            return actions.perform(request, store, folder=folder, tree=tree, params=params,
                                   back=back, uids=[number])
        # ?remote=1 / ?remote=0 is the owner's choice for this view (it changes only what is
        # displayed); without it their standing preference for the sender decides.
        choice = {"1": True, "0": False}.get(request.GET.get("remote", ""))
        page = message_page(store, user_key=user_key(request), folder=folder, uid=number,
                            params=params, remote=choice,
                            max_bytes=settings.WEBMAIL_MAX_MESSAGE_BYTES,
                            allow_remote=lambda sender: remote_allowed(
                                request.user, sender, _prefs(request)))  # type: ignore[arg-type]
        size = page_size(request)
        list_page = (page.position - 1) // size + 1 if page.position else 1
        state = live.page_state(store, folder)
        listing = _listing(request, store, folder=folder, tree=tree,
                           params=replace(params, page=list_page), size=size)
    here = message_url(folder, number)
    query = params.querystring(page=1)
    context = {
        "tree": tree,
        "folder": folder,
        "folder_label": tree.label(folder),
        "m": page,
        "params": params,
        "query": query,
        "here": here,
        "back": folder_url(folder) + params.querystring(page=list_page),
        "previous_url": message_url(folder, page.previous_uid) + query
        if page.previous_uid else "",
        "next_url": message_url(folder, page.next_uid) + query if page.next_uid else "",
        "body_url": here + "body/" + ("?remote=1" if page.remote else ""),
        "remote_url": here + (query + "&" if query else "?") + "remote=1",
        "plain_url": here + (query + "&" if query else "?") + "remote=0",
        # "Always show from …" only means something when the user's policy consults the
        # per-sender list ("known" senders); "never" and "always" ignore it.
        "sender": page.summary.sender[0].email if page.summary.sender
        and _prefs(request).remote_content == RemotePolicyChoice.KNOWN
        else "",
        "raw_url": here + "raw/",
        "reply_url": compose_url("reply", folder, number),
        "reply_all_url": compose_url("reply_all", folder, number),
        "forward_url": compose_url("forward", folder, number),
        "draft_url": compose_url("draft", folder, number),
        "is_draft": tree.role(folder) is SpecialUse.DRAFTS,
        "move_targets": [n for n in tree.targets if n.name != folder],
        "archive_folder": tree.special(SpecialUse.ARCHIVE) or "",
        "listing": listing,
        "live_state": state,
        "delivery": _delivery(request, page.summary.message_id),
        "contact_candidate": _contact_candidate(request, page.summary.sender),
        "attachments": [(a, part_url(folder, number, a.section))
                        for a in (page.digest.attachments if page.digest else ())],
    }
    return render(request, "mail/message.html", context)


def _prefs(request: HttpRequest) -> UserSettings:
    """The user's settings, as ``UserPreferencesMiddleware`` put them on the request."""
    prefs = getattr(request, "user_settings", None)
    if isinstance(prefs, UserSettings):
        return prefs
    return user_settings(request.user)  # type: ignore[arg-type]


def _delivery(request: HttpRequest, message_id: str) -> MessageDelivery | None:
    """Per-recipient delivery chips when this is a message the user sent from here."""
    if not message_id:
        return None
    return delivery_for_message_id(request.user, message_id)  # type: ignore[arg-type]


def _contact_candidate(request: HttpRequest, senders: tuple[Address, ...]) -> Address | None:
    """The sender, for "Add sender to contacts", unless already a contact or the user."""
    if not senders or not senders[0].email:
        return None
    sender = senders[0]
    email = sender.email.lower()
    if email == request.user.get_username().lower() or Contact.objects.filter(
            owner=request.user, email=email).exists():  # type: ignore[misc]
        return None
    return sender


def _listing(request: HttpRequest, store: MailStore, *, folder: str, tree: FolderTree,
             params: ListParams, size: int) -> MailboxPage | None:
    """The list page the message is on, shown beside it on wide screens (CSS hides it on
    narrow ones). Its failure must not hide the message, so it gives None."""
    try:
        return mailbox_page(store, user_key=user_key(request), folder=folder,
                            role=tree.role(folder), params=params, page_size=size)
    except ImapError:
        return None


def _allow_remote(request: HttpRequest, store: MailStore, folder: str, uid: int,
                  back: str) -> HttpResponse:
    """Remember to show remote content from this message's sender (a standing preference)."""
    summary = message_summary(store, folder, uid)
    sender = summary.sender[0].email if summary.sender else ""
    try:
        remote_allowance_add(user=request.user, sender=sender)  # type: ignore[arg-type]
    except ValueError:
        messages.error(request, _("This message has no sender address to remember."))
    else:
        messages.success(request, _("Remote images from %(sender)s will be shown from now on.")
                         % {"sender": sender})
    return HttpResponseRedirect(back)


_BODY_SLOT = "\x00body\x00"


@login_required
@xframe_options_sameorigin
@require_GET
def body_document(request: HttpRequest, folder: str, uid: str) -> HttpResponse:
    """The sanitized body as its own document (for the sandboxed iframe only)."""
    folder = clean_folder(folder)
    number = parse_uid(uid)
    remote = request.GET.get("remote") == "1"
    too_large = False
    policy = RemotePolicy.ALLOW if remote else RemotePolicy.BLOCK
    body: RenderedBody | None
    with open_store(request) as store:
        # Made when the message page was shown (only ever for a message within the size
        # limit): no need to ask the server about the message again.
        body = cached_body(store, user_key=user_key(request), folder=folder, uid=number,
                           policy=policy)
        if body is None:
            if message_summary(store, folder, number).size > settings.WEBMAIL_MAX_MESSAGE_BYTES:
                too_large = True
            else:
                _digest, body = message_content(
                    store, user_key=user_key(request), folder=folder, uid=number,
                    policy=policy)
    has_body = body is not None and bool(body.html)
    page = render_to_string("mail/body.html", {
        # The sanitizer's output (or text_to_html's escaped text) goes where this slot is: the
        # one place where mail content is marked safe, inside a document with its own CSP and
        # no scripts. It is put in as bytes encoded once per body (a newsletter is a megabyte).
        "body": mark_safe(_BODY_SLOT) if has_body else "",  # noqa: S308
        "too_large": too_large,
    }, request)
    head, _slot, tail = page.partition(_BODY_SLOT)
    content = head.encode() + (body.html_bytes if body is not None and has_body else b"") \
        + tail.encode()
    response = HttpResponse(content)
    response["Content-Security-Policy"] = body_csp(remote)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private"
    return response


def _guarded(chunks: Iterator[bytes], what: str) -> Iterator[bytes]:
    """A stream that ends (cut short) instead of raising once the response has started."""
    try:
        yield from chunks
    except ImapError as exc:
        log.warning("mail stream of %s stopped: %s", what, exc)


@login_required
@require_GET
def raw_source(request: HttpRequest, folder: str, uid: str) -> StreamingHttpResponse:
    """The message source as UTF-8 text (bad bytes replaced), or ``?download=1`` as .eml.
    Streamed in ranges, so a large message never sits in memory whole."""
    folder = clean_folder(folder)
    number = parse_uid(uid)
    with open_store(request) as store:
        summary = message_summary(store, folder, number)

    def chunks() -> Iterator[bytes]:
        with open_store(request) as store:
            yield from stream_decoded(
                lambda offset, length: store.fetch_part(folder, number, "", offset, length),
                "7bit")

    if request.GET.get("download") == "1":
        response = StreamingHttpResponse(_guarded(chunks(), "source"),
                                         content_type="message/rfc822")
        name = (summary.subject or "message")[:80] + ".eml"
        response["Content-Disposition"] = content_disposition_header(True, name) or "attachment"
    else:
        text = (t.encode("utf-8") for t in stream_text(_guarded(chunks(), "source")))
        response = StreamingHttpResponse(text, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_GET
def part_download(request: HttpRequest, folder: str, uid: str,
                  section: str) -> StreamingHttpResponse:
    """One part, decoded while it streams. ``?inline=1`` shows PNG, GIF, JPEG and WebP images
    inline (for the body's ``cid:`` images); everything else, SVG included, downloads."""
    folder = clean_folder(folder)
    number = parse_uid(uid)
    with open_store(request) as store:
        info = message_digest(store, user_key=user_key(request), folder=folder,
                              uid=number).part(section)
    if info is None:
        raise ImapNotFound(f"no part {section} in message {number}")
    ctype = download_type(info.content_type)
    inline = request.GET.get("inline") == "1" and ctype in INLINE_IMAGE_TYPES

    def chunks() -> Iterator[bytes]:
        with open_store(request) as store:
            yield from stream_decoded(
                lambda offset, length: store.fetch_part(folder, number, section, offset,
                                                        length),
                info.encoding)

    response = StreamingHttpResponse(_guarded(chunks(), f"part {section}"), content_type=ctype)
    response["Content-Disposition"] = content_disposition_header(
        not inline, info.filename or "attachment") or "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
