"""The outbox in the admin panel: read-only views for operators (no credentials, no bodies)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from webmail.outbox.models import (
    BounceReport,
    DeliveryAttempt,
    OutgoingMessage,
    OutgoingRecipient,
)


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RecipientInline(_ReadOnly, admin.TabularInline[OutgoingRecipient, OutgoingMessage]):
    model = OutgoingRecipient
    extra = 0
    fields = ("address", "kind", "state", "smtp_code", "enhanced_status", "diagnostic",
              "remote_mta", "updated")
    readonly_fields = fields


class AttemptInline(_ReadOnly, admin.TabularInline[DeliveryAttempt, OutgoingMessage]):
    model = DeliveryAttempt
    extra = 0
    fields = ("number", "started", "finished", "stage", "outcome", "server", "smtp_code",
              "detail", "worker")
    readonly_fields = fields


@admin.register(OutgoingMessage)
class OutgoingMessageAdmin(_ReadOnly, admin.ModelAdmin[OutgoingMessage]):
    list_display = ("created", "user", "from_email", "subject", "state", "attempts",
                    "next_attempt_at", "sent_copy_done")
    list_filter = ("state", "sent_copy_done")
    search_fields = ("message_id", "from_email", "user__username", "recipients__address")
    date_hierarchy = "created"
    # Never the raw bytes (someone's mail) or the encrypted credential.
    fields = ("user", "from_email", "envelope_from", "message_id", "envelope_id", "subject",
              "size", "state", "created", "completed_at", "send_at", "next_attempt_at",
              "published_at", "attempts", "claimed_at", "claimed_by", "origin_folder",
              "origin_uid", "origin_kind", "sent_copy_wanted", "sent_copy_done",
              "sent_copy_error")
    readonly_fields = fields
    inlines = [RecipientInline, AttemptInline]


@admin.register(BounceReport)
class BounceReportAdmin(_ReadOnly, admin.ModelAdmin[BounceReport]):
    list_display = ("received", "user", "final_recipient", "action", "status", "applied")
    list_filter = ("action", "applied")
    search_fields = ("final_recipient", "original_message_id", "user__username")
    readonly_fields = ("user", "message", "recipient", "fingerprint", "received", "source",
                       "envelope_id", "original_message_id", "final_recipient", "action",
                       "status", "diagnostic", "remote_mta", "applied")
