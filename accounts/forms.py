from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


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
