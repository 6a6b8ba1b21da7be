"""The production tests (marked `prod`) run only when asked: `make test-prod`, i.e.
`pytest -m prod tests/ops` with `make prod` up. `make test` skips them."""

from __future__ import annotations

import os
import shutil

import pytest

from .stack import (
    PrivatePostgres,
    PrivateRedis,
    PrivateStack,
    make_tempdir,
    port_open,
    stack_environment,
)

PRIVATE_PG_PORT = int(os.environ.get("OPS_TEST_PG_PORT", "5440"))
PRIVATE_CACHE_PORT = int(os.environ.get("OPS_TEST_REDIS_PORT", "6390"))
PRIVATE_BROKER_PORT = int(os.environ.get("OPS_TEST_BROKER_PORT", "6391"))
PRIVATE_WEB_PORT = int(os.environ.get("OPS_TEST_WEB_PORT", "8790"))
# Enough candidates for a publication to take a few seconds in small batches (the kill test).
PRIVATE_CANDIDATES = int(os.environ.get("OPS_TEST_CANDIDATES", "1500"))


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "prod: needs the production stack (make test-prod; not part of make test)"
    )


def pytest_collection_modifyitems(config, items) -> None:
    if "prod" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="production stack test: run with `make test-prod`")
    for item in items:
        if "prod" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def private_services():
    """A PostgreSQL cluster and two Redis servers of our own (cache, broker), on other ports."""
    for port in (PRIVATE_PG_PORT, PRIVATE_CACHE_PORT, PRIVATE_BROKER_PORT, PRIVATE_WEB_PORT):
        if port_open(port):
            pytest.fail(f"port {port} is in use: set OPS_TEST_*_PORT")
    directory = make_tempdir("bac-ops-services-")
    postgres = PrivatePostgres(PRIVATE_PG_PORT, directory / "pg")
    cache = PrivateRedis(PRIVATE_CACHE_PORT, directory / "cache")
    broker = PrivateRedis(PRIVATE_BROKER_PORT, directory / "broker")
    try:
        postgres.init()
        cache.start()
        broker.start()
        yield {"postgres": postgres, "cache": cache, "broker": broker, "directory": directory}
    finally:
        for service in (broker, cache):
            try:
                service.stop()
            except Exception:  # noqa: S110 - best effort at teardown
                pass
        postgres.destroy()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def private_stack(private_services):
    """gunicorn + a Celery worker on the private services, with a seeded, published session."""
    postgres = private_services["postgres"]
    directory = make_tempdir("bac-ops-stack-")
    postgres.create_database("bac_fault")
    env = stack_environment(
        directory,
        postgres.url("bac_fault"),
        private_services["cache"].url,
        private_services["broker"].url,
    )
    stack = PrivateStack(directory, env, PRIVATE_WEB_PORT)
    stack.manage("migrate", "--noinput", "-v0")
    stack.manage(
        "prod_demo",
        "--candidates",
        str(PRIVATE_CANDIDATES),
        "--export",
        str(directory / "export"),
        env={"DEBUG": "true"},
    )
    try:
        stack.start_web()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()
        if not os.environ.get("OPS_TEST_KEEP"):  # keep the logs to look at a failure
            shutil.rmtree(directory, ignore_errors=True)
