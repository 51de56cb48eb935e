from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.models import UserSettings
from accounts.preferences import time_zone_names


class SignInForm(forms.Form):
    username = forms.CharField(
        label=_("Email address"), max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(
        label=_("Password"), max_length=1024, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def clean_username(self) -> str:
        value: str = self.cleaned_data["username"].strip().lower()
        if "@" not in value or any(ch in value for ch in "\r\n\0 "):
            raise forms.ValidationError(_("Enter your full email address."))
        return value


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        label=_("Code"), max_length=32, strip=True,
        help_text=_("The 6-digit code from your authenticator app, or one of your recovery "
                    "codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True,
                                      "inputmode": "text", "spellcheck": "false",
                                      "autocapitalize": "off"}))


class TotpCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app"), max_length=12, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "pattern": "[0-9 ]*"}))

    def clean_code(self) -> str:
        value = "".join(self.cleaned_data["code"].split())
        if not value.isdigit() or len(value) != 6:
            raise forms.ValidationError(_("Enter the 6 digits your app shows."))
        return value


class UserSettingsForm(forms.ModelForm[UserSettings]):
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False)
    language = forms.ChoiceField(label=_("Language"), required=False)

    class Meta:
        model = UserSettings
        fields = ["display_name", "page_size", "remote_content", "time_zone", "language",
                  "theme", "compose_format"]
        widgets = {
            "remote_content": forms.RadioSelect,
            "theme": forms.RadioSelect,
            "compose_format": forms.RadioSelect,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zone_field = self.fields["time_zone"]
        language_field = self.fields["language"]
        assert isinstance(zone_field, forms.ChoiceField)
        assert isinstance(language_field, forms.ChoiceField)
        zone_field.choices = [
            ("", _("The server's time zone (%(zone)s)") % {"zone": settings.TIME_ZONE}),
            *[(name, name.replace("_", " ")) for name in time_zone_names()],
        ]
        language_field.choices = [("", _("The browser's language")),
                                           *settings.LANGUAGES]


class IdentityForm(forms.Form):
    email = forms.EmailField(widget=forms.HiddenInput)
    display_name = forms.CharField(label=_("Display name"), max_length=200, required=False)
    signature = forms.CharField(label=_("Signature"), required=False, max_length=4000,
                                widget=forms.Textarea(attrs={"rows": 4}))


class DefaultIdentityForm(forms.Form):
    email = forms.EmailField()


class RemoteSenderForm(forms.Form):
    sender = forms.EmailField(label=_("Sender address"), max_length=254)

    def clean_sender(self) -> str:
        return str(self.cleaned_data["sender"]).strip().lower()
