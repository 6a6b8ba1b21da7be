"""Benchmark: results day through nginx, as in production (bench/results_day.py, plus nginx).

    .venv/bin/python bench/results_day_nginx.py [--candidates 500000] [--duration 15] [--keep]

The same database, data, gunicorn and wrk script as bench/results_day.py (imported from it),
with nginx (deploy/nginx.conf.template) in front of gunicorn, as `make prod` runs it:
wrk -> nginx (keep-alive upstream) -> gunicorn sync workers. wrk plays the load balancer in
front of nginx: each request carries a random client address in X-Forwarded-For, and the
application trusts two proxies (TRUSTED_PROXY_COUNT=2: the load balancer and nginx), so the
per-address limit applies per client.

It measures, through nginx: (a) the bare WSGI hello, (b) the ORM view, (c) our lookup (run
bench/results_day.py for the same without nginx: gunicorn trusts one proxy there). Targets (DESIGN §6) as in
bench/results_day.py: c/a >= 0.5, c/b >= 10, p99 < 100 ms at 256 connections.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import results_day as day  # noqa: E402

ROOT = day.ROOT


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=500_000)
    parser.add_argument("--database", default="bac_bench_day_nginx")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--port", type=int, default=8766, help="gunicorn")
    parser.add_argument("--nginx-port", type=int, default=8767)
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    return parser.parse_args()


def _start_nginx(var_dir: Path, upstream_port: int, port: int) -> subprocess.Popen:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx is needed: apt-get install nginx-light")
    tmp = var_dir / "nginx-tmp"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    user = ""
    if os.geteuid() == 0:
        user = "user www-data;"
        for path in [tmp, *tmp.iterdir()]:
            shutil.chown(path, "www-data")
    text = (ROOT / "deploy" / "nginx.conf.template").read_text()
    values = {
        "USER": user,
        "RUN": str(var_dir),
        "LOG": str(var_dir),
        "TMP": str(tmp),
        "CONF": str(var_dir),
        "ACCESS_LOG": "off",  # as a busy site would: the log costs nginx a write per request
        "UPSTREAM": f"127.0.0.1:{upstream_port}",
        "LISTEN": f"127.0.0.1:{port}",
        "STATIC": str(var_dir),
        "EXPORT": str(var_dir),
    }
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    (var_dir / "nginx.conf").write_text(text)
    shutil.copy(ROOT / "deploy" / "proxy_params.conf", var_dir / "proxy_params.conf")
    process = subprocess.Popen(  # noqa: S603
        [nginx, "-c", str(var_dir / "nginx.conf"), "-e", str(var_dir / "nginx-error.log")],
        start_new_session=True,
    )
    for _ in range(50):
        try:
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/hello", timeout=1):  # noqa: S310
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    sys.exit("nginx did not answer")


def main() -> None:
    args = _parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    var_dir = Path(tempfile.mkdtemp(prefix="bac-bench-nginx-"))
    var_dir.chmod(0o755)
    env = day._environment(args.database, str(var_dir))
    state = Path(tempfile.gettempdir()) / f"{args.database}.env.json"
    if args.reuse:  # the database may have been kept by bench/results_day.py (one proxy)
        env = json.loads(state.read_text())
        env["BAC_VAR_DIR"] = str(var_dir)
        env.update(day._replica_environment(str(var_dir)))
    env["TRUSTED_PROXY_COUNT"] = "2"  # wrk as the load balancer, then nginx
    os.environ.update(env)
    if not args.reuse:
        day._recreate_database(args.database)
        import redis

        redis.Redis.from_url(day.REDIS_URL).flushdb()

    import django

    django.setup()
    from django.db import connection

    server = nginx = None
    try:
        if not args.reuse:
            # Nothing is pushed at the moment (SMS, e-mail, diplomas issued by the other
            # services on `publication_made_public`): not what is measured here.
            from results import publication

            publication._after_commit_notify = lambda _publication: None
            day._seed_and_publish(args.candidates)
        if args.keep:
            state.write_text(json.dumps(env))
        pairs = var_dir / "pairs.csv"
        valid, invalid = day._write_pairs(pairs, args.pairs)
        day.forget_rate_limits()
        day.write_replica(str(var_dir))
        connection.close()
        server = day._start_server(env, args.port, args.workers)
        nginx = _start_nginx(var_dir, args.port, args.nginx_port)
        status, body = day._post(
            args.nginx_port,
            "/results/api/lookup",
            {"massar_code": valid[0][0], "birth_date": valid[0][1]},
        )
        assert status == 200 and body["status"] == "found", (status, body)
        status, body = day._post(
            args.nginx_port,
            "/results/api/lookup",
            {"massar_code": invalid[0][0], "birth_date": invalid[0][1]},
        )
        assert status == 404 and body["status"] == "not_found", (status, body)
        print(
            f"nginx -> gunicorn {args.workers} sync workers; wrk -t{args.threads} "
            f"-c{args.connections} -d{args.duration}s after {args.warmup} s warm-up, "
            f"{args.rounds} interleaved rounds"
        )
        targets = [
            ("a", "hello", args.nginx_port, "/bench/hello"),
            ("b", "ORM view", args.nginx_port, "/bench/orm-lookup"),
            ("c", "our lookup", args.nginx_port, "/results/api/lookup"),
        ]
        runs: dict[str, list[dict]] = {letter: [] for letter, *_ in targets}
        for round_number in range(1, args.rounds + 1):
            for letter, label, port, path in targets:
                day._wrk(port, path, pairs, args, args.warmup)
                result = day._wrk(port, path, pairs, args, args.duration)
                runs[letter].append(result)
                print(
                    f"  round {round_number} ({letter}) {label:<16} {result['rps']:9,.0f} req/s   "
                    f"p50 {result['p50']:7.2f} ms   p99 {result['p99']:7.2f} ms   "
                    f"non-2xx {result['non2xx']:,} of {result['requests']:,}"
                    + (f"   {result['errors']}" if result["errors"] else ""),
                    flush=True,
                )
        day.check_refusals(runs, len(invalid) / (len(valid) + len(invalid)))
        measured = {letter: day._median(results) for letter, results in runs.items()}
        print(f"median of {args.rounds} rounds:")
        for letter, label, _port, _path in targets:
            result = measured[letter]
            print(
                f"({letter}) {label:<16} {result['rps']:9,.0f} req/s   p50 {result['p50']:7.2f} ms"
                f"   p99 {result['p99']:7.2f} ms"
            )
        a, b, c = measured["a"], measured["b"], measured["c"]
        print(f"c/a = {c['rps'] / a['rps']:.2f}   (target >= 0.5)")
        print(f"c/b = {c['rps'] / b['rps']:.1f}   (target >= 10)")
        print(f"p99 of c = {c['p99']:.1f} ms at {args.connections} connections (target < 100 ms)")
    finally:
        for process in (nginx, server):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        connection.close()
        if not args.keep:
            day._drop_database(args.database)
        shutil.rmtree(var_dir, ignore_errors=True)
        shutil.rmtree(env["RESULTS_REPLICA_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
