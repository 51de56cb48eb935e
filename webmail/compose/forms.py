"""Forms of compose and the address book: parsing and validation only, no I/O."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import Identity
from webmail.compose.uploads import is_token
from webmail.mime.addresses import Address, parse_address_list

MAX_RECIPIENTS = 500
MAX_VCF_BYTES = 5 * 1024 * 1024
_LINE_BREAKS = ("\r", "\n", "\x00", "\u2028", "\u2029", "\x85")


def _no_line_breaks(value: str, what: str) -> str:
    if any(ch in value for ch in _LINE_BREAKS):
        raise ValidationError(_("%(what)s cannot contain line breaks."), code="injection",
                              params={"what": what})
    return value


class AddressListField(forms.CharField):
    """A To/Cc/Bcc field: cleans to a list of addresses, one error per refused item."""

    widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                    "class": "recipients"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 64 * 1024)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> list[Address]:
        text = super().clean(value)
        addresses, errors = parse_address_list(text)
        if errors:
            raise ValidationError([ValidationError(e, code="address") for e in errors])
        return addresses


class ComposeForm(forms.Form):
    """What a person writes. ``from_email`` may only be one of ``identities``."""

    token = forms.CharField(widget=forms.HiddenInput)
    from_email = forms.ChoiceField(label=_("From"))
    to = AddressListField(label=_("To"))
    cc = AddressListField(label=_("Cc"))
    bcc = AddressListField(label=_("Bcc"))
    subject = forms.CharField(label=_("Subject"), required=False, max_length=998,
                              widget=forms.TextInput(attrs={"autocomplete": "off"}))
    format = forms.ChoiceField(choices=[("plain", _("Plain text")), ("html", _("Rich text"))],
                               initial="plain", required=False, widget=forms.HiddenInput)
    body = forms.CharField(label=_("Message"), required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 18, "class": "body-text"}))
    body_html = forms.CharField(required=False, strip=False,
                                widget=forms.Textarea(attrs={"hidden": True}))

    def __init__(self, *args: Any, identities: list[Identity], require_recipients: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.identities = {i.email.lower(): i for i in identities}
        self.require_recipients = require_recipients
        field = self.fields["from_email"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(i.email, str(i)) for i in identities]

    def clean_token(self) -> str:
        token: str = self.cleaned_data["token"]
        if not is_token(token):
            raise ValidationError(_("This compose page has expired; open it again."))
        return token

    def clean_subject(self) -> str:
        return _no_line_breaks(self.cleaned_data["subject"], str(_("The subject")))

    def clean_from_email(self) -> str:
        value: str = self.cleaned_data["from_email"]
        _no_line_breaks(value, str(_("The sender")))
        if value.lower() not in self.identities:  # ChoiceField checks too; say it twice
            raise ValidationError(_("You may not send as this address."), code="identity")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        recipients = [*data.get("to", []), *data.get("cc", []), *data.get("bcc", [])]
        if len(recipients) > MAX_RECIPIENTS:
            raise ValidationError(_("At most %(n)d recipients per message."),
                                  params={"n": MAX_RECIPIENTS})
        if self.require_recipients and not recipients and not self.errors:
            self.add_error("to", _("Add at least one recipient."))
        if data.get("format") not in ("plain", "html"):
            data["format"] = "plain"
        return data

    @property
    def identity(self) -> Identity:
        return self.identities[self.cleaned_data["from_email"].lower()]


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    email = forms.CharField(label=_("Address"), max_length=320)
    phone = forms.CharField(label=_("Phone"), max_length=64, required=False)
    notes = forms.CharField(label=_("Notes"), max_length=4000, required=False,
                            widget=forms.Textarea(attrs={"rows": 4}))

    def clean_name(self) -> str:
        return _no_line_breaks(self.cleaned_data["name"], str(_("The name")))

    def clean_phone(self) -> str:
        return _no_line_breaks(self.cleaned_data["phone"], str(_("The phone number")))


class AddFromForm(forms.Form):
    """"Add sender to contacts" from the message view."""

    name = forms.CharField(max_length=200, required=False)
    email = forms.CharField(max_length=320)
    next = forms.CharField(max_length=2000, required=False)

    def clean_name(self) -> str:
        return _no_line_breaks(self.cleaned_data["name"], str(_("The name")))


class VcardImportForm(forms.Form):
    file = forms.FileField(label=_("vCard file (.vcf)"))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_VCF_BYTES:
            raise ValidationError(_("The file is larger than %(mb)d MB."),
                                  params={"mb": MAX_VCF_BYTES // (1024 * 1024)})
        return upload
