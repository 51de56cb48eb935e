"""The admin site: Django's admin, signed into through the webmail's own /login/.

Django's admin login form would call ``authenticate()`` directly and so skip the second
factor and the sign-in throttle; here the admin's login URL only sends people to /login/.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _


class WebmailAdminSite(admin.AdminSite):
    site_header = _("Webmail administration")
    site_title = _("Webmail administration")
    index_title = _("Accounts, servers and delivery")
    site_url = "/"
    enable_nav_sidebar = True

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None
              ) -> HttpResponse:
        if request.user.is_authenticated:
            # Signed in but not staff (or disabled since): a plain refusal, no redirect loop.
            return render(request, "admin/not_staff.html", {"site_header": self.site_header},
                          status=403)
        target = request.GET.get(REDIRECT_FIELD_NAME) or "/admin/"
        if not target.startswith("/admin/"):
            target = "/admin/"
        return HttpResponseRedirect("/login/?" + urlencode({"next": target}))

    def get_app_list(self, request: HttpRequest, app_label: str | None = None
                     ) -> list[Any]:
        """The outbox's entry also lists the delivery console's pages."""
        apps = super().get_app_list(request, app_label)
        for app in apps:
            if app.get("app_label") != "outbox":
                continue
            for name, url_name in ((_("Delivery summary"), "outbox_outgoingmessage_summary"),
                                   (_("Bounced addresses"), "outbox_outgoingmessage_bounced")):
                try:
                    url = reverse(f"{self.name}:{url_name}")
                except NoReverseMatch:
                    continue
                app["models"].append({"name": name, "object_name": url_name,
                                      "admin_url": url, "add_url": None, "view_only": True,
                                      "perms": {"view": True}})
        return apps

    def logout(self, request: HttpRequest,  # type: ignore[override]
               extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # The admin's "Log out" button: the webmail's sign-out (closes the IMAP connections).
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        from accounts.services import user_sign_out

        user_sign_out(request)
        return HttpResponseRedirect("/login/")


class WebmailAdminConfig(AdminConfig):
    """``django.contrib.admin`` with this site (INSTALLED_APPS names this class instead)."""

    default_site = "accounts.admin_site.WebmailAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers every app's admin module
        hide_second_factor_secrets()


def hide_second_factor_secrets() -> None:
    """django-otp's own admins show TOTP keys and recovery codes; an admin resets a user's
    second factor from the user page instead. Groups mean nothing here (staff is the one
    admin role), so they go too."""
    from django.contrib.auth.models import Group
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for model in (TOTPDevice, StaticDevice, Group):
        if admin.site.is_registered(model):
            admin.site.unregister(model)
