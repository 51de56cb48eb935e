"""Sign in (password, then the second factor when it is on) and sign out."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import SecondFactorForm, SignInForm
from accounts.services import (
    pending_sign_in_user,
    user_sign_in,
    user_sign_in_second_factor,
    user_sign_out,
)

_ERRORS = {
    "invalid": _("The address or password is not right."),
    "throttled": _("Too many failed sign-ins. Wait a few minutes and try again."),
    "unavailable": _("The mail server cannot be reached right now. Try again in a moment."),
}
_CODE_ERRORS = {
    "invalid": _("That code is not right. Codes change every 30 seconds; use the newest."),
    "throttled": _("Too many wrong codes. Wait a few minutes and sign in again."),
    "expired": _("Your sign-in took too long. Please sign in again."),
}


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return "/"


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and request.user.is_authenticated:
        return HttpResponseRedirect(_next_url(request))
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = user_sign_in(request, address=form.cleaned_data["username"],
                              password=form.cleaned_data["password"])
        if result.needs_code:
            return HttpResponseRedirect("/login/code/?" + urlencode(
                {"next": _next_url(request)}))
        if result.user is not None:
            return HttpResponseRedirect(_next_url(request))
        form.add_error(None, str(_ERRORS[result.error]))
        status = {"throttled": 429, "unavailable": 503}.get(result.error, 200)
    return render(request, "accounts/login.html",
                  {"form": form, "next": _next_url(request)}, status=status)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """The second step of sign-in: only reachable with a pending (password-proved) sign-in."""
    if request.user.is_authenticated:
        return HttpResponseRedirect(_next_url(request))
    user = pending_sign_in_user(request)
    if user is None:
        return HttpResponseRedirect("/login/?" + urlencode({"next": _next_url(request)}))
    form = SecondFactorForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = user_sign_in_second_factor(request, code=form.cleaned_data["code"])
        if result.user is not None:
            return HttpResponseRedirect(_next_url(request))
        if result.error in ("expired", "throttled"):
            return render(request, "accounts/login.html",
                          {"form": SignInForm(initial={"username": user.get_username()}),
                           "next": _next_url(request),
                           "error": _CODE_ERRORS[result.error]},
                          status=429 if result.error == "throttled" else 200)
        form.add_error(None, str(_CODE_ERRORS[result.error]))
    return render(request, "accounts/login_code.html",
                  {"form": form, "next": _next_url(request), "address": user.get_username()},
                  status=status)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    user_sign_out(request)
    return HttpResponseRedirect("/login/")
