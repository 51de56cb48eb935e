"""Users, mail-server profiles, domains, identities and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from webmail.imap.types import Security, ServerAddress


class SecurityChoice(models.TextChoices):
    NONE = "none", _("None (loopback or trusted network only)")
    STARTTLS = "starttls", _("STARTTLS")
    SSL = "ssl", _("TLS (implicit)")


class SmtpAuthChoice(models.TextChoices):
    USER = "user", _("The user's own credentials")
    NONE = "none", _("None (trusted relay)")


class ServerProfile(models.Model):
    """Where a domain's mail lives: the IMAP server and the SMTP submission server."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    imap_host = models.CharField(_("IMAP host"), max_length=255)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(_("IMAP security"), max_length=10,
                                     choices=SecurityChoice.choices, default=SecurityChoice.SSL)
    smtp_host = models.CharField(_("SMTP host"), max_length=255)
    smtp_port = models.PositiveIntegerField(_("SMTP port"), default=587)
    smtp_security = models.CharField(_("SMTP security"), max_length=10,
                                     choices=SecurityChoice.choices,
                                     default=SecurityChoice.STARTTLS)
    smtp_auth = models.CharField(_("SMTP authentication"), max_length=10,
                                 choices=SmtpAuthChoice.choices, default=SmtpAuthChoice.USER)
    timeout = models.FloatField(_("IMAP timeout (seconds)"), default=15.0,
                                validators=[MinValueValidator(0.5), MaxValueValidator(300)])
    smtp_timeout = models.FloatField(_("SMTP timeout (seconds)"), default=30.0,
                                     validators=[MinValueValidator(0.5), MaxValueValidator(600)])
    # The last "test connection" (admin action or ``check_profiles``): shown in the list.
    last_checked = models.DateTimeField(_("last checked"), null=True, blank=True)
    last_check_ok = models.BooleanField(_("last check passed"), null=True, blank=True)
    last_check_report = models.TextField(_("last check report"), blank=True)

    class Meta:
        verbose_name = _("mail-server profile")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def imap_address(self) -> ServerAddress:
        return ServerAddress(self.imap_host, self.imap_port, Security(self.imap_security),
                             self.timeout, settings.WEBMAIL_TLS_VERIFY)

    def smtp_address(self) -> ServerAddress:
        return ServerAddress(self.smtp_host, self.smtp_port, Security(self.smtp_security),
                             self.smtp_timeout, settings.WEBMAIL_TLS_VERIFY)


class SendLimits(models.Model):
    """Sending limits; blank means "no limit at this level" (see ``accounts.limits``)."""

    max_messages_per_hour = models.PositiveIntegerField(
        _("messages per hour"), null=True, blank=True,
        help_text=_("Blank: no limit at this level."))
    max_recipients_per_message = models.PositiveIntegerField(
        _("recipients per message"), null=True, blank=True,
        help_text=_("Blank: no limit at this level."))
    max_message_bytes = models.PositiveBigIntegerField(
        _("message size (bytes)"), null=True, blank=True,
        help_text=_("Blank: no limit at this level."))

    class Meta:
        abstract = True


