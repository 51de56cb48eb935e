"""Turning two-factor sign-in on and off, and the recovery codes (shown once)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.forms import TotpCodeForm
from accounts.models import AuditEntry, User
from accounts.services import audit, client_ip
from accounts.twofactor import (
    manual_key,
    otpauth_uri,
    qr_svg,
    recovery_codes_generate,
    recovery_codes_left,
    second_factor_verify,
    totp_begin,
    totp_confirm,
    totp_pending,
    two_factor_disable,
    two_factor_enabled,
    two_factor_required,
)

PAGE_URL = "/settings/two-factor/"


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _page(request: HttpRequest, *, form: TotpCodeForm | None = None, status: int = 200
          ) -> HttpResponse:
    user = _user(request)
    pending = None if two_factor_enabled(user) else totp_pending(user)
    return render(request, "accounts/two_factor.html", {
        "enabled": two_factor_enabled(user),
        "required": two_factor_required(user),
        "pending": pending,
        "otpauth_uri": otpauth_uri(pending) if pending else "",
        "manual_key": manual_key(pending) if pending else "",
        "form": form or TotpCodeForm(),
        "recovery_left": recovery_codes_left(user),
    }, status=status)


def _codes_page(request: HttpRequest, codes: list[str]) -> HttpResponse:
    response = render(request, "accounts/recovery_codes.html", {"codes": codes})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@never_cache
@require_GET
def two_factor(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def two_factor_start(request: HttpRequest) -> HttpResponse:
    if not two_factor_enabled(_user(request)):
        totp_begin(user=_user(request))
    return HttpResponseRedirect(PAGE_URL + "#setup")


@login_required
@never_cache
@require_GET
def two_factor_qr(request: HttpRequest) -> HttpResponse:
    """The pending key as a QR code; gone once the key is confirmed."""
    pending = totp_pending(_user(request))
    if pending is None or two_factor_enabled(_user(request)):
        raise Http404
    response = HttpResponse(qr_svg(otpauth_uri(pending)), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


@login_required
@require_POST
def two_factor_confirm(request: HttpRequest) -> HttpResponse:
    form = TotpCodeForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    codes = totp_confirm(user=_user(request), code=form.cleaned_data["code"])
    if codes is None:
        form.add_error("code", _("That code does not match. Check the time on your phone "
                                 "and enter the newest code."))
        return _page(request, form=form, status=400)
    audit(AuditEntry.Kind.SECURITY_CHANGE, actor=_user(request),
          subject=_user(request).get_username(), ip=client_ip(request),
          detail="two-factor sign-in turned on")
    return _codes_page(request, codes)


def _verified_code(request: HttpRequest) -> TotpCodeForm | None:
    """A valid, correct authenticator code in the POST, else the form with its error."""
    form = TotpCodeForm(request.POST)
    if form.is_valid():
        verified = second_factor_verify(user=_user(request), code=form.cleaned_data["code"])
        if verified is not None:
            return None
        form.add_error("code", _("That code is not right."))
    return form


@login_required
@require_POST
def two_factor_recovery_codes(request: HttpRequest) -> HttpResponse:
    if not two_factor_enabled(_user(request)):
        return HttpResponseRedirect(PAGE_URL)
    bad = _verified_code(request)
    if bad is not None:
        return _page(request, form=bad, status=400)
    audit(AuditEntry.Kind.SECURITY_CHANGE, actor=_user(request),
          subject=_user(request).get_username(), ip=client_ip(request),
          detail="new recovery codes made")
    return _codes_page(request, recovery_codes_generate(user=_user(request)))


@login_required
@require_POST
def two_factor_off(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if two_factor_required(user):
        messages.error(request, _("Your organisation requires two-factor sign-in; it cannot "
                                  "be turned off."))
        return HttpResponseRedirect(PAGE_URL)
    if two_factor_enabled(user):
        bad = _verified_code(request)
        if bad is not None:
            return _page(request, form=bad, status=400)
    two_factor_disable(user=user)
    audit(AuditEntry.Kind.SECURITY_CHANGE, actor=user, subject=user.get_username(),
          ip=client_ip(request), detail="two-factor sign-in turned off")
    messages.success(request, _("Two-factor sign-in is off."))
    return HttpResponseRedirect(PAGE_URL)
