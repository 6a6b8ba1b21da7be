"""Benchmark: results day. 500,000 published results, the real server, a real load generator.

    .venv/bin/python bench/results_day.py [--candidates 500000] [--duration 20] [--keep]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), Redis on 127.0.0.1:6379 and `wrk`
(Debian: apt-get install wrk). It

1. creates the throw-away database `bac_bench_day` (dropped at the end unless --keep) and empties
   Redis database 5;
2. seeds N candidates (`manage.py seed`), one computation with N results (INSERT ... SELECT),
   and publishes it through results.publication (rows, cache, pointer), timed;
3. starts gunicorn with the production configuration (deploy/gunicorn.conf.py: sync workers,
   preloaded, metrics on) and settings (DEBUG=false, a SECRET_KEY, ALLOWED_HOSTS=127.0.0.1,
   SECURE_SSL_REDIRECT=false, TRUSTED_PROXY_COUNT=1) serving bench/results_day_wsgi.py: the
   production WSGI entry point (ops.wsgi: request ids, metrics, the lookup's fast path, Django)
   plus a bare hello;
4. drives each target with wrk from a separate process, one after the other in the same run,
   with the same Lua script (bench/results_day.lua): POST of random pairs, about 30% invalid
   (wrong birth date or unknown code), each from a random client address in X-Forwarded-For,
   which the server believes (one trusted proxy), so the per-address limit applies per client
   as behind a load balancer; the per-code limit is the default:
   (a) /bench/hello            a bare WSGI "hello" on the same server and workers
   (b) /bench/orm-lookup       a straightforward Django view doing the lookup with the ORM
   (c) /results/api/lookup     our lookup, rate-limited, as production serves it on results
                               day: from the host's replica (results.replica, written by
                               `manage.py build_results_replica` before the server starts,
                               timed), limits counted on the host
   (d) /results/api/lookup     the same lookup through the shared cache instead (one Redis
                               round trip; limits exact across hosts), on a second server with
                               RESULTS_LOOKUP_REPLICA=false: for comparison, not judged
5. repeats (a, b, c, d) for a few rounds (other work on the machine makes single runs noisy) and
   prints each run, the medians of requests/s, p50 and p99, and the ratios c/a and c/b.

Targets (DESIGN §6): c/a >= 0.5, c/b >= 10, p99 < 100 ms at 256 connections.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# The project's apps before bench/ (whose convocations.py, diplomas.py, ... would shadow them),
# bench/ still on the path for results_day_settings and results_day_urls.
sys.path[:] = [str(ROOT), *(p for p in sys.path if p not in (str(ROOT), str(BENCH))), str(BENCH)]

SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/5"
TARGETS = (
    ("a", "hello", "/bench/hello"),
    ("b", "ORM view", "/bench/orm-lookup"),
    ("c", "our lookup", "/results/api/lookup"),
    ("d", "via Redis", "/results/api/lookup"),
)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=500_000)
    parser.add_argument("--database", default="bac_bench_day")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of (a, b, c), interleaved; medians printed"
    )
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn sync workers"
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--pairs", type=int, default=100_000, help="pairs in the wrk script")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a kept database (skip seeding and publishing)"
    )
    return parser.parse_args()


def _database_url(name: str) -> str:
    parsed = urlparse(os.environ.get("BENCH_POSTGRES_URL", SERVER_URL))
    return urlunparse(parsed._replace(scheme="postgresql", path="/" + name))


def _admin(statement) -> None:
    import psycopg

    parsed = urlparse(os.environ.get("BENCH_POSTGRES_URL", SERVER_URL))
    with psycopg.connect(urlunparse(parsed._replace(scheme="postgresql")), autocommit=True) as db:
        db.execute(statement)


def _recreate_database(name: str) -> None:
    from psycopg import sql

    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(name: str) -> None:
    from psycopg import sql

    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _environment(database: str, var_dir: str) -> dict[str, str]:
    """The production settings, as the server will read them (and this process too)."""
    return {
        "DATABASE_URL": _database_url(database),
        "REDIS_URL": REDIS_URL,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "TRUSTED_PROXY_COUNT": "1",
        "RESULTS_LOOKUP_KEY": secrets.token_urlsafe(48),
        "BAC_VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
        # Results day is measured alone: the diplomas are issued by their own benchmark.
        "DIPLOMAS_AUTO_ISSUE": "false",
        "DJANGO_SETTINGS_MODULE": "results_day_settings",
        **_replica_environment(var_dir),
    }


def _replica_environment(var_dir: str) -> dict[str, str]:
    # On a tmpfs, as docs/deployment.md advises: a disk file's pages may leave the page cache
    # (this machine's hypervisor reclaims it), and a lookup would then wait for the disk.
    shm = Path("/dev/shm")  # noqa: S108 (the name below is mkdtemp's, unguessable)
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(var_dir)
    return {
        "RESULTS_LOOKUP_REPLICA": "true",
        "RESULTS_REPLICA_DIR": str(base / f"bac-bench-replica-{Path(var_dir).name}"),
    }


def write_replica(var_dir: str) -> None:
    """What a deployment does on each application host before the moment: write the replica of
    the live publications (timed; web processes would otherwise write it on first need)."""
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("build_results_replica", stdout=open(os.devnull, "w"))  # noqa: SIM115
    size = sum(p.stat().st_size for p in Path(os.environ["RESULTS_REPLICA_DIR"]).glob("*.replica"))
    print(f"host replica written in {time.perf_counter() - started:.1f} s ({size / 1e6:,.0f} MB)")


RESULTS_SQL = """
INSERT INTO results_computedresult
    (computation_id, candidate_id, continuous_average, regional_average, national_average,
     general_average, decision, mention, reason)
