"""The embedded development mail server of ``make run``: pymap IMAP and an aiosmtpd SMTP
server on loopback, with demo users and demo mail. Not for production use."""
