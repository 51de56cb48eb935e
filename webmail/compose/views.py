"""The compose page and its helpers: uploads, drafts, recipient suggestions.

A compose page is a *compose session* named by a random token (a hidden field): its uploaded
files and what it replies to live in ``uploads.py``'s directory for (user, token), so every
request finds them again without trusting the browser for anything but the token.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Identity, User
from accounts.selectors import user_settings
from webmail import mailconn
from webmail.compose import drafts, htmlquote, inline, prefill, selectors, services, uploads
from webmail.compose.forms import ComposeForm
from webmail.imap.errors import ImapError, ImapNotFound
from webmail.mime.compose import Attachment, ComposeError, InlinePart
from webmail.outbox.services import AlreadyQueued, OutgoingRefused, identities_for
from webmail.sanitize import sanitize_compose_html

log = logging.getLogger(__name__)

_KINDS = (("reply", gettext_lazy("Reply")), ("reply_all", gettext_lazy("Reply to all")),
          ("forward", gettext_lazy("Forward")), ("draft", gettext_lazy("Draft")))


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _signature(identity: Identity) -> str:
    return identity.signature.strip().replace("\r\n", "\n")


def _store_files(request: HttpRequest, user: User, token: str) -> tuple[list[str], list[str]]:
    """Files of the plain file input (the page without JavaScript): their ids and errors."""
    ids, errors = [], []
    for upload in request.FILES.getlist("files"):
        try:
            ids.append(uploads.upload_store(user_id=user.pk, token=token,
                                            filename=upload.name or "",
                                            chunks=upload.chunks()).id)
        except uploads.UploadError as exc:
            errors.append(_("“%(name)s” was not attached: %(why)s")
                          % {"name": upload.name, "why": exc})
    return ids, errors


def _chosen_attachments(request: HttpRequest, user: User, token: str,
                        new: list[str]) -> list[Attachment]:
    """The session's files whose checkbox was sent, and those of this very post (a file
    unticked on the page without JavaScript is left out)."""
    wanted = {*request.POST.getlist("attachment"), *new}
    files = []
    for up in uploads.uploads_list(user_id=user.pk, token=token):
        if up.id in wanted and not up.is_inline:
            data = uploads.upload_read(user_id=user.pk, token=token, upload_id=up.id)
            files.append(Attachment(filename=up.filename, content_type=up.content_type,
                                    data=data))
    return files


def _message_data(user: User, token: str, data: dict[str, Any]
                  ) -> tuple[dict[str, Any], list[InlinePart]]:
    """The form's data with the editor's image URLs turned back into ``cid:`` references, and
    the session's images (``compose_spec`` keeps those the body refers to)."""
    files = uploads.uploads_list(user_id=user.pk, token=token)
    data = dict(data)
    data["body_html"] = inline.to_cids(str(data.get("body_html") or ""), token=token,
                                       items=files)
    return data, inline.session_parts(user_id=user.pk, token=token, items=files)