SELECT %(computation)s, id, c, r, n, g,
       CASE WHEN g >= 10 THEN 'admitted' WHEN g >= 7 THEN 'catch_up' ELSE 'failed' END,
       CASE WHEN g >= 16 THEN 'tres_bien' WHEN g >= 14 THEN 'bien'
            WHEN g >= 12 THEN 'assez_bien' WHEN g >= 10 THEN 'passable' ELSE '' END,
       ''
FROM (
    SELECT id, c, r, n, round((c * 0.25 + r * 0.25 + n * 0.5)::numeric, 2) AS g
    FROM (
        SELECT id,
               round((6 + random() * 13)::numeric, 2) AS c,
               round((4 + random() * 15)::numeric, 2) AS r,
               round((2 + random() * 17)::numeric, 2) AS n
        FROM candidates_candidate WHERE session_id = %(session)s
    ) marks
) averages
"""


def _seed_and_publish(candidates: int) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from exams.models import ExamSession
    from results import publication as publication_module
    from results.models import Computation
    from results.publication import prepare_publication, schedule_publication

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    call_command("seed", candidates=candidates, stdout=open(os.devnull, "w"))  # noqa: SIM115
    print(f"seeded {candidates:,} candidates in {time.perf_counter() - started:.0f} s")
    session = ExamSession.objects.get(is_current=True)
    computation = Computation.objects.create(
        session=session,
        status=Computation.Status.DONE,
        total=candidates,
        processed=candidates,
        finished_at=timezone.now(),
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(RESULTS_SQL, {"computation": computation.pk, "session": session.pk})
        cursor.execute("ANALYZE")
    print(f"computed results inserted in {time.perf_counter() - started:.1f} s")
    # No SMS or e-mail for half a million synthetic candidates: the push is not measured here.
    publication_module.on_publication_public = lambda publication: 0
    started = time.perf_counter()
    publication = schedule_publication(computation, timezone.now(), None, "results-day benchmark")
    publication = prepare_publication(publication.pk)
    # The pointer is written after commit (autocommit here): it is already there.
    seconds = time.perf_counter() - started
    print(
        f"published v{publication.version}: {publication.count:,} results (rows + cache) in "
        f"{seconds:.1f} s ({publication.count / seconds:,.0f}/s)"
    )


def _write_pairs(path: Path, count: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """`count` random valid pairs, plus 30% as many wrong birth dates and unknown codes."""
    import random

    from django.db import connection

    rng = random.Random(2026)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.2026)")
        cursor.execute(
            "SELECT massar_code, birth_date FROM candidates_candidate ORDER BY random() LIMIT %s",
            [count],
        )
        valid = [(code, birth.isoformat()) for code, birth in cursor.fetchall()]
    invalid: list[tuple[str, str]] = []
    for index, (code, birth) in enumerate(valid[: int(len(valid) * 0.43)]):
        if index % 2:
            invalid.append((code, f"{int(birth[:4]) - 1}{birth[4:]}"))  # wrong birth date
        else:
            invalid.append((f"Z{rng.randrange(10**9):09d}", birth))  # unknown code
    lines = valid + invalid
    rng.shuffle(lines)
    path.write_text("".join(f"{code},{birth}\n" for code, birth in lines))
    return valid, invalid


def _post(port: int, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": "100.64.0.1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    # The production configuration (deploy/gunicorn.conf.py: sync workers, preloaded
    # application, metrics in PROMETHEUS_MULTIPROC_DIR), bound to the benchmark's port.
    metrics_dir = Path(env["BAC_VAR_DIR"]) / "prometheus"
    env = {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "-c",
        str(ROOT / "deploy" / "gunicorn.conf.py"),
        "--chdir",
        str(ROOT),
        "--pythonpath",
        str(BENCH),
        "results_day_wsgi:application",
    ]
    log = open(Path(env["BAC_VAR_DIR"]) / "gunicorn.log", "ab")  # noqa: SIM115
    server = subprocess.Popen(  # noqa: S603
        command, env={**os.environ, **env}, start_new_session=True, stdout=log, stderr=log
    )
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/hello", timeout=1):  # noqa: S310
                return server
        except OSError:
            if server.poll() is not None:
                sys.exit("gunicorn did not start")
            time.sleep(0.2)
    server.terminate()
    sys.exit("gunicorn did not answer")


_LATENCY = re.compile(r"^\s*(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(port: int, path: str, pairs: Path, args: argparse.Namespace, seconds: int) -> dict:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(BENCH / "results_day.lua"),
        f"http://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(  # noqa: S603
        command,
        env={**os.environ, "RESULTS_DAY_PAIRS": str(pairs)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {m.group(1): float(m.group(2)) * _UNITS[m.group(3)] for m in _LATENCY.finditer(out)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "rps": rps,
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "requests": int(total.group(1)) if total else 0,
        "errors": errors.group(0) if errors else "",
    }


def _refusals_explained(result: dict, invalid_share: float) -> bool:
    """Whether the run's non-2xx answers are the invalid pairs' (about 30%), give or take. A run
    whose lookups were mostly refused (rate limited: a wrong proxy count puts every request on
    one address) measures the limiter, not the lookup: its figures must not be reported."""
    return (
        bool(result["requests"]) and result["non2xx"] / result["requests"] <= invalid_share + 0.05
    )


def check_refusals(runs: dict[str, list[dict]], invalid_share: float) -> None:
    for letter in ("b", "c", "d"):
        for number, result in enumerate(runs.get(letter, []), 1):
            if not _refusals_explained(result, invalid_share):
                sys.exit(
                    f"round {number} ({letter}): {result['non2xx']:,} of {result['requests']:,}"
                    f" answers were not 2xx, more than the {invalid_share:.0%} of invalid pairs"
                    " explain (rate limited?): these figures measure refusals, not lookups"
                )


def forget_rate_limits() -> int:
    """Delete the rate-limit counters left in the benchmark's Redis database by an earlier run
    (the snapshot stays): the same pairs run again within the hour would find their codes
    locked by the failures counted then, and measure refusals. Returns the keys deleted."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match="*ratelimit:*", count=10_000))
    return sum(client.unlink(*keys[i : i + 10_000]) for i in range(0, len(keys), 10_000))


