"""gunicorn configuration for Bac e-Services (make prod, the Dockerfile, compose.yaml).

    gunicorn -c deploy/gunicorn.conf.py ops.wsgi:application

Everything is set from the environment, as the application's settings are:
    GUNICORN_BIND          127.0.0.1:8000 (or unix:/path/to.sock)
    WEB_CONCURRENCY        sync workers; default 2 x cores + 1
    GUNICORN_TIMEOUT       seconds before a stuck worker is replaced (30)
    GUNICORN_MAX_REQUESTS  recycle a worker after N requests (0: never)
    PROMETHEUS_MULTIPROC_DIR  where workers write their metrics (emptied at start)
"""

import glob
import multiprocessing
import os

bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Sync workers behind nginx (which buffers slow clients): the lookup answers in about a
# millisecond, and a sync worker holds one database connection (CONN_MAX_AGE) at most.
worker_class = "sync"
backlog = int(os.environ.get("GUNICORN_BACKLOG", 4096))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 0))
max_requests_jitter = max_requests // 10
# Load the application once in the arbiter: workers fork with it (less memory, faster start).
preload_app = True
# nginx logs each request (JSON, with the request id); gunicorn logs errors only.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Behind nginx on loopback: X-Forwarded-* from it are believed by Django (TRUSTED_PROXY_COUNT).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "bac-web"
# No control socket: its default path is shared by every gunicorn of the machine's user.
control_socket_disable = True


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        # Counters of a previous run would be added to this one's.
        os.makedirs(directory, exist_ok=True)
        for path in glob.glob(os.path.join(directory, "*.db")):
            os.remove(path)


def post_fork(server, worker):
    # A worker must not share the arbiter's database or Redis sockets (preload_app).
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        connection.close()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
