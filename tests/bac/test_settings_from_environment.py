import os
import subprocess
import sys

import pytest

from bac.env import (
    ConfigurationError,
    check_broker_url,
    check_redis_url,
    env_bool,
    env_int,
    parse_database_url,
)


@pytest.mark.parametrize(
    "raw, expected", [("true", True), ("1", True), ("Off", False), ("no", False)]
)
def test_it_reads_booleans_strictly(raw, expected):
    assert env_bool("DEBUG", False, {"DEBUG": raw}) is expected


@pytest.mark.parametrize("raw", ["ture", "2", "enabled", "y"])
def test_it_refuses_a_malformed_boolean_naming_the_variable(raw):
    with pytest.raises(ConfigurationError, match="^DEBUG: "):
        env_bool("DEBUG", False, {"DEBUG": raw})


def test_it_refuses_a_number_that_is_not_one():
    with pytest.raises(ConfigurationError, match="^OTP_TTL_SECONDS: expected a whole number"):
        env_int("OTP_TTL_SECONDS", 300, {"OTP_TTL_SECONDS": "5m"})


def test_it_parses_a_postgresql_url():
    db = parse_database_url(
        "DATABASE_URL", "postgres://bac:s%40cret@db.internal:6432/bac?sslmode=require"
    )
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "bac",
        "bac",
        "s@cret",
        "db.internal",
        "6432",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://root@localhost/bac", "unsupported scheme"),
        ("postgres://localhost:54x2/bac", "port is not a number"),
        ("postgres://localhost:5432/", "must name the database"),
    ],
)
def test_it_refuses_a_malformed_database_url(url, message):
    with pytest.raises(ConfigurationError, match=message) as caught:
        parse_database_url("DATABASE_URL", url)
    assert caught.value.name == "DATABASE_URL"


def test_it_refuses_a_redis_or_broker_url_of_another_kind():
    with pytest.raises(ConfigurationError, match="^REDIS_URL"):
        check_redis_url("REDIS_URL", "http://127.0.0.1:6379")
    with pytest.raises(ConfigurationError, match="^CELERY_BROKER_URL"):
        check_broker_url("CELERY_BROKER_URL", "kafka://127.0.0.1")


def _start(env: dict) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL")
    }
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "bac.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_start_up_stops_without_a_secret_key_outside_debug(tmp_path):
    result = _start({"DEBUG": "false", "BAC_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY: is required outside debug" in result.stderr


def test_start_up_stops_on_a_malformed_value_and_names_it(tmp_path):
    result = _start({"DEBUG": "maybe", "BAC_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "DEBUG: expected one of" in result.stderr


def test_debug_start_up_generates_its_keys_on_first_start(tmp_path):
    result = _start({"DEBUG": "true", "BAC_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    secret = tmp_path / "keys" / "secret_key"
    assert secret.exists() and len(secret.read_text()) >= 50
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "keys" / "documents.key").exists()
