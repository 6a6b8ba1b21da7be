"""The production stack on this machine, on loopback: `make prod` / `make prod-stop`.

    .venv/bin/python deploy/prod.py start     # or: make prod
    .venv/bin/python deploy/prod.py stop      # or: make prod-stop
    .venv/bin/python deploy/prod.py env       # the environment, for manage.py by hand

start:
1. PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are started if down (as .ci/run does);
   the broker is RabbitMQ on 127.0.0.1:5672 (guest/guest) if it answers, else Redis db 4;
   nginx is installed with apt-get if missing (root only).
2. var/prod/ gets its keys (secret key, lookup key, document keys), the database `bac_prod` is
   created, migrated and seeded once with a small demo (PROD_CANDIDATES, 2000) whose results are
   published, static files are collected and the static results export is written.
3. It starts, each in its own process group with a pid file in var/prod/run/ and a log in
   var/prod/log/: gunicorn (WEB_CONCURRENCY sync workers, ops.wsgi), a Celery worker, Celery beat
   and nginx (config generated from deploy/nginx.conf.template) on 127.0.0.1:PROD_PORT (8080),
   then waits until /readyz answers 200 through nginx.
stop: stops exactly the processes whose pid files it wrote (SIGTERM to the group, then SIGKILL
after 30 s), nothing else.

The same environment variables drive deploy/Dockerfile and deploy/compose.yaml.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = ROOT / ".venv" / "bin"
PROD = Path(os.environ.get("PROD_DIR", ROOT / "var" / "prod"))
RUN, LOG, TMP, CONF = PROD / "run", PROD / "log", PROD / "tmp", PROD / "conf"
PORT = int(os.environ.get("PROD_PORT", "8080"))
WEB_PORT = int(os.environ.get("PROD_WEB_PORT", "8001"))
DATABASE = os.environ.get("PROD_DATABASE", "bac_prod")
PG_ADMIN_URL = os.environ.get("PROD_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PROD_REDIS_URL", "redis://127.0.0.1:6379/3")
AMQP_URL = os.environ.get("PROD_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_BROKER_URL = os.environ.get("PROD_REDIS_BROKER_URL", "redis://127.0.0.1:6379/4")
# What runs, in start order (stopped in reverse).
PROCESSES = ("web", "worker", "beat", "nginx")


def say(message: str) -> None:
    print(f"[prod] {message}", flush=True)


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    sys.exit(f"[prod] {what} did not come up in {seconds:.0f} s")


# --- services on the machine ------------------------------------------------------------------


def ensure_services() -> str:
    """PostgreSQL and Redis up (started if down, as .ci/run does); returns the broker URL."""
    if not _port_open("127.0.0.1", 5432):
        versions = sorted(os.listdir("/etc/postgresql"))
        say("starting PostgreSQL")
        subprocess.run(  # noqa: S603
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],  # noqa: S607
            check=True,
        )
        _wait(lambda: _port_open("127.0.0.1", 5432), 30, "PostgreSQL")
    if not _port_open("127.0.0.1", 6379):
        say("starting Redis")
        subprocess.run(  # noqa: S603
            [  # noqa: S607
                "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1",
                "--port", "6379", "--save", "", "--appendonly", "no",
                "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
            ],
            check=True,
        )  # fmt: skip
        _wait(lambda: _port_open("127.0.0.1", 6379), 30, "Redis")
    if _port_open("127.0.0.1", 5672):
        return AMQP_URL
    say("RabbitMQ does not answer on 127.0.0.1:5672: Redis is the broker")
    return REDIS_BROKER_URL


def ensure_nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing nginx-light")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        quiet = {"stdout": subprocess.DEVNULL, "env": env}
        if subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], **quiet).returncode:  # noqa: S603,S607
            subprocess.run(["apt-get", "update", "-qq"], check=True, **quiet)  # noqa: S603,S607
            subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], check=True, **quiet)  # noqa: S603,S607
        return shutil.which("nginx") or "/usr/sbin/nginx"
    sys.exit("[prod] nginx is needed: sudo apt-get install nginx-light")


# --- configuration ----------------------------------------------------------------------------


def _secret(name: str, make) -> Path:
    path = PROD / "keys" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
    return path


def environment(broker_url: str) -> dict[str, str]:
    """The production settings of this stack (every process reads the same)."""
    secret = _secret("secret_key", lambda: secrets.token_urlsafe(50))
    return {
        "DJANGO_SETTINGS_MODULE": "bac.settings",
        "DEBUG": "false",
        "SECRET_KEY_FILE": str(secret),
        "BAC_VAR_DIR": str(PROD),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": broker_url,
        # Our own queue: the broker may be shared with other systems' workers.
        "CELERY_DEFAULT_QUEUE": os.environ.get("PROD_QUEUE", "bac-prod"),
        "CACHE_KEY_PREFIX": "bacprod",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{PORT},http://localhost:{PORT}",
        # Plain HTTP on loopback; behind TLS set these back to their defaults (on).
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        # nginx, plus a load balancer in front of it if PROD_TRUSTED_PROXIES says so.
        "TRUSTED_PROXY_COUNT": os.environ.get("PROD_TRUSTED_PROXIES", "1"),
        # Results day: lookups from this host's replica, limits counted on the host.
        "RESULTS_LOOKUP_REPLICA": "true",
        # In memory (tmpfs) where the machine has one: a lookup never waits for the disk.
        # (results.replica refuses a directory that is not ours alone.)
        "RESULTS_REPLICA_DIR": str(
            Path(f"/dev/shm/bac-prod-replica-{os.getuid()}")  # noqa: S108
            if Path("/dev/shm").is_dir()  # noqa: S108
            else PROD / "replica"
        ),
        "STATIC_ROOT": str(PROD / "static"),
        "MEDIA_ROOT": str(PROD / "media"),
        "STORAGE_BACKEND": "ops.storage.SafeFileSystemStorage",
        "NOTIFICATIONS_SITE_URL": f"http://127.0.0.1:{PORT}",
        "SMS_BACKEND": "notifications.sms.FileSMSBackend",
        "SMS_FILE_PATH": str(LOG / "sms.jsonl"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }


def write_nginx_conf() -> Path:
    CONF.mkdir(parents=True, exist_ok=True)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (TMP / sub).mkdir(parents=True, exist_ok=True)
    user = ""
    if os.geteuid() == 0:
        # nginx's workers drop root; they only read static files and write their temp files.
        user = "user www-data;"
        shutil.chown(TMP, "www-data")
        for sub in TMP.iterdir():
            shutil.chown(sub, "www-data")
    text = (DEPLOY / "nginx.conf.template").read_text()
    values = {
        "USER": user,
        "RUN": str(RUN),
        "LOG": str(LOG),
        "TMP": str(TMP),
        "CONF": str(CONF),
        "ACCESS_LOG": os.environ.get(
            "PROD_ACCESS_LOG", str(LOG / "nginx-access.log") + " bac_json"
        ),
        "UPSTREAM": f"127.0.0.1:{WEB_PORT}",
        "LISTEN": f"127.0.0.1:{PORT}",
        "STATIC": str(PROD / "static"),
        "EXPORT": str(PROD / "export"),
    }
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    shutil.copy(DEPLOY / "proxy_params.conf", CONF / "proxy_params.conf")
    path = CONF / "nginx.conf"
    path.write_text(text)
    return path


# --- processes --------------------------------------------------------------------------------


def pid_file(name: str) -> Path:
    return RUN / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def running(name: str) -> int | None:
    """The pid recorded for `name` if that process still runs (and is still ours)."""
    path = pid_file(name)
    if not path.exists():
        return None
    try:
        pid, marker = path.read_text().split(maxsplit=1)
        pid_number = int(pid)
    except ValueError:
        return None
    if not _alive(pid_number):
        return None
    try:
        cmdline = Path(f"/proc/{pid_number}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return pid_number if marker.strip() in cmdline else None


def launch(name: str, command: list[str], env: dict[str, str], marker: str) -> int:
    log = open(LOG / f"{name}.log", "ab")  # noqa: SIM115 (owned by the child)
    process = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    pid_file(name).write_text(f"{process.pid} {marker}\n")
    return process.pid


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def ensure_database() -> None:
    import psycopg
    from psycopg import sql

    # The database belongs to the keys under var/prod/keys (its documents and authenticator
    # secrets are encrypted with them): one made by another checkout, whose keys are gone, is
    # unreadable here and is made again.
    owner = _secret("database_id", lambda: secrets.token_hex(16)).read_text().strip()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as db:
        found = db.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [DATABASE],
        ).fetchone()
        if found is not None and found[0] != owner:
            say(f"the database {DATABASE} was made with other keys: making it again")
            db.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
            found = None
            import redis

            redis.Redis.from_url(REDIS_URL).flushdb()  # its cache and results snapshot too
        if found is None:
            say(f"creating the database {DATABASE}")
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            db.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(DATABASE), sql.Literal(owner)
                )
            )


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def start(args: argparse.Namespace) -> None:
    already = [name for name in PROCESSES if running(name)]
    if already:
        sys.exit(f"[prod] already running: {', '.join(already)} (make prod-stop first)")
    for directory in (PROD, RUN, LOG, TMP, PROD / "media", PROD / "prometheus"):
        directory.mkdir(parents=True, exist_ok=True)
    broker = ensure_services()
    nginx = ensure_nginx()
    env = environment(broker)
    ensure_database()
    say("migrating, collecting static files, seeding the demo (once)")
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    # The synthetic demo's marks are written by a DEBUG-only seeder: this one command runs so.
    demo_env = {**env, "DEBUG": "true"}
    manage(
        demo_env,
        "prod_demo",
        "--candidates",
        str(args.candidates),
        "--export",
        str(PROD / "export"),
    )
    manage(env, "warm_results")
    conf = write_nginx_conf()
    workers = os.environ.get("WEB_CONCURRENCY", str(2 * (os.cpu_count() or 1) + 1))
    web_env = {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{WEB_PORT}",
        "WEB_CONCURRENCY": workers,
        "PROMETHEUS_MULTIPROC_DIR": str(PROD / "prometheus"),
    }
    launch(
        "web",
        [str(BIN / "gunicorn"), "-c", str(DEPLOY / "gunicorn.conf.py"), "ops.wsgi:application"],
        web_env,
        "ops.wsgi:application",
    )
    queue = env["CELERY_DEFAULT_QUEUE"]
    launch(
        "worker",
        [
            str(BIN / "celery"), "-A", "bac", "worker", "--loglevel", "INFO",
            "--concurrency", os.environ.get("PROD_WORKER_CONCURRENCY", "2"),
            "--hostname", f"{queue}@%h", "--queues", queue, "--without-gossip", "--without-mingle",
        ],
        env,
        "worker",
    )  # fmt: skip
    launch(
        "beat",
        [
            str(BIN / "celery"), "-A", "bac", "beat", "--loglevel", "INFO",
            "--schedule", str(RUN / "celerybeat-schedule"), "--pidfile", str(RUN / "celerybeat.pid"),
        ],
        env,
        "beat",
    )  # fmt: skip
    launch("nginx", [nginx, "-c", str(conf), "-e", str(LOG / "nginx-error.log")], env, "nginx")
    base = f"http://127.0.0.1:{PORT}"
    _wait(lambda: _get(f"{base}/readyz") == 200, 60, "the stack (/readyz through nginx)")
    for name in PROCESSES:
        if not running(name):
            sys.exit(f"[prod] {name} exited: see {LOG / (name + '.log')}")
    say(f"up: {base}/  (workers: {workers} web, worker, beat, nginx; logs in {LOG})")
    say(f"static results export: {base}/results-export/   metrics: {base}/metrics")


def stop(_args: argparse.Namespace | None = None) -> None:
    stopped = []
    for name in reversed(PROCESSES):
        pid = running(name)
        if pid is None:
            pid_file(name).unlink(missing_ok=True)
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            say(f"{name} did not stop in 30 s: killing it")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pid_file(name).unlink(missing_ok=True)
        stopped.append(name)
    say(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def print_env(_args: argparse.Namespace) -> None:
    broker = AMQP_URL if _port_open("127.0.0.1", 5672) else REDIS_BROKER_URL
    for key, value in environment(broker).items():
        print(f"export {key}={value!r}".replace("'", '"'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start_parser = sub.add_parser("start")
    start_parser.add_argument(
        "--candidates", type=int, default=int(os.environ.get("PROD_CANDIDATES", "2000"))
    )
    start_parser.set_defaults(func=start)
    sub.add_parser("stop").set_defaults(func=stop)
    sub.add_parser("env").set_defaults(func=print_env)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
