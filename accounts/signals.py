"""Audit receivers: nothing here does I/O beyond writing the audit row."""
