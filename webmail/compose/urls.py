"""Compose and the address book (included at the site root)."""

from django.urls import URLPattern, path

from webmail.compose import contacts_views, views

urlpatterns: list[URLPattern] = [
    path("compose/", views.compose, name="compose"),
    path("compose/upload/", views.upload, name="compose-upload"),
    path("compose/upload/<str:upload_id>/delete/", views.upload_remove,
         name="compose-upload-delete"),
    path("compose/draft/", views.draft_save, name="compose-draft-save"),
    path("compose/draft/discard/", views.draft_discard, name="compose-draft-discard"),
    path("compose/inline/<str:token>/<str:upload_id>/", views.inline_image,
         name="compose-inline-image"),
    path("compose/autocomplete/", views.autocomplete, name="compose-autocomplete"),
    path("contacts/", contacts_views.contact_list, name="contacts"),
    path("contacts/new/", contacts_views.contact_new, name="contact-new"),
    path("contacts/import/", contacts_views.contact_import, name="contacts-import"),
    path("contacts/export.vcf", contacts_views.contact_export, name="contacts-export"),
    path("contacts/add-from/", contacts_views.contact_add_from, name="contact-add-from"),
    path("contacts/<int:contact_id>/", contacts_views.contact_edit, name="contact-edit"),
    path("contacts/<int:contact_id>/delete/", contacts_views.contact_delete,
         name="contact-delete"),
]