def _page(request: HttpRequest, form: ComposeForm, identities: list[Identity], *,
          heading: str, token: str, attachment_errors: list[str] | None = None,
          status: int = 200) -> HttpResponse:
    user = _user(request)
    chosen = (form["from_email"].value() or "").lower()
    idents = [{"email": i.email, "label": str(i), "signature": _signature(i),
               "selected": i.email.lower() == chosen} for i in identities]
    if not any(i["selected"] for i in idents) and idents:
        idents[0]["selected"] = True
    state = uploads.state_read(user_id=user.pk, token=token)
    files = uploads.uploads_list(user_id=user.pk, token=token)
    # The editor's HTML goes back into the page only sanitized, even when it is the user's own;
    # its images are then shown from our own URL.
    body_html = inline.to_urls(sanitize_compose_html(inline.to_cids(
        str(form["body_html"].value() or ""), token=token, items=files)), token=token,
        items=files)
    response = render(request, "compose/compose.html", {
        "form": form, "identities": idents, "heading": heading,
        "address_fields": [form["to"], form["cc"], form["bcc"]],
        "uploads": [u for u in files if not u.is_inline],
        "attachment_errors": attachment_errors or [],
        "budget": uploads.attachment_budget(), "state": state,
        "body_html": body_html, "rich": form["format"].value() == "html" and bool(body_html),
        "autosave_ms": int(getattr(settings, "WEBMAIL_COMPOSE_AUTOSAVE_SECONDS", 20) * 1000),
    }, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


def _prefill_for(request: HttpRequest, identities: list[Identity]) -> tuple[prefill.Prefill, str]:
    """The prefill a GET asks for (``?reply=``, ``?reply_all=``, ``?forward=``, ``?draft=``),
    and the page heading. Raises ``Http404`` for a bad reference or a draft outside Drafts."""
    own = [i.email for i in identities]
    signatures = {i.email: _signature(i) for i in identities}
    rich = user_settings(_user(request)).compose_format == "html"
    for kind, heading in _KINDS:
        value = request.GET.get(kind)
        if value is None:
            continue
        try:
            folder, uid = prefill.parse_ref(value)
        except prefill.RefError as exc:
            raise Http404("not a message reference") from exc
        with mailconn.mail_store(request) as store:
            if kind == "draft" and folder != drafts.drafts_folder(store):
                raise Http404("only messages in Drafts can be resumed")
            raw = store.fetch_message(folder, uid)
        if kind == "draft":
            return prefill.draft_prefill(raw, folder=folder, uid=uid), str(heading)
        if kind == "forward":
            return prefill.forward_prefill(raw, folder=folder, uid=uid, own=own,
                                           signature_for=signatures, rich=rich), str(heading)
        return prefill.reply_prefill(raw, folder=folder, uid=uid, own=own,
                                     reply_all=kind == "reply_all", signature_for=signatures,
                                     rich=rich), str(heading)
    start = prefill.Prefill(to=request.GET.get("to", "")[:2000])
    default = identities[0] if identities else None
    if default is not None and _signature(default):
        start.body = f"\n\n-- \n{_signature(default)}\n"
    if rich:
        start.format = "html"
        start.body_html = "<div><br></div>" + htmlquote.signature_html(
            _signature(default) if default is not None else "")
    return start, _("New message")


def _start(request: HttpRequest, identities: list[Identity]) -> HttpResponse:
    user = _user(request)
    start, heading = _prefill_for(request, identities)
    token = start.token or uploads.new_token()
    if start.token:  # a resumed draft: its files replace whatever the session held
        uploads.session_discard(user_id=user.pk, token=token)
    errors = []
    for filename, ctype, data in start.attachments:
        try:
            uploads.upload_store(user_id=user.pk, token=token, filename=filename,
                                 chunks=[data], content_type=ctype)
        except uploads.UploadError as exc:
            errors.append(_("“%(name)s” was not attached: %(why)s")
                          % {"name": filename, "why": exc})
    stored: dict[str, str] = {}
    for part in start.inline:
        try:
            uploads.upload_store(user_id=user.pk, token=token, filename=part.filename,
                                 chunks=[part.data], content_type=part.content_type,
                                 content_id=part.content_id)
            stored[part.content_id] = part.content_id
        except uploads.UploadError as exc:
            errors.append(_("“%(name)s” was not attached: %(why)s")
                          % {"name": part.filename, "why": exc})
    if start.inline:  # an image the session could not keep is not shown either
        start.body_html = htmlquote.rename_cids(start.body_html, stored)
    if start.state != uploads.ComposeState():
        uploads.state_write(user_id=user.pk, token=token, state=start.state)
    own = {i.email.lower(): i.email for i in identities}
    form = ComposeForm(initial={
        "token": token, "from_email": own.get(start.from_email.lower(), ""),
        "to": start.to, "cc": start.cc, "bcc": start.bcc, "subject": start.subject,
        "body": start.body, "body_html": start.body_html, "format": start.format,
    }, identities=identities)
    return _page(request, form, identities, heading=heading, token=token,
                 attachment_errors=errors)


def _refused(form: ComposeForm, exc: ComposeError) -> None:
    field = exc.field if exc.field in ("to", "cc", "bcc", "subject") else None
    form.add_error(field, _("This cannot be sent: %(why)s") % {"why": exc.message})


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def compose(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    identities = identities_for(user)
    if request.method == "GET":
        return _start(request, identities)
    data: QueryDict = request.POST
    token = data.get("token", "")
    if not uploads.is_token(token):  # a damaged page: carry on in a new session
        token = uploads.new_token()
        data = request.POST.copy()
        data["token"] = token
    new_files, file_errors = _store_files(request, user, token)
    form = ComposeForm(data, identities=identities)
    if form.is_valid() and not file_errors:
        token = form.cleaned_data["token"]
        state = uploads.state_read(user_id=user.pk, token=token)
        try:
            data_, images = _message_data(user, token, form.cleaned_data)
            spec = services.compose_spec(
                identity=form.identity, data=data_, state=state, inline=images,
                attachments=_chosen_attachments(request, user, token, new_files),
                message_id=drafts.send_message_id(token, form.identity.email))
            message = services.message_send(
                user=user, identity=form.identity, spec=spec, origin=state.origin,
                smtp_password=mailconn.session_credentials(request).password)
        except ComposeError as exc:
            _refused(form, exc)
        except AlreadyQueued as exc:
            messages.info(request, _("This message was already sent."))
            target = f"/outbox/{exc.existing_pk}/" if exc.existing_pk else "/outbox/"
            return HttpResponseRedirect(target)
        except OutgoingRefused as exc:
            form.add_error(None, str(exc))
        else:
            _forget_draft(request, user, token, state)
            messages.info(request, _("Sending…"))
            return HttpResponseRedirect(f"/outbox/{message.pk}/")
    return _page(request, form, identities, heading=_heading(user, token), token=token,
                 attachment_errors=file_errors, status=400)


def _heading(user: User, token: str) -> str:
    """The page title again after a refused post: what the session was started as."""
    state = uploads.state_read(user_id=user.pk, token=token)
    if state.origin_kind == "forward":
        return _("Forward")
    if state.origin_kind == "reply":
        return _("Reply")
    return _("Draft") if state.draft_uid else _("New message")


def _forget_draft(request: HttpRequest, user: User, token: str,
                  state: uploads.ComposeState) -> None:
    """After sending: remove the draft (if any) and the session's files. The message is
    queued already, so a mail-server hiccup here is a warning, not a failure."""
    try:
        with mailconn.mail_store(request) as store:
            folder = drafts.drafts_folder(store)
            drafts.draft_delete(
                store, folder=folder, message_id=drafts.draft_message_id(token, user.username),
                uids=[state.draft_uid] if state.draft_uid and state.draft_folder == folder else [])
    except ImapNotFound:
        pass  # no Drafts folder: no draft
    except ImapError as exc:
        log.warning("draft of a sent message not removed: %s", exc)
        messages.warning(request, _("The message is queued, but its draft could not be "
                                    "removed from Drafts."))
    uploads.session_discard(user_id=user.pk, token=token)


@login_required
@require_POST
def draft_save(request: HttpRequest) -> HttpResponse:
    """Save the form as the session's draft (the Save button and compose.js autosave)."""
    user = _user(request)
    identities = identities_for(user)
    form = ComposeForm(request.POST, identities=identities, require_recipients=False)
    token = request.POST.get("token", "")
    new_files, file_errors = (_store_files(request, user, token) if uploads.is_token(token)
                              else ([], []))
    if not form.is_valid() or file_errors:
        if _wants_json(request):
            return JsonResponse({"error": _("The draft was not saved: correct the marked "
                                            "fields."), "errors": form.errors}, status=400)
        return _page(request, form, identities, heading=_("Draft"),
                     token=token if uploads.is_token(token) else uploads.new_token(),
                     attachment_errors=file_errors, status=400)
    token = form.cleaned_data["token"]
    state = uploads.state_read(user_id=user.pk, token=token)
    try:
        data_, images = _message_data(user, token, form.cleaned_data)
        spec = services.compose_spec(identity=form.identity, data=data_, state=state,
                                     inline=images,
                                     attachments=_chosen_attachments(request, user, token,
                                                                     new_files))
        built = drafts.draft_build(spec, token=token, owner=user.username, state=state)
    except ComposeError as exc:
        if _wants_json(request):
            return JsonResponse({"error": _("The draft was not saved: %(why)s")
                                 % {"why": exc.message}}, status=400)
        _refused(form, exc)
        return _page(request, form, identities, heading=_("Draft"), token=token, status=400)
    with mailconn.mail_store(request) as store:
        folder = drafts.drafts_folder(store)
        previous = [state.draft_uid] if state.draft_uid and state.draft_folder == folder else []
        saved = drafts.draft_save(store, built=built, folder=folder, previous_uids=previous)
    state.draft_folder, state.draft_uid = saved.folder, saved.uid or 0
    uploads.state_write(user_id=user.pk, token=token, state=state)
    if _wants_json(request):
        return JsonResponse({"saved": timezone.localtime().strftime("%H:%M"),
                             "folder": saved.folder, "uid": saved.uid})
    messages.success(request, _("Draft saved."))
    if saved.uid:
        return HttpResponseRedirect("/compose/?draft=" + prefill.make_ref(saved.folder,
                                                                          saved.uid))
    return HttpResponseRedirect("/")


@login_required
@require_POST
def draft_discard(request: HttpRequest) -> HttpResponse:
    """Throw the message away: every version of its draft and its uploaded files."""
    user = _user(request)
    token = request.POST.get("token", "")
    if not uploads.is_token(token):
        raise Http404("no compose session")
    state = uploads.state_read(user_id=user.pk, token=token)
    removed = 0
    with mailconn.mail_store(request) as store:
        folder = drafts.drafts_folder(store)
        try:
            removed = drafts.draft_delete(
                store, folder=folder, message_id=drafts.draft_message_id(token, user.username),
                uids=[state.draft_uid] if state.draft_uid and state.draft_folder == folder
                else [])
        except ImapNotFound:
            removed = 0
    uploads.session_discard(user_id=user.pk, token=token)
    if _wants_json(request):
        return JsonResponse({"discarded": True, "removed": removed})
    messages.success(request, _("Draft discarded.") if removed else _("Message discarded."))
    return HttpResponseRedirect("/")


@login_required
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    """One attachment from compose.js (XHR, with a progress bar); answers JSON."""
    user = _user(request)
    token = request.POST.get("token", "")
    file = request.FILES.get("file")
    if not uploads.is_token(token) or file is None:
        return JsonResponse({"error": _("Nothing to upload.")}, status=400)
    try:
        stored = uploads.upload_store(user_id=user.pk, token=token, filename=file.name or "",
                                      chunks=file.chunks())
    except uploads.UploadError as exc:
        return JsonResponse({"error": str(exc)}, status=413)
    return JsonResponse({"id": stored.id, "filename": stored.filename, "size": stored.size,
                         "content_type": stored.content_type})


@login_required
@require_POST
def upload_remove(request: HttpRequest, upload_id: str) -> HttpResponse:
    user = _user(request)
    token = request.POST.get("token", "")
    if not uploads.is_token(token) or not uploads.upload_delete(
            user_id=user.pk, token=token, upload_id=upload_id):
        return JsonResponse({"error": _("No such attachment.")}, status=404)
    return JsonResponse({"removed": upload_id})


@login_required
@require_GET
def inline_image(request: HttpRequest, token: str, upload_id: str) -> HttpResponse:
    """An image of the session's HTML body, for the editor. Only the raster types the editor
    shows, never as a document: anything else is not found."""
    user = _user(request)
    if not uploads.is_token(token):
        raise Http404("no compose session")
    found = next((u for u in uploads.uploads_list(user_id=user.pk, token=token)
                  if u.id == upload_id and u.is_inline), None)
    if found is None or found.content_type not in htmlquote.INLINE_TYPES:
        raise Http404("no such image")
    try:
        data = uploads.upload_read(user_id=user.pk, token=token, upload_id=found.id)
    except uploads.UploadError as exc:
        raise Http404("no such image") from exc
    response = HttpResponse(data, content_type=found.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = "inline"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_GET
def autocomplete(request: HttpRequest) -> HttpResponse:
    """Recipient suggestions for compose.js: ``{"results": [{name, email, label}, ...]}``."""
    results: list[dict[str, Any]] = [
        s.as_json() for s in selectors.recipient_suggestions(
            user=_user(request), query=request.GET.get("q", ""))]
    response = JsonResponse({"results": results})
    response["Cache-Control"] = "private, no-store"
    return response
