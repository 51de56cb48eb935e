"""Compose and the address book (included at the site root)."""

from django.urls import URLPattern, path

from webmail.compose import contacts_views

urlpatterns: list[URLPattern] = [
    path("contacts/", contacts_views.contact_list, name="contacts"),
    path("contacts/new/", contacts_views.contact_new, name="contact-new"),
    path("contacts/import/", contacts_views.contact_import, name="contacts-import"),
    path("contacts/export.vcf", contacts_views.contact_export, name="contacts-export"),
    path("contacts/add-from/", contacts_views.contact_add_from, name="contact-add-from"),
    path("contacts/<int:contact_id>/", contacts_views.contact_edit, name="contact-edit"),
    path("contacts/<int:contact_id>/delete/", contacts_views.contact_delete,
         name="contact-delete"),
]
