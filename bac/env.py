"""Strict reading of settings from environment variables.

A malformed value stops the start-up with a message naming the variable, because a
ministry service that starts with a silently wrong setting is worse than one that
does not start at all.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, unquote, urlparse


class ConfigurationError(Exception):
    """A setting read from the environment is malformed."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "", environ: dict | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(name, default)


def env_bool(name: str, default: bool, environ: dict | None = None) -> bool:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(name, f"expected one of true/false/1/0/yes/no/on/off, got {raw!r}")


def env_int(
    name: str, default: int, environ: dict | None = None, minimum: int | None = None
) -> int:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigurationError(name, f"expected a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(name, f"must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str], environ: dict | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_choice(
    name: str, default: str, choices: tuple[str, ...], environ: dict | None = None
) -> str:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise ConfigurationError(name, f"expected one of {', '.join(choices)}, got {raw!r}")
    return raw


def parse_database_url(name: str, url: str) -> dict:
    """Turn `postgres://user:pass@host:port/db?sslmode=...` or `sqlite:///path` into a Django entry."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql", "pgsql"):
        if not parsed.path.strip("/"):
            raise ConfigurationError(
                name, "a PostgreSQL URL must name the database, e.g. postgres://user@host:5432/bac"
            )
        try:
            port = parsed.port
        except ValueError:
            raise ConfigurationError(name, "the port is not a number") from None
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": unquote(parsed.hostname or ""),
            "PORT": str(port or ""),
            "OPTIONS": options,
        }
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        elif path.startswith("/"):
            path = path[1:]
        if not path:
            raise ConfigurationError(
                name, "a SQLite URL must name the file, e.g. sqlite:///var/db.sqlite3"
            )
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}
    raise ConfigurationError(
        name, f"unsupported scheme {parsed.scheme!r}: use postgres://… or sqlite:///…"
    )


def check_redis_url(name: str, url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(name, f"expected a redis://host:port/db URL, got {url!r}")
    try:
        parsed.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise ConfigurationError(name, "the port is not a number") from None
    return url


def check_broker_url(name: str, url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("amqp", "amqps", "pyamqp", "redis", "rediss", "memory"):
        raise ConfigurationError(name, f"expected an amqp:// or redis:// URL, got {url!r}")
    try:
        parsed.port  # noqa: B018
    except ValueError:
        raise ConfigurationError(name, "the port is not a number") from None
    return url
