"""The mail views: mailbox page, message view, body document, parts, folder management."""
