"""The admin panel: users, domains, mail-server profiles, identities and the audit log.

The delivery console (outbox counts, bounces, retry/cancel) is in ``admin_delivery``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import admin_delivery  # noqa: F401  (registers the delivery console)
from accounts.admin_audit import AuditedAdmin
from accounts.models import AuditEntry, Domain, Identity, ServerProfile, User, UserSession
from accounts.probe import ProfileCheck, profile_check
from accounts.services import client_ip
from accounts.users import (
    AdminActionRefused,
    user_end_sessions,
    user_set_active,
    user_set_staff,
    user_two_factor_reset,
)
from webmail.imap.types import Credentials

RECENT = timedelta(days=7)


def _actor(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


# --- users -----------------------------------------------------------------------------------

class DomainListFilter(admin.SimpleListFilter):
    title = _("domain")
    parameter_name = "domain"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(d, d) for d in Domain.objects.order_by("name").values_list("name", flat=True)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(username__iendswith="@" + str(self.value()))
        return queryset


class TwoFactorListFilter(admin.SimpleListFilter):
    title = _("two-factor sign-in")
    parameter_name = "two_factor"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("on", str(_("on"))), ("off", str(_("off")))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        enrolled = TOTPDevice.objects.filter(confirmed=True).values("user_id")
        if self.value() == "on":
            return queryset.filter(pk__in=enrolled)
        if self.value() == "off":
            return queryset.exclude(pk__in=enrolled)
        return queryset


class UserCreateForm(forms.ModelForm[User]):
    """New accounts are made by address; the password stays with the IMAP server."""

    username = forms.EmailField(label=_("Mail address"), max_length=150,
                                help_text=_("The address the person signs in with."))

    class Meta:
        model = User
        fields = ["username", "is_staff"]

    def clean_username(self) -> str:
        address = str(self.cleaned_data["username"]).strip().lower()
        if User.objects.filter(username__iexact=address).exists():
            raise forms.ValidationError(_("An account for this address exists already."))
        return address


class UserChangeForm(forms.ModelForm[User]):
    class Meta:
        model = User
        fields = ["is_active", "is_staff", "first_name", "last_name",
                  "max_messages_per_hour", "max_recipients_per_message", "max_message_bytes"]


class IdentityInline(admin.StackedInline[Identity, User]):
    model = Identity
    extra = 0
    fields = (("email", "is_default"), "display_name", "signature")
    verbose_name = _("identity (From address the user may send as)")
    verbose_name_plural = _("identities (From addresses the user may send as)")


@admin.register(User)
class WebmailUserAdmin(AuditedAdmin[User]):
    form = UserChangeForm
    add_form = UserCreateForm
    list_display = ("username", "is_active", "is_staff", "two_factor", "last_login",
                    "failures_recent", "date_joined")
    list_filter = ("is_active", "is_staff", TwoFactorListFilter, DomainListFilter)
    search_fields = ("username", "first_name", "last_name")
    ordering = ("username",)
    list_per_page = 50
    inlines = [IdentityInline]
    actions = ["end_sessions", "disable_users", "enable_users", "grant_staff", "revoke_staff",
               "reset_two_factor"]
    readonly_fields = ("username", "last_login", "date_joined", "two_factor", "sessions",
                       "sign_in_activity")
    fieldsets = (
        (None, {"fields": ("username", ("first_name", "last_name"))}),
        (_("Access"), {"fields": ("is_active", "is_staff", "two_factor"),
                       "description": _("A disabled user is signed out everywhere at once "
                                        "and cannot sign in. Staff may use this admin panel.")}),
        (_("Sending limits"), {
            "fields": ("max_messages_per_hour", "max_recipients_per_message",
                       "max_message_bytes"),
            "description": _("The stricter of the user's and the domain's limit applies; "
                             "where neither is set, the server default does.")}),
        (_("Activity"), {"fields": ("last_login", "date_joined", "sessions",
                                    "sign_in_activity")}),
    )
    add_fieldsets = ((None, {"fields": ("username", "is_staff")}),)

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        if obj is None:
            return ()
        fields = list(self.readonly_fields)
        if obj.pk == getattr(request.user, "pk", None):
            fields += ["is_active", "is_staff"]  # no locking oneself out by a click
        return fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False,
                 **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: User | None) -> Any:
        return self.inlines if obj is not None else []

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        since = timezone.now() - RECENT
        failures = (AuditEntry.objects
                    .filter(kind=AuditEntry.Kind.SIGN_IN_FAILED, created__gte=since,
                            subject=OuterRef("username"))
                    .values("subject").annotate(n=Count("pk")).values("n"))
        from django_otp.plugins.otp_totp.models import TOTPDevice

        return super().get_queryset(request).annotate(
            recent_failures=Coalesce(Subquery(failures), 0),
            has_totp=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not change:
            # Signs in with the IMAP password only: no Django password at all.
            obj.username = obj.username.strip().lower()
            obj.email = obj.username
            obj.set_unusable_password()
            super().save_model(request, obj, form, change)
            return
        was_active = User.objects.filter(pk=obj.pk).values_list("is_active", flat=True).first()
        super().save_model(request, obj, form, change)
        if was_active and not obj.is_active:
            ended = user_end_sessions(user=obj, actor=_actor(request), ip=client_ip(request))
            self.message_user(request, ngettext(
                "%(user)s is disabled; %(n)d session was ended.",
                "%(user)s is disabled; %(n)d sessions were ended.", ended)
                % {"user": obj.username, "n": ended})

    @admin.display(description=_("2FA"), boolean=True)
    def two_factor(self, obj: User) -> bool:
        return bool(getattr(obj, "has_totp", False))

    @admin.display(description=_("failed sign-ins (7 days)"), ordering="recent_failures")
    def failures_recent(self, obj: User) -> int:
        return int(getattr(obj, "recent_failures", 0))

    @admin.display(description=_("open sessions"))
    def sessions(self, obj: User) -> str:
        rows = UserSession.objects.filter(user=obj).order_by("-created")[:10]
        if not rows:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join(
            "", "<li>{} · {}</li>",
            ((timezone.localtime(r.created).strftime("%Y-%m-%d %H:%M"), r.ip or "?")
             for r in rows)))

    @admin.display(description=_("recent sign-ins and failures"))
    def sign_in_activity(self, obj: User) -> str:
        entries = AuditEntry.objects.filter(
            subject__iexact=obj.username,
            kind__in=[AuditEntry.Kind.SIGN_IN, AuditEntry.Kind.SIGN_IN_FAILED],
        ).order_by("-created")[:15]
        if not entries:
            return "—"
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>", _("when"), _("what"), _("from"), _("detail"),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
                (timezone.localtime(e.created).strftime("%Y-%m-%d %H:%M:%S"),
                 e.get_kind_display(), e.ip or "", e.detail) for e in entries)))

    # --- actions --------------------------------------------------------------------------

    def _each(self, request: HttpRequest, queryset: QuerySet[User], action: Any,
              done: str) -> None:
        count, refused = 0, []
        for user in queryset:
            try:
                if action(user):
                    count += 1
            except AdminActionRefused as exc:
                refused.append(str(exc))
        self.message_user(request, done % {"n": count}, messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.WARNING)

    @admin.action(description=_("End all sessions of the selected users"))
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        total = sum(user_end_sessions(user=u, actor=_actor(request), ip=client_ip(request))
                    for u in queryset)
        self.message_user(request, ngettext("Ended %(n)d session.", "Ended %(n)d sessions.",
                                            total) % {"n": total})

    @admin.action(description=_("Disable the selected users (ends their sessions)"))
    def disable_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(request, queryset, lambda u: user_set_active(
            user=u, active=False, actor=_actor(request), ip=client_ip(request)),
            str(_("Disabled %(n)d user(s).")))

    @admin.action(description=_("Enable the selected users"))
    def enable_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(request, queryset, lambda u: user_set_active(
            user=u, active=True, actor=_actor(request), ip=client_ip(request)),
            str(_("Enabled %(n)d user(s).")))

    @admin.action(description=_("Grant staff (admin panel access)"))
    def grant_staff(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(request, queryset, lambda u: user_set_staff(
            user=u, staff=True, actor=_actor(request), ip=client_ip(request)),
            str(_("Granted staff to %(n)d user(s).")))

    @admin.action(description=_("Revoke staff"))
    def revoke_staff(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(request, queryset, lambda u: user_set_staff(
            user=u, staff=False, actor=_actor(request), ip=client_ip(request)),
            str(_("Revoked staff of %(n)d user(s).")))

    @admin.action(description=_("Reset two-factor sign-in (lost phone)"))
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            user_two_factor_reset(user=user, actor=_actor(request), ip=client_ip(request))
        self.message_user(request, _("Two-factor sign-in was reset for %(n)d user(s).")
                          % {"n": queryset.count()})


# --- domains and server profiles -------------------------------------------------------------

@admin.register(Domain)
class DomainAdmin(AuditedAdmin[Domain]):
    list_display = ("name", "profile", "auto_create_accounts", "require_two_factor",
                    "max_messages_per_hour", "max_recipients_per_message", "max_message_bytes")
    list_filter = ("auto_create_accounts", "require_two_factor", "profile")
    search_fields = ("name", "profile__name")
    list_select_related = ("profile",)
    fieldsets = (
        (None, {"fields": ("name", "profile")}),
        (_("Sign-in"), {"fields": ("auto_create_accounts", "require_two_factor"),
                        "description": _("Without automatic accounts, only users an admin "
                                         "created may sign in.")}),
        (_("Sending limits for each user of the domain"), {
            "fields": ("max_messages_per_hour", "max_recipients_per_message",
                       "max_message_bytes"),
            "description": _("A user's own limit applies when it is stricter.")}),
    )


class DomainInline(admin.TabularInline[Domain, ServerProfile]):
    model = Domain
    extra = 0
    fields = ("name", "auto_create_accounts", "require_two_factor")
    show_change_link = True


class ProbeCredentialForm(forms.Form):
    address = forms.EmailField(label=_("Test address"), required=False,
                               help_text=_("Optional: also try signing in (IMAP LOGIN and, "
                                           "when the profile uses it, SMTP AUTH)."))
    password = forms.CharField(label=_("Password"), required=False, strip=False,
                               widget=forms.PasswordInput(render_value=False))

    def credentials(self) -> Credentials | None:
        address = self.cleaned_data.get("address")
        password = self.cleaned_data.get("password")
        return Credentials(address, password) if address and password else None


@admin.register(ServerProfile)
class ServerProfileAdmin(AuditedAdmin[ServerProfile]):
    list_display = ("name", "imap_server", "smtp_server", "smtp_auth", "domain_count",
                    "last_check_ok", "last_checked")
    list_filter = ("imap_security", "smtp_security", "smtp_auth", "last_check_ok")
    search_fields = ("name", "imap_host", "smtp_host", "domains__name")
    inlines = [DomainInline]
    actions = ["test_connection"]
    readonly_fields = ("last_checked", "last_check_ok", "check_report")
    fieldsets = (
        (None, {"fields": ("name",)}),
        (_("IMAP (reading mail)"), {"fields": (("imap_host", "imap_port"), "imap_security",
                                               "timeout")}),
        (_("SMTP (sending mail)"), {"fields": (("smtp_host", "smtp_port"), "smtp_security",
                                               "smtp_auth", "smtp_timeout")}),
        (_("Last connection test"), {"fields": ("last_checked", "last_check_ok",
                                                "check_report")}),
    )
    change_form_template = "admin/accounts/serverprofile/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ServerProfile]:
        return super().get_queryset(request).annotate(n_domains=Count("domains"))

    @admin.display(description=_("IMAP"))
    def imap_server(self, obj: ServerProfile) -> str:
        return f"{obj.imap_host}:{obj.imap_port} ({obj.get_imap_security_display()})"

    @admin.display(description=_("SMTP"))
    def smtp_server(self, obj: ServerProfile) -> str:
        return f"{obj.smtp_host}:{obj.smtp_port} ({obj.get_smtp_security_display()})"

    @admin.display(description=_("domains"), ordering="n_domains")
    def domain_count(self, obj: ServerProfile) -> int:
        return int(getattr(obj, "n_domains", 0))

    @admin.display(description=_("report"))
    def check_report(self, obj: ServerProfile) -> str:
        return format_html("<pre>{}</pre>", obj.last_check_report) if obj.last_check_report \
            else "—"

    def get_urls(self) -> list[URLPattern]:
        return [path("<int:pk>/test/", self.admin_site.admin_view(self.test_view),
                     name="accounts_serverprofile_test"), *super().get_urls()]

    def _results(self, request: HttpRequest, checks: list[ProfileCheck],
                 form: ProbeCredentialForm | None = None,
                 profile: ServerProfile | None = None) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": _("Connection test"), "checks": checks, "form": form,
                   "profile": profile}
        return TemplateResponse(request, "admin/accounts/serverprofile/probe_results.html",
                                context)

    @admin.action(description=_("Test connection (IMAP and SMTP, without signing in)"))
    def test_connection(self, request: HttpRequest, queryset: QuerySet[ServerProfile]
                        ) -> TemplateResponse:
        checks = [profile_check(p) for p in queryset.order_by("name")]
        return self._results(request, checks)

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """One profile's test, optionally signing in with a test credential (POST)."""
        profile = get_object_or_404(ServerProfile, pk=pk)
        if not self.has_view_permission(request, profile):
            raise PermissionDenied
        form = ProbeCredentialForm(request.POST or None)
        checks: list[ProfileCheck] = []
        if request.method == "POST" and form.is_valid():
            checks = [profile_check(profile, credentials=form.credentials())]
        return self._results(request, checks, form=form, profile=profile)


# --- identities and the audit log ------------------------------------------------------------

@admin.register(Identity)
class IdentityAdmin(AuditedAdmin[Identity]):
    list_display = ("email", "user", "display_name", "is_default")
    list_filter = ("is_default",)
    search_fields = ("email", "display_name", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    fieldsets = ((None, {"fields": ("user", "email", "is_default")}),
                 (_("Shown to recipients"), {"fields": ("display_name", "signature")}))


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    list_display = ("created", "kind", "actor", "subject", "ip", "short_detail")
    list_filter = ("kind", "created")
    search_fields = ("subject", "detail", "actor__username", "ip")
    date_hierarchy = "created"
    list_select_related = ("actor",)
    list_per_page = 100
    readonly_fields = ("created", "kind", "actor", "subject", "ip", "detail")

    @admin.display(description=_("detail"))
    def short_detail(self, obj: AuditEntry) -> str:
        return obj.detail if len(obj.detail) <= 100 else obj.detail[:99] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
