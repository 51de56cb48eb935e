"""Users, mail-server profiles, domains, identities and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
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
    timeout = models.FloatField(_("timeout (seconds)"), default=15.0)

    class Meta:
        verbose_name = _("mail-server profile")

    def __str__(self) -> str:
        return self.name

    def imap_address(self) -> ServerAddress:
        return ServerAddress(self.imap_host, self.imap_port, Security(self.imap_security),
                             self.timeout, settings.WEBMAIL_TLS_VERIFY)


class Domain(models.Model):
    """A mail domain and the profile that serves it."""

    name = models.CharField(_("domain"), max_length=253, unique=True)
    profile = models.ForeignKey(ServerProfile, on_delete=models.PROTECT, related_name="domains")
    auto_create_accounts = models.BooleanField(
        _("create accounts at first sign-in"), default=True,
        help_text=_("If off, only accounts an admin created may sign in."))
    require_two_factor = models.BooleanField(_("require two-factor sign-in"), default=False)

    class Meta:
        verbose_name = _("domain")

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        self.name = self.name.strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class WebmailUserManager(UserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(username__iexact=username)


class User(AbstractUser):
    """A webmail user; ``username`` is the mail address used to sign in (lower case)."""

    objects = WebmailUserManager()  # type: ignore[misc]

    class Meta:
        verbose_name = _("user")

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
