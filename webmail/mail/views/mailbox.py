"""The mailbox page ``/mail/<folder>/``: the folder list, one page of messages, actions."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from webmail.imap.gateway import MailStore
from webmail.imap.types import SpecialUse
from webmail.mail import hooks
from webmail.mail.forms import list_params
from webmail.mail.selectors import FolderTree, folder_tree, mailbox_page
from webmail.mail.views import actions, folders, live
from webmail.mail.views.common import (
    back_url,
    clean_folder,
    folder_url,
    open_store,
    page_size,
    user_key,
)


@login_required
def inbox_redirect(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(folder_url("INBOX"))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def mailbox_view(request: HttpRequest, folder: str) -> HttpResponse:
    """GET: one page of the folder (``?page``, ``?sort``, ``?dir``, ``?q``, ``?field``), or a
    folder-management page (``?manage=folders|create|rename|delete``), or what keeps an open
    page current (``?state=1`` JSON, ``?partial=list|rows``; see ``views.live``).
    POST: an action on the ticked messages, or on the folder itself."""
    folder = clean_folder(folder)
    with open_store(request) as store:
        tree = folder_tree(store)
        if request.method == "POST":
            if request.POST.get("action", "").startswith("folder_"):
                return folders.folder_action(request, store, folder=folder, tree=tree)
            params = list_params(request.POST)
            return actions.perform(request, store, folder=folder, tree=tree, params=params,
                                   back=back_url(request, folder, params))
        if request.GET.get("manage"):
            return folders.manage_page(request, folder=folder, tree=tree,
                                       what=request.GET["manage"])
        if request.GET.get("state"):
            return live.folder_state(request, store, folder=folder, tree=tree)
        if request.GET.get("partial") in live.PARTIALS:
            return live.list_partial(request, store, folder=folder, tree=tree)
        return render_mailbox(request, store, folder=folder, tree=tree)


def render_mailbox(request: HttpRequest, store: MailStore, *, folder: str,
                   tree: FolderTree) -> HttpResponse:
    params = list_params(request.GET)
    role = tree.role(folder)
    state = live.page_state(store, folder)
    page = mailbox_page(store, user_key=user_key(request), folder=folder, role=role,
                        params=params, page_size=page_size(request))
    if role is SpecialUse.INBOX:
        hooks.after_inbox_listing(store, request.user)
    context = {
        "tree": tree,
        "folder": folder,
        "folder_label": tree.label(folder),
        "page": page,
        "params": page.params,
        "move_targets": [n for n in tree.targets if n.name != folder],
        "in_trash": role is SpecialUse.TRASH or tree.special(SpecialUse.TRASH) is None,
        "archive_folder": tree.special(SpecialUse.ARCHIVE) or "",
        "selectable": True,
        "live_state": state,
    }
    return render(request, "mail/mailbox.html", context)
