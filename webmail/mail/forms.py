"""Parsing what the browser sends to the mail pages.

List parameters are lenient (an unknown sort key falls back to the default) except the search
text, which is refused with ``ImapInvalidInput`` (a 400 page) when it is too long or holds line
breaks. Message ids in forms are parsed strictly: anything but a plain number is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from webmail.imap.errors import ImapInvalidInput
from webmail.imap.types import SearchField, SortKey
from webmail.imap.validate import (
    MAX_FOLDER_LEN,
    MAX_UIDS_PER_CALL,
    check_folder,
    check_search_text,
    parse_uid,
)
from webmail.mail.selectors import ListParams
from webmail.mail.services import FlagAction

MAX_PAGE = 10_000_000


def list_params(data: QueryDict | Mapping[str, Any]) -> ListParams:
    """``ListParams`` from a query string (or the hidden fields of an action form)."""
    text = str(data.get("q") or "")
    check_search_text(text)  # ImapInvalidInput: too long, CR/LF
    if "\x00" in text:
        raise ImapInvalidInput("search text contains a NUL character")
    try:
        sort = SortKey(str(data.get("sort") or "date"))
    except ValueError:
        sort = SortKey.DATE
    try:
        field = SearchField(str(data.get("field") or "all"))
    except ValueError:
        field = SearchField.ALL
    page_text = str(data.get("page") or "1")
    page = int(page_text) if page_text.isascii() and page_text.isdigit() and len(
        page_text) < 9 else 1
    return ListParams(sort=sort, reverse=str(data.get("dir") or "desc") != "asc",
                      page=max(1, min(page, MAX_PAGE)), q=text.strip(), field=field)


def parse_uids(values: list[str]) -> list[int]:
    """Message ids from a form; ``ImapInvalidInput`` for anything that is not one."""
    if len(values) > MAX_UIDS_PER_CALL:
        raise ImapInvalidInput("too many messages at once")
    return sorted({parse_uid(v) for v in values})


ACTION_CHOICES = [
    (FlagAction.READ.value, _("Mark read")),
    (FlagAction.UNREAD.value, _("Mark unread")),
    (FlagAction.FLAG.value, _("Flag")),
    (FlagAction.UNFLAG.value, _("Unflag")),
    ("move", _("Move")),
    ("delete", _("Delete")),
]


class MessageActionForm(forms.Form):
    action = forms.ChoiceField(choices=ACTION_CHOICES)
    target = forms.CharField(required=False, max_length=MAX_FOLDER_LEN, strip=False)
    confirm = forms.BooleanField(required=False)

    def clean_target(self) -> str:
        target: str = self.cleaned_data.get("target") or ""
        if target:
            check_folder(target)
        return target

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "move" and not data.get("target"):
            self.add_error("target", _("Choose a folder to move the messages to."))
        return data


class FolderNameForm(forms.Form):
    """A new folder (``parent`` empty: at the top) or a new name for one."""

    name = forms.CharField(label=_("Name"), max_length=200)
    parent = forms.CharField(label=_("Inside"), required=False, max_length=MAX_FOLDER_LEN,
                             strip=False)

    def __init__(self, *args: Any, delimiter: str = "/", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delimiter = delimiter

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if self.delimiter and self.delimiter in name:
            raise forms.ValidationError(
                _("A folder name cannot contain “%(delimiter)s”."),
                params={"delimiter": self.delimiter})
        try:
            check_folder(name)
        except ImapInvalidInput as exc:
            raise forms.ValidationError(_("That name cannot be used: %(reason)s."),
                                        params={"reason": str(exc)}) from exc
        return name

    def full_name(self) -> str:
        parent = self.cleaned_data.get("parent") or ""
        name: str = self.cleaned_data["name"]
        full = f"{parent}{self.delimiter}{name}" if parent else name
        check_folder(full)
        return full
