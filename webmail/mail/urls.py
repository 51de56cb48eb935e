"""Mail URLs. Folder names are URL-encoded path segments that may contain "/" once decoded,
so the message routes (a number last) come before the mailbox route; see
``views.message.message_view`` for a folder whose last level is a number."""

from __future__ import annotations

from django.urls import URLPattern, path, register_converter

from webmail.mail.views import mailbox, message


class FolderConverter:
    # Anything, line breaks and NUL included: the view refuses bad names with a clear 400
    # instead of a 404 from a route that did not match.
    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class UidConverter:
    regex = r"[0-9]+"  # parsed (and range-checked, 400) in the view

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class SectionConverter:
    regex = r"[0-9]{1,5}(?:\.[0-9]{1,5}){0,49}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(FolderConverter, "folder")
register_converter(UidConverter, "uid")
register_converter(SectionConverter, "section")

app_name = "mail"
urlpatterns: list[URLPattern] = [
    path("", mailbox.inbox_redirect, name="index"),
    path("<folder:folder>/<uid:uid>/body/", message.body_document, name="body"),
    path("<folder:folder>/<uid:uid>/raw/", message.raw_source, name="raw"),
    path("<folder:folder>/<uid:uid>/part/<section:section>/", message.part_download,
         name="part"),
    path("<folder:folder>/<uid:uid>/", message.message_view, name="message"),
    path("<folder:folder>/", mailbox.mailbox_view, name="mailbox"),
]
