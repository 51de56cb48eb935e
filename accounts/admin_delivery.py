"""The delivery console in the admin: outcome counts per user and domain, outgoing messages
filterable by recipient outcome with their attempts and server replies, bulk retry and
cancel, and the bounced addresses.

Builds on the outbox's own read-only ``OutgoingMessageAdmin`` (webmail/outbox/admin.py) and
re-registers it with the console's filters, actions and pages.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _

from accounts.delivery_stats import GROUPS, PERIODS, delivery_summary, period_start
from accounts.models import AuditEntry, User
from accounts.services import audit, client_ip
from webmail.outbox import admin as outbox_admin
from webmail.outbox.models import OutgoingMessage, OutgoingRecipient, RecipientState

PERIOD_LABELS = {"today": _("today"), "7d": _("last 7 days"), "30d": _("last 30 days")}


class PeriodFilter(admin.SimpleListFilter):
    title = _("created")
    parameter_name = "period"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(PERIOD_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in PERIODS:
            return queryset.filter(created__gte=period_start(str(self.value())))
        return queryset


class RecipientOutcomeFilter(admin.SimpleListFilter):
    title = _("a recipient's outcome")
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(group, group) for group in GROUPS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        states = GROUPS.get(str(self.value()))
        if states:
            return queryset.filter(recipients__state__in=states).distinct()
        return queryset


class SenderDomainFilter(admin.SimpleListFilter):
    title = _("sender's domain")
    parameter_name = "domain"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        from accounts.models import Domain

        names = list(Domain.objects.order_by("name").values_list("name", flat=True))
        if self.value() and self.value() not in names:
            names.append(str(self.value()))
        return [(n, n) for n in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(user__username__iendswith="@" + str(self.value()))
        return queryset


class SenderFilter(admin.SimpleListFilter):
    """By user id; lists only the chosen user (a list of every user would not scale)."""

    title = _("sender")
    parameter_name = "user"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        value = self.value()
        if value and str(value).isdigit():
            user = User.objects.filter(pk=int(value)).first()
            if user is not None:
                return [(str(user.pk), user.username)]
        return []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and str(value).isdigit():
            return queryset.filter(user_id=int(value))
        return queryset


class DeliveryConsoleAdmin(outbox_admin.OutgoingMessageAdmin):
    list_display = ("created", "user", "from_email", "subject", "state", "recipient_outcomes",
                    "attempts", "next_attempt_at")
    # The base class has only field names; filters are classes too.
    list_filter = (PeriodFilter, RecipientOutcomeFilter, "state",  # type: ignore[assignment]
                   SenderDomainFilter, SenderFilter, "sent_copy_done")
    list_select_related = ("user",)
    actions = ["retry_now", "cancel_sending"]
    change_list_template = "admin/outbox/outgoingmessage/console_change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutgoingMessage]:
        return super().get_queryset(request).prefetch_related(
            Prefetch("recipients", queryset=OutgoingRecipient.objects.only(
                "message_id", "state")))

    @admin.display(description=_("recipients"))
    def recipient_outcomes(self, obj: OutgoingMessage) -> str:
        counts: dict[str, int] = {}
        for rcpt in obj.recipients.all():
            counts[rcpt.state] = counts.get(rcpt.state, 0) + 1
        return ", ".join(f"{n} {RecipientState(state).label}" for state, n in
                         sorted(counts.items()))

    def _bulk(self, request: HttpRequest, queryset: QuerySet[OutgoingMessage], verb: str
              ) -> None:
        from webmail.outbox import services

        action = services.outgoing_retry_now if verb == "retry" else services.outgoing_cancel
        done, refused = [], 0
        for message in queryset.select_related("user"):
            try:
                action(user=message.user, pk=message.pk)
            except services.OutboxActionRefused:
                refused += 1
            else:
                done.append(message.pk)
        if done:
            actor = request.user if isinstance(request.user, User) else None
            audit(AuditEntry.Kind.ADMIN_CHANGE, actor=actor, subject="outbox",
                  ip=client_ip(request),
                  detail=f"{verb} {len(done)} outgoing message(s): ids {done}")
        if verb == "retry":
            text = _("%(done)d message(s) will be tried again now; %(refused)d were not "
                     "queued or deferred.")
        else:
            text = _("%(done)d message(s) cancelled; %(refused)d were being sent or done.")
        self.message_user(request, text % {"done": len(done), "refused": refused},
                          messages.SUCCESS if done else messages.WARNING)

    @admin.action(description=_("Retry now (queued or deferred messages)"))
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutgoingMessage]) -> None:
        self._bulk(request, queryset, "retry")

    @admin.action(description=_("Cancel (queued or deferred messages)"))
    def cancel_sending(self, request: HttpRequest, queryset: QuerySet[OutgoingMessage]
                       ) -> None:
        self._bulk(request, queryset, "cancel")

    def get_urls(self) -> list[URLPattern]:
        return [
            path("summary/", self.admin_site.admin_view(self.summary_view),
                 name="outbox_outgoingmessage_summary"),
            path("bounced/", self.admin_site.admin_view(self.bounced_view),
                 name="outbox_outgoingmessage_bounced"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: Any, period: str) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.model._meta,
                "title": title, "period": period, "periods": PERIOD_LABELS,
                "groups": list(GROUPS)}

    def summary_view(self, request: HttpRequest) -> TemplateResponse:
        """Recipients by outcome per user and per domain over today / 7 / 30 days."""
        period = request.GET.get("period", "7d")
        period = period if period in PERIODS else "7d"
        summary = delivery_summary(since=period_start(period))
        return TemplateResponse(request, "admin/outbox/outgoingmessage/summary.html", {
            **self._context(request, _("Delivery summary"), period), "summary": summary})

    def bounced_view(self, request: HttpRequest) -> TemplateResponse:
        """Bounced addresses with the reason and date, newest first."""
        period = request.GET.get("period", "30d")
        period = period if period in PERIODS else "30d"
        query = request.GET.get("q", "").strip()
        rows = (OutgoingRecipient.objects
                .filter(state=RecipientState.BOUNCED, updated__gte=period_start(period))
                .select_related("message__user").order_by("-updated"))
        if query:
            rows = rows.filter(address__icontains=query)
        page = Paginator(rows, 100).get_page(request.GET.get("page"))
        return TemplateResponse(request, "admin/outbox/outgoingmessage/bounced.html", {
            **self._context(request, _("Bounced addresses"), period), "page": page,
            "q": query})


if admin.site.is_registered(OutgoingMessage):
    admin.site.unregister(OutgoingMessage)
admin.site.register(OutgoingMessage, DeliveryConsoleAdmin)
