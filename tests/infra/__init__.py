"""Test infrastructure: the real Dovecot/Postfix mail stack and its helpers."""
