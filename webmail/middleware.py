"""Security headers for every response, and one place that maps mail errors to pages."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from webmail.imap.errors import (
    ImapAuthError,
    ImapError,
    ImapInvalidInput,
    ImapNotFound,
    ImapUnavailable,
)
from webmail.mailconn import NotSignedIn

log = logging.getLogger(__name__)

# App pages: scripts only from our own files (no inline script, no eval); styles from our own
# files; frames only our own body documents; nothing may frame us.
APP_CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


class SecurityHeadersMiddleware:
    """Adds the app CSP unless a view set its own (the message body document does)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = APP_CSP
        response.setdefault("X-Content-Type-Options", "nosniff")
        response.setdefault("Permissions-Policy",
                            "camera=(), microphone=(), geolocation=(), payment=()")
        return response


class MailErrorMiddleware:
    """Gateway errors become friendly pages, never a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, NotSignedIn | ImapAuthError):
            from django.contrib.auth import logout

            logout(request)
            return HttpResponseRedirect("/login/?" + urlencode({"next": request.path}))
        if isinstance(exc, ImapUnavailable):
            log.warning("mail server unavailable for %s: %s", request.path, exc)
            return _error(request, 503, _("The mail server is not answering"),
                          _("Your mail is safe on the server. Try again in a moment."))
        if isinstance(exc, ImapNotFound):
            return _error(request, 404, _("Not found"),
                          _("That folder or message does not exist (any more)."))
        if isinstance(exc, ImapInvalidInput):
            return _error(request, 400, _("That request is not valid"), str(exc))
        if isinstance(exc, ImapError):
            log.error("mail server error for %s: %s", request.path, exc)
            return _error(request, 502, _("The mail server refused that"),
                          _("The server said no to this request. Try again or pick another "
                            "action."))
        return None


def _error(request: HttpRequest, status: int, title: str, text: str) -> HttpResponse:
    return render(request, "error.html", {"title": title, "text": text}, status=status)