def _median(results: list[dict]) -> dict:
    import statistics

    return {key: statistics.median(r[key] for r in results) for key in ("rps", "p50", "p99")}


def main() -> None:
    args = _parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    var_dir = tempfile.mkdtemp(prefix="bac-bench-day-")
    env = _environment(args.database, var_dir)
    if args.reuse:
        state = Path(tempfile.gettempdir()) / f"{args.database}.env.json"
        env = json.loads(state.read_text())
        # The state may come from bench/results_day_nginx.py, which trusts two proxies.
        env["TRUSTED_PROXY_COUNT"] = "1"
        env["BAC_VAR_DIR"] = var_dir
        env.update(_replica_environment(var_dir))
    os.environ.update(env)
    if not args.reuse:
        _recreate_database(args.database)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()

    import django

    django.setup()
    from django.db import connection

    server = shared_server = None
    try:
        if not args.reuse:
            _seed_and_publish(args.candidates)
        if args.keep:
            state = Path(tempfile.gettempdir()) / f"{args.database}.env.json"
            state.write_text(json.dumps(env))
        import redis

        forgotten = forget_rate_limits()
        if forgotten:
            print(f"Redis: {forgotten:,} rate-limit counters of an earlier run deleted")
        memory = redis.Redis.from_url(REDIS_URL).info("memory")["used_memory_human"]
        print(f"Redis db 5 holds the snapshot: {memory} used")
        pairs = Path(var_dir) / "pairs.csv"
        valid, invalid = _write_pairs(pairs, args.pairs)
        print(f"wrk pairs: {len(valid):,} valid, {len(invalid):,} invalid")
        write_replica(var_dir)
        connection.close()

        server = _start_server(env, args.port, args.workers)
        shared_env = {**env, "RESULTS_LOOKUP_REPLICA": "false", "BAC_VAR_DIR": f"{var_dir}/d"}
        Path(shared_env["BAC_VAR_DIR"]).mkdir()
        shared_server = _start_server(shared_env, args.port + 1, args.workers)
        status, body = _post(
            args.port,
            "/results/api/lookup",
            {"massar_code": valid[0][0], "birth_date": valid[0][1]},
        )
        assert status == 200 and body["status"] == "found", (status, body)
        status, body = _post(
            args.port,
            "/results/api/lookup",
            {"massar_code": invalid[0][0], "birth_date": invalid[0][1]},
        )
        assert status == 404 and body["status"] == "not_found", (status, body)
        status, body = _post(
            args.port, "/bench/orm-lookup", {"massar_code": valid[1][0], "birth_date": valid[1][1]}
        )
        assert status == 200 and body["status"] == "found", (status, body)
        print(
            f"gunicorn {args.workers} sync workers; wrk -t{args.threads} -c{args.connections} "
            f"-d{args.duration}s (after {args.warmup} s of warm-up) on each target, "
            f"{args.rounds} interleaved rounds"
        )

        runs: dict[str, list[dict]] = {letter: [] for letter, _label, _path in TARGETS}
        for round_number in range(1, args.rounds + 1):
            for letter, label, path in TARGETS:
                port = args.port + 1 if letter == "d" else args.port
                _wrk(port, path, pairs, args, args.warmup)
                result = _wrk(port, path, pairs, args, args.duration)
                runs[letter].append(result)
                print(
                    f"  round {round_number} ({letter}) {label:<11} {result['rps']:9,.0f} req/s   "
                    f"p50 {result['p50']:7.2f} ms   p99 {result['p99']:7.2f} ms   "
                    f"non-2xx {result['non2xx']:,} of {result['requests']:,}"
                    + (f"   {result['errors']}" if result["errors"] else "")
                )
        check_refusals(runs, len(invalid) / (len(valid) + len(invalid)))
        measured = {letter: _median(results) for letter, results in runs.items()}
        print(f"median of {args.rounds} rounds:")
        for letter, label, _path in TARGETS:
            result = measured[letter]
            print(
                f"({letter}) {label:<11} {result['rps']:9,.0f} req/s   p50 {result['p50']:7.2f} ms   "
                f"p99 {result['p99']:7.2f} ms"
            )
        a, b, c, d = measured["a"], measured["b"], measured["c"], measured["d"]
        ratio_a, ratio_b = c["rps"] / a["rps"], c["rps"] / b["rps"]
        print(
            f"(d) through the shared cache, for comparison: d/a = {d['rps'] / a['rps']:.2f}, "
            f"d/b = {d['rps'] / b['rps']:.1f}, p99 {d['p99']:.1f} ms"
        )
        print(f"c/a = {ratio_a:.2f}   (target >= 0.5: {'PASS' if ratio_a >= 0.5 else 'FAIL'})")
        print(f"c/b = {ratio_b:.1f}   (target >= 10: {'PASS' if ratio_b >= 10 else 'FAIL'})")
        print(
            f"p99 of c = {c['p99']:.1f} ms at {args.connections} connections "
            f"(target < 100 ms: {'PASS' if c['p99'] < 100 else 'FAIL'}; the bare hello's own p99 "
            f"in these runs: {a['p99']:.1f} ms, this machine's floor)"
        )
    finally:
        for running in (server, shared_server):
            if running is not None:
                os.killpg(running.pid, signal.SIGTERM)
                running.wait(timeout=30)
        connection.close()
        if not args.keep:
            _drop_database(args.database)
        shutil.rmtree(var_dir, ignore_errors=True)
        shutil.rmtree(env["RESULTS_REPLICA_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
