"""Errors of the IMAP boundary. No HTTP codes here: ``webmail.middleware`` maps them."""

from __future__ import annotations


class ImapError(Exception):
    """Base of every error the gateway raises."""


class ImapAuthError(ImapError):
    """The server refused the credentials."""


class ImapUnavailable(ImapError):
    """The server cannot be reached, timed out or dropped us: transient, try later."""


class ImapNotFound(ImapError):
    """The folder or message does not exist (any more)."""


class ImapProtocolError(ImapError):
    """The server answered NO/BAD or something we cannot understand."""


class ImapInvalidInput(ImapError):
    """A folder name, UID or search term from the user is not acceptable."""
