"""The address book pages: list and search, add, edit, delete, vCard import and export.

Every contact is looked up through ``contact_get_for_user``, so another user's contact is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from webmail.compose import selectors, services
from webmail.compose.forms import AddFromForm, ContactForm, VcardImportForm
from webmail.compose.vcard import VcardError, cards_parse

PAGE_SIZE = 50


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@login_required
@require_GET
def contact_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[: selectors.MAX_QUERY]
    contacts = selectors.contacts_search(user=_user(request), query=query)
    page = Paginator(contacts, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "compose/contact_list.html", {
        "page": page, "query": query, "import_form": VcardImportForm(),
    })


@login_required
@require_http_methods(["GET", "POST"])
def contact_new(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.contact_create(owner=_user(request), **form.cleaned_data)
        except services.ContactError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(request, _("Contact added."))
            return HttpResponseRedirect("/contacts/?" + urlencode({"q": contact.email}))
    return render(request, "compose/contact_form.html", {"form": form, "contact": None},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = selectors.contact_get_for_user(user=_user(request), contact_id=contact_id)
    initial = {"name": contact.name, "email": contact.email, "phone": contact.phone,
               "notes": contact.notes}
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_update(contact=contact, **form.cleaned_data)
        except services.ContactError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(request, _("Contact saved."))
            return HttpResponseRedirect("/contacts/")
    return render(request, "compose/contact_form.html", {"form": form, "contact": contact},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def contact_delete(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = selectors.contact_get_for_user(user=_user(request), contact_id=contact_id)
    services.contact_delete(contact=contact)
    messages.success(request, _("Contact deleted."))
    return HttpResponseRedirect("/contacts/")


@login_required
@require_http_methods(["GET", "POST"])
def contact_import(request: HttpRequest) -> HttpResponse:
    form = VcardImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            cards, without = cards_parse(upload.read())
        except VcardError as exc:
            form.add_error("file", _("This is not a vCard file we can read (%(why)s).")
                           % {"why": exc})
        else:
            result = services.contacts_import(owner=_user(request), cards=cards,
                                              without_address=without)
            messages.success(request, _(
                "Imported: %(created)d added, %(updated)d updated, %(invalid)d without a "
                "valid address skipped.") % {"created": result.created,
                                             "updated": result.updated,
                                             "invalid": result.invalid})
            return HttpResponseRedirect("/contacts/")
    return render(request, "compose/contact_import.html", {"form": form},
                  status=400 if form.errors else 200)


@login_required
@require_GET
def contact_export(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(selectors.contacts_export(user=_user(request)),
                            content_type="text/vcard; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="contacts.vcf"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def contact_add_from(request: HttpRequest) -> HttpResponse:
    form = AddFromForm(request.POST)
    target = "/contacts/"
    if form.is_valid():
        candidate = form.cleaned_data["next"]
        if candidate and url_has_allowed_host_and_scheme(
                candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
            target = candidate
        try:
            contact, created = services.contact_add_from(
                owner=_user(request), name=form.cleaned_data["name"],
                email=form.cleaned_data["email"])
        except services.ContactError as exc:
            messages.error(request, _("Not added to contacts: %(why)s") % {"why": exc})
            return HttpResponseRedirect(target)
        if created:
            messages.success(request, _("%(who)s added to your contacts.") % {"who": contact})
        else:
            messages.info(request, _("%(who)s is already in your contacts.") % {"who": contact})
        return HttpResponseRedirect(target)
    messages.error(request, _("Not added to contacts: the address is missing."))
    return HttpResponseRedirect(target)
