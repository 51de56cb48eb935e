"""Outbox pages: the list, one message's attempts and the retry/cancel actions.

Thin: parse, authorize (every read goes through ``selectors.*_for_user`` / ``user=``; another
user's row is a 404, never a 403 that would confirm it exists), call one service, render.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from webmail.outbox import selectors, services
from webmail.outbox.models import OutgoingMessage


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # login_required ran first; this keeps mypy honest
        raise Http404()
    return user


def _page_number(request: HttpRequest) -> int:
    value = request.GET.get("page", "1")
    return int(value) if value.isdigit() and 0 < len(value) < 6 else 1


@login_required
@require_GET
def outbox_list(request: HttpRequest) -> HttpResponse:
    page = selectors.outbox_page(user=_user(request), page=_page_number(request))
    return render(request, "outbox/list.html", {"page": page})


@login_required
@require_GET
def outbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        detail = selectors.outbox_detail_for_user(user=_user(request), pk=pk)
    except OutgoingMessage.DoesNotExist:
        raise Http404() from None
    return render(request, "outbox/detail.html", {"detail": detail})


@login_required
@require_POST
def outbox_retry(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.outgoing_retry_now(user=_user(request), pk=pk)
        messages.success(request, _("It will be sent again now."))
    except OutgoingMessage.DoesNotExist:
        raise Http404() from None
    except services.OutboxActionRefused as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(f"/outbox/{pk}/")


@login_required
@require_POST
def outbox_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.outgoing_cancel(user=_user(request), pk=pk)
        messages.success(request, _("Cancelled: it will not be sent."))
    except OutgoingMessage.DoesNotExist:
        raise Http404() from None
    except services.OutboxActionRefused as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(f"/outbox/{pk}/")
