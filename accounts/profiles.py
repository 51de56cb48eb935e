"""Which servers serve an address: the domain's profile, else the default from settings."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from accounts.models import Domain
from webmail.imap.types import Security, ServerAddress


@dataclass(frozen=True)
class MailProfile:
    imap: ServerAddress
    smtp: ServerAddress
    smtp_auth: str  # "user" or "none"
    domain: Domain | None

    @property
    def auto_create_accounts(self) -> bool:
        return self.domain.auto_create_accounts if self.domain else True


def default_profile() -> MailProfile:
    return MailProfile(
        imap=ServerAddress(settings.WEBMAIL_IMAP_HOST, settings.WEBMAIL_IMAP_PORT,
                           Security(settings.WEBMAIL_IMAP_SECURITY),
                           settings.WEBMAIL_IMAP_TIMEOUT, settings.WEBMAIL_TLS_VERIFY),
        smtp=ServerAddress(settings.WEBMAIL_SMTP_HOST, settings.WEBMAIL_SMTP_PORT,
                           Security(settings.WEBMAIL_SMTP_SECURITY),
                           settings.WEBMAIL_SMTP_TIMEOUT, settings.WEBMAIL_TLS_VERIFY),
        smtp_auth=settings.WEBMAIL_SMTP_AUTH,
        domain=None,
    )


def profile_for_address(address: str) -> MailProfile:
    """The profile that the address's domain selects (case-insensitive), else the default."""
    domain_name = address.rsplit("@", 1)[-1].strip().lower() if "@" in address else ""
    domain = Domain.objects.select_related("profile").filter(name=domain_name).first()
    if domain is None:
        return default_profile()
    p = domain.profile
    return MailProfile(
        imap=p.imap_address(),
        smtp=p.smtp_address(),
        smtp_auth=p.smtp_auth,
        domain=domain,
    )
