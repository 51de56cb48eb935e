"""Hooks other parts of the webmail attach to the mail pages.

Temporary shape (the lead wires it properly later): the outbox's bounce scanner, if that module
exists, looks at the inbox right after a page of it was listed.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

from webmail.imap.gateway import MailStore

log = logging.getLogger(__name__)
BOUNCES_MODULE = "webmail.outbox.bounces"


def after_inbox_listing(store: MailStore, user: Any) -> None:
    """Call ``webmail.outbox.bounces.bounce_scan_inbox(store=..., user=...)`` when the module
    and the function exist. A failing scan is logged and never breaks the inbox page."""
    if importlib.util.find_spec(BOUNCES_MODULE) is None:
        return
    module = importlib.import_module(BOUNCES_MODULE)
    scan = getattr(module, "bounce_scan_inbox", None)
    if scan is None:
        return
    try:
        scan(store=store, user=user)
    except Exception:
        log.exception("bounce scan of the inbox failed")
