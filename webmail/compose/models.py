"""The address book: one row per (owner, address)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class Contact(models.Model):
    """Someone the owner writes to. ``email`` is stored lower-cased (see ``services``)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="contacts")
    name = models.CharField(_("name"), max_length=200, blank=True)
    email = models.CharField(_("address"), max_length=320)
    phone = models.CharField(_("phone"), max_length=64, blank=True)
    notes = models.TextField(_("notes"), blank=True, max_length=4000)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("contact")
        ordering = [Lower("name"), "email"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "email"], name="contact_unique_per_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email
