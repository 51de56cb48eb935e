"""The user's settings page: preferences, identities and signatures, remote-content senders."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import DefaultIdentityForm, IdentityForm, RemoteSenderForm, UserSettingsForm
from accounts.models import Identity, Theme, User
from accounts.preferences import (
    identity_set_default,
    identity_update,
    own_identities,
    remote_allowance_add,
    remote_allowance_remove,
    settings_save,
)
from accounts.selectors import user_settings
from accounts.twofactor import recovery_codes_left, two_factor_enabled, two_factor_required

SETTINGS_URL = "/settings/"


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required ran first
    return user


def _page(request: HttpRequest, form: UserSettingsForm | None = None,
          identity_forms: dict[str, IdentityForm] | None = None, status: int = 200
          ) -> HttpResponse:
    user = _user(request)
    prefs = user_settings(user)
    identities = own_identities(user)
    forms = identity_forms or {}
    rows = [(identity, forms.get(identity.email.lower()) or IdentityForm(
        initial={"email": identity.email, "display_name": identity.display_name,
                 "signature": identity.signature}, prefix=f"id{index}"))
            for index, identity in enumerate(identities)]
    return render(request, "accounts/settings.html", {
        "form": form or UserSettingsForm(instance=prefs),
        "identity_rows": rows,
        "default_email": next((i.email for i in identities if i.is_default),
                              identities[0].email),
        "allowances": user.remote_allowances.all(),
        "sender_form": RemoteSenderForm(),
        "two_factor_on": two_factor_enabled(user),
        "two_factor_required": two_factor_required(user),
        "recovery_left": recovery_codes_left(user),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    form = UserSettingsForm(request.POST, instance=user_settings(_user(request)))
    if not form.is_valid():
        return _page(request, form=form, status=400)
    settings_save(user=_user(request), values=form.cleaned_data)
    messages.success(request, _("Your settings are saved."))
    return HttpResponseRedirect(SETTINGS_URL)


@login_required
@require_POST
def theme_save(request: HttpRequest) -> HttpResponse:
    """The header's light/dark toggle: only the theme, in one request (204; 400 when the
    value is not a theme). The settings page saves it with everything else."""
    theme = str(request.POST.get("theme", ""))
    if theme not in Theme.values:
        return HttpResponse(status=400)
    settings_save(user=_user(request), values={"theme": theme})
    return HttpResponse(status=204)


@login_required
@require_POST
def identity_save(request: HttpRequest) -> HttpResponse:
    prefix = request.POST.get("prefix", "")
    if not prefix.startswith("id") or not prefix[2:].isdigit():
        raise Http404
    form = IdentityForm(request.POST, prefix=prefix)
    if not form.is_valid():
        email = str(request.POST.get(f"{prefix}-email", "")).lower()
        return _page(request, identity_forms={email: form}, status=400)
    try:
        identity_update(user=_user(request), email=form.cleaned_data["email"],
                        display_name=form.cleaned_data["display_name"],
                        signature=form.cleaned_data["signature"])
    except Identity.DoesNotExist:
        raise Http404 from None
    messages.success(request, _("Saved the display name and signature of %(address)s.")
                     % {"address": form.cleaned_data["email"]})
    return HttpResponseRedirect(SETTINGS_URL + "#identities")


@login_required
@require_POST
def identity_default(request: HttpRequest) -> HttpResponse:
    form = DefaultIdentityForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400)
    try:
        identity_set_default(user=_user(request), email=form.cleaned_data["email"])
    except Identity.DoesNotExist:
        raise Http404 from None
    messages.success(request, _("New messages are sent from %(address)s by default.")
                     % {"address": form.cleaned_data["email"]})
    return HttpResponseRedirect(SETTINGS_URL + "#identities")


@login_required
@require_POST
def remote_sender_add(request: HttpRequest) -> HttpResponse:
    form = RemoteSenderForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter a sender's full address."))
        return HttpResponseRedirect(SETTINGS_URL + "#remote")
    remote_allowance_add(user=_user(request), sender=form.cleaned_data["sender"])
    return HttpResponseRedirect(SETTINGS_URL + "#remote")


@login_required
@require_POST
def remote_sender_remove(request: HttpRequest) -> HttpResponse:
    remote_allowance_remove(user=_user(request), sender=str(request.POST.get("sender", "")))
    return HttpResponseRedirect(SETTINGS_URL + "#remote")