class Domain(SendLimits):
    """A mail domain and the profile that serves it."""

    name = models.CharField(_("domain"), max_length=253, unique=True)
    profile = models.ForeignKey(ServerProfile, on_delete=models.PROTECT, related_name="domains")
    auto_create_accounts = models.BooleanField(
        _("create accounts at first sign-in"), default=True,
        help_text=_("If off, only accounts an admin created may sign in."))
    require_two_factor = models.BooleanField(_("require two-factor sign-in"), default=False)

    class Meta:
        verbose_name = _("domain")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        self.name = self.name.strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class WebmailUserManager(UserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(username__iexact=username)


class User(SendLimits, AbstractUser):
    """A webmail user; ``username`` is the mail address used to sign in (lower case)."""

    objects = WebmailUserManager()  # type: ignore[misc]

    class Meta:
        verbose_name = _("user")

    def __str__(self) -> str:
        return self.username

    @property
    def domain(self) -> str:
        return self.username.rsplit("@", 1)[-1].lower() if "@" in self.username else ""


class Identity(models.Model):
    """A From address a user may send as, with display name and signature."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="identities")
    email = models.EmailField(_("address"), max_length=254)
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    signature = models.TextField(_("signature"), blank=True)
    is_default = models.BooleanField(_("default"), default=False)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = [
            models.UniqueConstraint(fields=["user", "email"], name="identity_unique_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.email}>" if self.display_name else self.email


class AuditEntry(models.Model):
    """Who did what, when. Written by services; read-only in the admin."""

    class Kind(models.TextChoices):
        SIGN_IN = "sign_in", _("sign-in")
        SIGN_IN_FAILED = "sign_in_failed", _("sign-in failed")
        SIGN_OUT = "sign_out", _("sign-out")
        ADMIN_CHANGE = "admin_change", _("admin change")
        SEND_REFUSED = "send_refused", _("send refused")
        SECURITY_CHANGE = "security_change", _("security setting changed")

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    subject = models.CharField(_("about"), max_length=254, blank=True, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.kind} {self.subject}"


class UserSession(models.Model):
    """A session a user signed in with, so an admin can end all of a user's sessions at once
    (whatever the session engine: the key is deleted through the engine's own store)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="web_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = _("session")

    def __str__(self) -> str:
        return f"{self.user_id} since {self.created:%Y-%m-%d %H:%M}"


class SendRecord(models.Model):
    """One message a user was allowed to send: the sliding window of the hourly limit.

    Written by ``accounts.limits.check_send_allowed`` under a lock on the user's row, so two
    sends at once cannot both take the last slot. Independent of outbox retention.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    created = models.DateTimeField(default=timezone.now)
    recipients = models.PositiveIntegerField(default=0)
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["user", "created"], name="sendrecord_user_created")]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.created:%Y-%m-%d %H:%M}"


class RemotePolicy(models.TextChoices):
    NEVER = "never", _("Never")
    KNOWN = "known", _("From senders in my contacts or whom I allowed")
    ALWAYS = "always", _("Always")


class Theme(models.TextChoices):
    SYSTEM = "system", _("Follow the system")
    LIGHT = "light", _("Light")
    DARK = "dark", _("Dark")


class ComposeFormat(models.TextChoices):
    PLAIN = "plain", _("Plain text")
    HTML = "html", _("Formatted (HTML)")


PAGE_SIZES = (25, 50, 100)


class UserSettings(models.Model):
    """A user's own preferences (``accounts.selectors.user_settings`` creates it on demand)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="preferences")
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    page_size = models.PositiveSmallIntegerField(
        _("messages per page"), default=50, choices=[(n, str(n)) for n in PAGE_SIZES])
    remote_content = models.CharField(_("show remote images and content"), max_length=8,
                                      choices=RemotePolicy.choices, default=RemotePolicy.NEVER)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True,
                                 help_text=_("Blank: the server's time zone."))
    language = models.CharField(_("language"), max_length=16, blank=True,
                                help_text=_("Blank: the browser's language."))
    theme = models.CharField(_("theme"), max_length=8, choices=Theme.choices,
                             default=Theme.SYSTEM)
    compose_format = models.CharField(_("write messages as"), max_length=8,
                                      choices=ComposeFormat.choices, default=ComposeFormat.PLAIN)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("user settings")
        verbose_name_plural = _("user settings")

    def __str__(self) -> str:
        return f"settings of {self.user_id}"


class RemoteContentAllowance(models.Model):
    """A sender whose messages may load remote content for this user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="remote_allowances")
    sender = models.CharField(_("sender address"), max_length=254)  # lower case
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("allowed remote-content sender")
        ordering = ["sender"]
        constraints = [
            models.UniqueConstraint(fields=["user", "sender"],
                                    name="remote_allowance_unique"),
        ]

    def __str__(self) -> str:
        return self.sender
