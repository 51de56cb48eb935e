"""The outbox: outgoing messages, their recipients' delivery states, attempts and bounces.

The database is the queue (Healthchecks style): the broker only carries row ids, and a row's
``state`` plus its claim columns decide who may work on it. See ``services`` for the state
machine and ``docs/architecture.md`` ("States of an outgoing recipient").
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class MessageState(models.TextChoices):
    """Where the message's work stands (the recipients carry the delivery outcome)."""

    QUEUED = "queued", _("queued")  # waiting for its first attempt (or its send_at)
    SENDING = "sending", _("sending")  # claimed by a worker
    DEFERRED = "deferred", _("deferred")  # some recipients wait for a retry
    FINISHED = "finished", _("finished")  # no recipient needs an SMTP attempt any more
    CANCELLED = "cancelled", _("cancelled")


class RecipientState(models.TextChoices):
    QUEUED = "queued", _("queued")
    SENDING = "sending", _("sending")
    ACCEPTED = "accepted", _("accepted")
    DEFERRED = "deferred", _("deferred")
    DELAYED = "delayed", _("delayed")
    DELIVERED = "delivered", _("delivered")
    BOUNCED = "bounced", _("bounced")
    FAILED = "failed", _("failed")
    UNKNOWN = "unknown", _("unknown")
    CANCELLED = "cancelled", _("cancelled")


class RecipientKind(models.TextChoices):
    TO = "to", _("To")
    CC = "cc", _("Cc")
    BCC = "bcc", _("Bcc")


class OriginKind(models.TextChoices):
    NONE = "", _("new message")
    REPLY = "reply", _("reply")
    FORWARD = "forward", _("forward")


class AttemptStage(models.TextChoices):
    """How far an attempt got; a reclaim reads it to decide between retry and ``unknown``."""

    CONNECT = "connect", _("connecting")
    ENVELOPE = "envelope", _("MAIL/RCPT")
    DATA = "data", _("DATA (the message may have been transmitted)")
    DONE = "done", _("done")


class AttemptOutcome(models.TextChoices):
    RUNNING = "", _("running")
    ACCEPTED = "accepted", _("accepted")
    PARTIAL = "partial", _("partly accepted")
    DEFERRED = "deferred", _("deferred")
    BOUNCED = "bounced", _("refused")
    FAILED = "failed", _("failed")
    UNKNOWN = "unknown", _("outcome unknown")
    INTERRUPTED = "interrupted", _("interrupted (worker lost)")
    ABANDONED = "abandoned", _("claim lost to another worker")


