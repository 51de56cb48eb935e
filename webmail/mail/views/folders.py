"""Folder management: create, rename, delete (POST forms; deleting asks first).

Reached through the mailbox URL so no folder name can collide with a route:
``/mail/<folder>/?manage=folders|rename|delete`` shows a page, and a POST to
``/mail/<folder>/`` with ``action=folder_create|folder_rename|folder_delete`` acts.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _

from webmail.imap.errors import ImapInvalidInput, ImapProtocolError
from webmail.imap.gateway import MailStore
from webmail.mail import services
from webmail.mail.forms import FolderNameForm
from webmail.mail.selectors import FolderTree
from webmail.mail.services import MailActionError
from webmail.mail.views.common import folder_url

MANAGE_PAGES = ("folders", "rename", "delete")


def _protected(tree: FolderTree) -> set[str]:
    return {n.name for n in tree.nodes if n.special_use is not None}


def _parent_of(folder: str, tree: FolderTree) -> str:
    parts = folder.split(tree.delimiter) if tree.delimiter else [folder]
    return tree.delimiter.join(parts[:-1])


def manage_page(request: HttpRequest, *, folder: str, tree: FolderTree, what: str,
                form: FolderNameForm | None = None, status: int = 200) -> HttpResponse:
    """The folder list with create/rename/delete, or the rename form, or the delete question."""
    if what not in MANAGE_PAGES or (what != "folders" and folder in _protected(tree)):
        what = "folders"
    node = tree.get(folder)
    if form is None:
        if what == "rename":
            form = FolderNameForm(initial={"name": node.label if node else folder,
                                           "parent": _parent_of(folder, tree)},
                                  delimiter=tree.delimiter)
        else:
            form = FolderNameForm(initial={"parent": ""}, delimiter=tree.delimiter)
    return render(request, f"mail/folders_{what}.html", {
        "tree": tree,
        "folder": folder,
        "folder_label": tree.label(folder),
        "node": node,
        "form": form,
        "protected": _protected(tree),
        "parents": [n for n in tree.nodes if n.name not in ("INBOX",)],
    }, status=status)


def folder_action(request: HttpRequest, store: MailStore, *, folder: str,
                  tree: FolderTree) -> HttpResponse:
    action = request.POST.get("action", "")
    protected = _protected(tree)
    try:
        if action == "folder_create":
            form = FolderNameForm(request.POST, delimiter=tree.delimiter)
            if not form.is_valid():
                return manage_page(request, folder=folder, tree=tree, what="folders",
                                   form=form, status=400)
            name = services.folder_create(store, name=form.full_name())
            messages.success(request, _("Folder “%(name)s” created.") % {"name": name})
            return HttpResponseRedirect(folder_url(name))
        if action == "folder_rename":
            form = FolderNameForm(request.POST, delimiter=tree.delimiter)
            if not form.is_valid():
                return manage_page(request, folder=folder, tree=tree, what="rename",
                                   form=form, status=400)
            new_name = services.folder_rename(store, folder=folder, new_name=form.full_name(),
                                              protected=protected)
            messages.success(request, _("Folder renamed to “%(name)s”.") % {"name": new_name})
            return HttpResponseRedirect(folder_url(new_name))
        if action == "folder_delete":
            if request.POST.get("confirm") != "1":
                return manage_page(request, folder=folder, tree=tree, what="delete")
            services.folder_delete(store, folder=folder, protected=protected)
            messages.success(request, _("Folder “%(name)s” deleted.") % {"name": folder})
            return HttpResponseRedirect(folder_url("INBOX"))
    except MailActionError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(folder_url(folder))
    except (ImapProtocolError, ImapInvalidInput):
        # The server said no: the name exists already, is not allowed, or the folder has
        # sub-folders.
        messages.error(request, _("The mail server refused that. A folder with that name may "
                                  "exist already, or the folder still has sub-folders."))
        return HttpResponseRedirect(folder_url(folder) + "?manage=folders")
    messages.error(request, _("Unknown folder action."))
    return HttpResponseRedirect(folder_url(folder))
