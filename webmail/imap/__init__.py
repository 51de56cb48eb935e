"""The IMAP gateway: the only package that imports imapclient.

Callers get typed results (``types``) and our own errors (``errors``); ``gateway.MailStore``
is the interface, ``gateway.ImapStore`` talks to a real server, ``fake.FakeStore`` is an
in-memory twin for fast unit tests, and ``pool`` reuses signed-in connections.
"""
