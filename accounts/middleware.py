"""Per-request user preferences, and the two-factor enrolment a domain may require.

``UserPreferencesMiddleware`` goes right after ``AuthenticationMiddleware``: it activates the
user's language and time zone for the request and puts ``request.user_theme`` there for
``<html data-theme>``. ``TwoFactorEnrolmentMiddleware`` follows it: a user of a domain that
requires two-factor sign-in, without it yet, can reach only the enrolment pages and sign-out.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone, translation

from accounts.models import Theme
from accounts.selectors import user_settings

ENROLMENT_URL = "/settings/two-factor/"
_OPEN_DURING_ENROLMENT = ("/settings/two-factor/", "/logout/", "/login/", "/static/",
                          "/healthz")


class UserPreferencesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.languages = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.user_theme = Theme.SYSTEM.value  # type: ignore[attr-defined]
        activated_zone = False
        if request.user.is_authenticated:
            prefs = user_settings(request.user)
            request.user_settings = prefs  # type: ignore[attr-defined]
            request.user_theme = prefs.theme  # type: ignore[attr-defined]
            if prefs.language and prefs.language in self.languages:
                translation.activate(prefs.language)
                request.LANGUAGE_CODE = prefs.language
            if prefs.time_zone:
                try:
                    timezone.activate(zoneinfo.ZoneInfo(prefs.time_zone))
                    activated_zone = True
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    pass  # a zone removed from the system since: the server's zone
        try:
            return self.get_response(request)
        finally:
            if activated_zone:
                timezone.deactivate()


class TwoFactorEnrolmentMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not request.path.startswith(
                _OPEN_DURING_ENROLMENT):
            from accounts.twofactor import two_factor_enabled, two_factor_required

            user = request.user
            if two_factor_required(user) and not two_factor_enabled(user):
                if request.headers.get("HX-Request"):
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = ENROLMENT_URL
                    return response
                return HttpResponseRedirect(ENROLMENT_URL)
        return self.get_response(request)
