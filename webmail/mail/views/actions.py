"""Acting on messages (POST only): flags, move, delete, delete for good after a yes.

Used by the mailbox page (the ticked rows) and the message view (that one message).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from webmail.imap.gateway import MailStore
from webmail.imap.types import SpecialUse
from webmail.mail import services
from webmail.mail.forms import MessageActionForm, parse_uids
from webmail.mail.selectors import FolderTree, ListParams
from webmail.mail.services import FlagAction, MailActionError
from webmail.mail.views.common import user_key

_FLAG_DONE = {
    FlagAction.READ: lambda n: ngettext("%(n)d message marked read.",
                                        "%(n)d messages marked read.", n),
    FlagAction.UNREAD: lambda n: ngettext("%(n)d message marked unread.",
                                          "%(n)d messages marked unread.", n),
    FlagAction.FLAG: lambda n: ngettext("%(n)d message flagged.", "%(n)d messages flagged.", n),
    FlagAction.UNFLAG: lambda n: ngettext("%(n)d message unflagged.",
                                          "%(n)d messages unflagged.", n),
}


def perform(request: HttpRequest, store: MailStore, *, folder: str, tree: FolderTree,
            params: ListParams, back: str, uids: list[int] | None = None) -> HttpResponse:
    """Apply the posted action to ``uids`` (or the posted ``uid`` values) and redirect to
    ``back``; deleting for good first renders a confirmation page."""
    form = MessageActionForm(request.POST)
    if uids is None:
        uids = parse_uids(request.POST.getlist("uid"))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return HttpResponseRedirect(back)
    if not uids:
        messages.info(request, _("Select one or more messages first."))
        return HttpResponseRedirect(back)
    action: str = form.cleaned_data["action"]
    key = params.index_key(user_key(request), folder)
    count = len(uids)
    try:
        if action in FlagAction.__members__.values():
            flag_action = FlagAction(action)
            services.message_flag(store, folder=folder, uids=uids, action=flag_action)
            messages.success(request, _FLAG_DONE[flag_action](count) % {"n": count})
        elif action == "move":
            target: str = form.cleaned_data["target"]
            services.message_move(store, folder=folder, uids=uids, target=target,
                                  index_key=key)
            messages.success(request, ngettext(
                "%(n)d message moved to %(folder)s.", "%(n)d messages moved to %(folder)s.",
                count) % {"n": count, "folder": tree.label(target)})
        elif action == "delete":
            if form.cleaned_data["confirm"]:
                services.message_expunge(store, folder=folder, uids=uids, index_key=key)
                messages.success(request, ngettext(
                    "%(n)d message deleted for good.", "%(n)d messages deleted for good.",
                    count) % {"n": count})
            else:
                outcome = services.message_delete(store, folder=folder, uids=uids,
                                                  trash=tree.special(SpecialUse.TRASH),
                                                  index_key=key)
                if outcome.moved_to is None:
                    return render(request, "mail/confirm_delete.html", {
                        "tree": tree, "folder": folder, "uids": uids, "count": count,
                        "back": back, "params": params,
                        "folder_label": tree.label(folder),
                    })
                messages.success(request, ngettext(
                    "%(n)d message moved to the trash.", "%(n)d messages moved to the trash.",
                    count) % {"n": count})
    except MailActionError as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(back)
