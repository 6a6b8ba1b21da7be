"""Real processes for the production tests: private Redis and PostgreSQL instances on their own
ports (the fault tests stop them; the machine's shared services are never touched), a private
application stack (gunicorn + a Celery worker) on them, and a small HTTP client.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
PG_BIN = Path(
    next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), "/usr/lib/postgresql/15/bin")
)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(predicate, seconds: float, what: str, step: float = 0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"{what} did not happen in {seconds} s")


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Cookies, CSRF tokens and redirects (followed unless told otherwise)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        cookies = urllib.request.HTTPCookieProcessor(self.jar)
        self.follow = urllib.request.build_opener(cookies)
        self.stay = urllib.request.build_opener(cookies, _NoRedirect)

    def request(
        self,
        path: str,
        data: dict | None = None,
        *,
        json_body: dict | None = None,
        headers: dict | None = None,
        follow: bool = True,
        timeout: float = 20,
    ) -> Reply:
        url = path if path.startswith("http") else self.base + path
        body = None
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310
        opener = self.follow if follow else self.stay
        try:
            with opener.open(request, timeout=timeout) as response:
                return Reply(response.status, dict(response.headers), response.read(), response.url)
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read(), url)
        except OSError as error:  # refused, reset, timed out: status 0
            return Reply(0, {}, str(error).encode(), url)

    def get(self, path: str, **kwargs) -> Reply:
        return self.request(path, **kwargs)

    def csrf(self) -> str:
        for cookie in self.jar:
            if cookie.name.endswith("csrftoken"):
                return cookie.value
        return ""

    def submit(self, path: str, fields: dict, **kwargs) -> Reply:
        """GET the form (for the CSRF cookie), then POST it."""
        page = self.get(path)
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        token = match.group(1).decode() if match else self.csrf()
        return self.request(path, {"csrfmiddlewaretoken": token, **fields}, **kwargs)


# --- private services ---------------------------------------------------------------------------


class PrivateRedis:
    def __init__(self, port: int, directory: Path) -> None:
        self.port, self.directory = port, directory
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        assert not port_open(self.port), f"port {self.port} is taken"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603
            [  # noqa: S607
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: port_open(self.port), 10, f"redis on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        wait_for(lambda: not port_open(self.port), 10, f"redis on {self.port} to stop")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class PrivatePostgres:
    """A throw-away cluster (initdb under a temporary folder, run as the postgres user: the
    server refuses root), trust authentication on loopback."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port, self.directory = port, directory
        self.data = directory / "data"

    def _as_postgres(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(  # noqa: S603
            [*prefix, *command], check=check, capture_output=True, text=True
        )

    def init(self) -> None:
        assert not port_open(self.port), f"port {self.port} is taken"
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=60"
        )
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.directory / "server.log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        if self.data.exists():
            self._as_postgres(
                str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop",
                check=False,
            )  # fmt: skip

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        self._as_postgres(
            str(PG_BIN / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        )

    def drop_database(self, name: str) -> None:
        self._as_postgres(
            str(PG_BIN / "dropdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "--force", "--if-exists", name,
        )  # fmt: skip


# --- a private application stack ----------------------------------------------------------------


class PrivateStack:
    """gunicorn and a Celery worker on the production settings, on private services."""

    def __init__(self, directory: Path, env: dict[str, str], web_port: int) -> None:
        self.directory = directory
        self.env = {**os.environ, **env}
        for name in ("PYTEST_XDIST_WORKER", "DJANGO_SETTINGS_MODULE"):
            self.env.pop(name, None)
        self.env["DJANGO_SETTINGS_MODULE"] = "bac.settings"
        self.web_port = web_port
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        (directory / "log").mkdir(parents=True, exist_ok=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def manage(self, *args: str, env: dict | None = None, timeout: float = 300) -> str:
        run = subprocess.run(  # noqa: S603
            [str(BIN / "python"), "manage.py", *args],
            cwd=ROOT, env={**self.env, **(env or {})}, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        assert run.returncode == 0, (
            f"manage.py {' '.join(args)} failed:\n{run.stdout}\n{run.stderr}"
        )
        return run.stdout

    def shell(self, code: str, timeout: float = 120) -> str:
        return self.manage("shell", "-c", code, timeout=timeout).strip()

    def _spawn(self, name: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.directory / "log" / f"{name}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env={**self.env, **(env or {})}, stdout=log, stderr=log,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()
        return process

    def start_web(self, workers: int = 2) -> None:
        self.web = self._spawn(
            "web",
            [
                str(BIN / "gunicorn"),
                "-c",
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                "ops.wsgi:application",
            ],
            {
                "GUNICORN_BIND": f"127.0.0.1:{self.web_port}",
                "WEB_CONCURRENCY": str(workers),
                "PROMETHEUS_MULTIPROC_DIR": str(self.directory / "prometheus"),
            },
        )
        wait_for(
            lambda: Browser(self.base).get("/healthz", timeout=2).status == 200, 60, "gunicorn"
        )

    def start_worker(self) -> None:
        queue = self.env["CELERY_DEFAULT_QUEUE"]
        self.worker = self._spawn(
            "worker",
            [
                str(BIN / "celery"), "-A", "bac", "worker", "--loglevel", "INFO", "--concurrency", "1",
                "--hostname", f"{queue}-{secrets.token_hex(3)}@%h", "--queues", queue,
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
        )  # fmt: skip

    def kill_worker(self) -> None:
        """SIGKILL the whole worker (main process and pool): no chance to ack or clean up."""
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(timeout=10)
        self.worker = None

    def stop(self) -> None:
        for process in (self.worker, self.web):
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self.web = self.worker = None


def stack_environment(
    directory: Path, database_url: str, cache_url: str, broker_url: str
) -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "RESULTS_LOOKUP_KEY": secrets.token_urlsafe(48),
        "BAC_VAR_DIR": str(directory / "var"),
        "DATABASE_URL": database_url,
        "REDIS_URL": cache_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_DEFAULT_QUEUE": f"bac-fault-{secrets.token_hex(3)}",
        # A task whose worker died is delivered again after this (Redis broker).
        "CELERY_VISIBILITY_TIMEOUT": "10",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "TRUSTED_PROXY_COUNT": "1",
        "MEDIA_ROOT": str(directory / "media"),
        "STORAGE_BACKEND": "ops.storage.SafeFileSystemStorage",
        "SMS_BACKEND": "notifications.sms.FileSMSBackend",
        "SMS_FILE_PATH": str(directory / "sms.jsonl"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def make_tempdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path