class OutgoingMessage(models.Model):
    """One message as built at send time; the bytes never change after enqueue."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="outgoing_messages")
    from_email = models.CharField(_("from"), max_length=254)
    envelope_from = models.CharField(_("envelope sender"), max_length=254)
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    # Our RFC 3461 ENVID: random and unguessable, so a forged DSN cannot name someone else's
    # message; bounces are matched only among the rows of the user whose mailbox it reached.
    envelope_id = models.CharField(_("envelope id"), max_length=64, unique=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    raw = models.BinaryField(_("MIME bytes"))  # without Bcc (compose strips it)
    size = models.PositiveIntegerField(_("size"))
    state = models.CharField(_("state"), max_length=16, choices=MessageState.choices,
                             default=MessageState.QUEUED)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    # Scheduled send / undo send: nothing goes out before send_at.
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # When a task for this row was last handed to the broker (or will be, for a countdown);
    # the sweeper re-publishes due rows whose publish is older than a minute.
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    claim_token = models.CharField(max_length=36, blank=True)
    # The user's mail password, encrypted (purpose "outbox-smtp"); used for SMTP AUTH and the
    # Sent copy, wiped as soon as the row needs it no more.
    credential = models.TextField(blank=True)
    origin_folder = models.CharField(max_length=1000, blank=True)
    origin_uid = models.PositiveBigIntegerField(null=True, blank=True)
    origin_kind = models.CharField(max_length=8, choices=OriginKind.choices, blank=True,
                                   default=OriginKind.NONE)
    # Set once a recipient was accepted: then the sender's Sent folder gets one copy.
    sent_copy_wanted = models.BooleanField(default=False)
    sent_copy_done = models.BooleanField(_("Sent copy stored"), default=False)
    sent_copy_claimed_at = models.DateTimeField(null=True, blank=True)
    sent_copy_error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = _("outgoing message")
        ordering = ["-created"]
        indexes = [
            # the sweeper: due rows of a state, and expired claims
            models.Index(fields=["state", "next_attempt_at"], name="outbox_state_due"),
            models.Index(fields=["state", "claimed_at"], name="outbox_state_claim"),
            # the console: a user's messages, newest first
            models.Index(fields=["user", "-created"], name="outbox_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.state})"


class OutgoingRecipient(models.Model):
    message = models.ForeignKey(OutgoingMessage, on_delete=models.CASCADE,
                                related_name="recipients")
    address = models.CharField(_("address"), max_length=254)
    kind = models.CharField(_("kind"), max_length=3, choices=RecipientKind.choices,
                            default=RecipientKind.TO)
    state = models.CharField(_("state"), max_length=16, choices=RecipientState.choices,
                             default=RecipientState.QUEUED)
    smtp_code = models.PositiveSmallIntegerField(_("SMTP code"), null=True, blank=True)
    enhanced_status = models.CharField(_("status"), max_length=16, blank=True)
    diagnostic = models.TextField(_("diagnostic"), blank=True)
    remote_mta = models.CharField(_("server"), max_length=255, blank=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("recipient")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "address"],
                                    name="outbox_recipient_unique"),
        ]
        indexes = [models.Index(fields=["state"], name="outbox_recipient_state")]

    def __str__(self) -> str:
        return f"{self.address} ({self.state})"


class DeliveryAttempt(models.Model):
    """One SMTP session for a message, with each recipient's reply in ``results``.

    ``results`` is a list of ``{"address", "outcome", "code", "enhanced", "text"}``.
    """

    message = models.ForeignKey(OutgoingMessage, on_delete=models.CASCADE,
                                related_name="attempts_log")
    number = models.PositiveIntegerField(_("attempt"))
    worker = models.CharField(max_length=200, blank=True)
    claim_token = models.CharField(max_length=36, blank=True)
    started = models.DateTimeField(_("started"), auto_now_add=True)
    finished = models.DateTimeField(_("finished"), null=True, blank=True)
    stage = models.CharField(max_length=10, choices=AttemptStage.choices,
                             default=AttemptStage.CONNECT)
    outcome = models.CharField(max_length=12, choices=AttemptOutcome.choices, blank=True,
                               default=AttemptOutcome.RUNNING)
    server = models.CharField(_("server"), max_length=255, blank=True)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    results = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        ordering = ["message", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id}: {self.outcome or 'running'}"


class BounceReport(models.Model):
    """One recipient block of a delivery status notification (RFC 3464) we received."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="bounce_reports")
    message = models.ForeignKey(OutgoingMessage, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="bounce_reports")
    recipient = models.ForeignKey(OutgoingRecipient, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="bounce_reports")
    # sha256 of the DSN bytes and the final recipient: the same report twice is one row.
    fingerprint = models.CharField(max_length=64)
    received = models.DateTimeField(auto_now_add=True)
    source = models.CharField(_("source"), max_length=300, blank=True)  # "INBOX/1234/42"
    envelope_id = models.CharField(max_length=200, blank=True)
    original_message_id = models.CharField(max_length=998, blank=True)
    final_recipient = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, blank=True)
    diagnostic = models.TextField(blank=True)
    remote_mta = models.CharField(max_length=255, blank=True)
    applied = models.BooleanField(default=False)  # it moved a recipient's state

    class Meta:
        verbose_name = _("bounce report")
        ordering = ["-received"]
        constraints = [
            models.UniqueConstraint(fields=["user", "fingerprint"],
                                    name="bounce_report_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.status} {self.final_recipient}"


class BounceScanMark(models.Model):
    """The highest UID already scanned for DSNs in a folder, per UIDVALIDITY."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    folder = models.CharField(max_length=1000)
    uidvalidity = models.PositiveBigIntegerField()
    last_uid = models.PositiveBigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "folder", "uidvalidity"],
                                    name="bounce_scan_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.folder}@{self.uidvalidity}: {self.last_uid}"
