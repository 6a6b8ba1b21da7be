"""Structured logs: one JSON object per line, with the request id.

{"time": "...", "level": "INFO", "logger": "results.api", "message": "...",
 "request_id": "…", "task_id": "…", "process": 1234, "exc": "Traceback…"}
"""

from __future__ import annotations

import datetime
import json
import logging

from .context import request_id

# Attributes every LogRecord has; anything else was passed with extra={} and is kept.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()) | {
    "message",
    "asctime",
    "request_id",
    "task_id",
}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or request_id.get(),
            "process": record.process,
        }
        task_id = getattr(record, "task_id", "")
        if task_id:
            entry["task_id"] = task_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
