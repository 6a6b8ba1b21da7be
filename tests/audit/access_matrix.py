"""The audit app has no URL of its own: candidates read their history through portal:history
and the export (privacy:export). Add entries here if it ever gets one
(format: tests/privacy/matrix.py)."""

ENTRIES: dict = {}
