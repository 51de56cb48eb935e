"""The outbox retention rule, for the admin's ``purge_outbox`` command (owned by the outbox)."""

from webmail.outbox.retention import outbox_purge

__all__ = ["outbox_purge"]
