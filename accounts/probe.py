"""Checking a mail-server profile: the IMAP half and the SMTP half, step by step.

IMAP goes through ``webmail.imap.probe`` (the gateway package is the only importer of
imapclient). SMTP goes through ``webmail.outbox.smtp.probe`` (the only importer of smtplib)
when that module offers it; until then the SMTP half reports "skipped".
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from accounts.models import ServerProfile
from webmail.imap.probe import FAILED, OK, SKIPPED, WARNING, ProbeReport, ProbeStep, probe_imap
from webmail.imap.types import Credentials, ServerAddress

log = logging.getLogger(__name__)

__all__ = ["FAILED", "OK", "SKIPPED", "WARNING", "ProfileCheck", "profile_check"]


@dataclass(frozen=True)
class ProfileCheck:
    profile: ServerProfile
    imap: ProbeReport
    smtp: ProbeReport

    @property
    def ok(self) -> bool:
        return self.imap.ok and self.smtp.ok

    def as_text(self) -> str:
        lines = []
        for title, report in (("IMAP", self.imap), ("SMTP", self.smtp)):
            lines.append(f"{title} {report.server}: {'OK' if report.ok else 'FAILED'}")
            lines.extend(f"  [{step.status}] {step.name}: {step.detail}"
                         for step in report.steps)
        return "\n".join(lines)


def _smtp_probe() -> Callable[..., Any] | None:
    module = importlib.import_module("webmail.outbox.smtp")
    probe = getattr(module, "probe", None)
    return probe if callable(probe) else None


def _as_report(server: ServerAddress, result: Any) -> ProbeReport:
    """The SMTP probe's result in the IMAP probe's shape (it only needs ``steps`` whose items
    have ``name``, ``detail`` and ``status`` or ``ok``)."""
    if isinstance(result, ProbeReport):
        return result
    steps = []
    for step in getattr(result, "steps", ()):
        status = getattr(step, "status", None)
        if status not in (OK, WARNING, FAILED, SKIPPED):
            status = OK if getattr(step, "ok", False) else FAILED
        steps.append(ProbeStep(str(getattr(step, "name", "")), str(status),
                               str(getattr(step, "detail", ""))))
    if not steps:
        steps.append(ProbeStep("SMTP", OK if getattr(result, "ok", False) else FAILED,
                               str(result)))
    label = f"{server.host}:{server.port} ({server.security.value})"
    return ProbeReport(label, tuple(steps), tuple(getattr(result, "extensions", ()) or ()))


def _probe_smtp(server: ServerAddress, credentials: Credentials | None) -> ProbeReport:
    label = f"{server.host}:{server.port} ({server.security.value})"
    probe = _smtp_probe()
    if probe is None:
        return ProbeReport(label, (ProbeStep(
            "SMTP", SKIPPED, "the SMTP check is not available in this version"),))
    try:
        result = probe(server, credentials) if credentials is not None else probe(server)
    except Exception as exc:  # the probe must report, not crash the admin page
        log.exception("SMTP probe of %s crashed", label)
        return ProbeReport(label, (ProbeStep("SMTP", FAILED,
                                             f"{exc.__class__.__name__}: {exc}"),))
    return _as_report(server, result)


def profile_check(profile: ServerProfile, *, credentials: Credentials | None = None,
                  save: bool = True) -> ProfileCheck:
    """Check both servers of ``profile``; logs in only with a test ``credentials``. With
    ``save``, the outcome is kept on the profile (shown in the admin list)."""
    check = ProfileCheck(profile, probe_imap(profile.imap_address(), credentials),
                         _probe_smtp(profile.smtp_address(), credentials))
    if save:
        profile.last_checked = timezone.now()
        profile.last_check_ok = check.ok
        profile.last_check_report = check.as_text()
        profile.save(update_fields=["last_checked", "last_check_ok", "last_check_report"])
    return check
