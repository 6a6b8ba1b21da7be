"""Soak test: the results lookup at a steady rate for a long time, through nginx, on the stack
that `make prod` runs; no error allowed, and the web workers' memory must not grow.

    PROD_TRUSTED_PROXIES=2 make prod           # wrk/this client play the load balancer
    .venv/bin/python bench/soak.py [--minutes 10] [--fraction 0.8] [--rate N]

1. capacity: unless --rate is given, wrk drives the lookup for --probe seconds (256
   connections, the results-day Lua script) and the soak rate is --fraction of what it measured;
2. soak: an open-loop, paced asyncio client (no dependency: HTTP/1.1 keep-alive over asyncio
   streams) sends requests at that rate, each scheduled at its own moment, so that latency is
   measured from when the request SHOULD have left (no coordinated omission), each from a
   random client address in X-Forwarded-For; valid pairs read from the stack's database mixed
   with about 30 % unknown codes (404);
3. every 10 s, the resident memory (VmRSS) of each gunicorn worker (children of the pid in
   var/prod/run/web.pid) is sampled.

It prints the achieved rate, latency percentiles, the status counts (200 and 404 are expected,
anything else is an error: 429, 5xx, timeouts, connection errors), and each worker's memory at
the start (first minute) and the end (last minute). Exit status 1 on any error or if a worker
grew by more than --max-growth (10 %) from the first minute to the last.

On freshly started workers, bounded per-process caches fill up first (e.g. 65,536 canonical
client addresses per worker in identity.ratelimit, about 13 MiB with the soak's random
addresses): soak once to warm them, then measure (docs/deployment.md, "Measured").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PROD = Path(os.environ.get("PROD_DIR", ROOT / "var" / "prod"))


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080/results/api/lookup")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--fraction", type=float, default=0.8)
    parser.add_argument("--rate", type=float, help="requests per second (skips the probe)")
    parser.add_argument("--probe", type=int, default=15, help="seconds of wrk to find capacity")
    parser.add_argument("--connections", type=int, default=64, help="soak client connections")
    parser.add_argument("--max-growth", type=float, default=0.10)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "SOAK_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bac_prod"
        ),
    )
    return parser.parse_args()


def _pairs(database_url: str) -> list[bytes]:
    """Valid pairs from the stack's database, and about 30 % unknown codes (each new: a wrong
    birth date repeated on the same few thousand codes would, rightly, hit the per-code limit)."""
    import psycopg

    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT massar_code, birth_date::text FROM results_publishedresult"
        ).fetchall()
    return [json.dumps({"massar_code": c, "birth_date": b}).encode() for c, b in rows]


def _unknown(bodies: list[bytes]) -> bytes:
    """A code that exists nowhere, new each time, with some candidate's birth date."""
    birth = json.loads(bodies[random.randrange(len(bodies))])["birth_date"]  # noqa: S311
    code = f"Z{random.randrange(10**9):09d}"  # noqa: S311
    return json.dumps({"massar_code": code, "birth_date": birth}).encode()


def _probe(url: str, bodies: list[bytes], seconds: int) -> float:
    """Closed-loop capacity with wrk (bench/results_day.lua), in requests per second."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed for the capacity probe (apt-get install wrk), or give --rate")
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
        lines = list(bodies) + [_unknown(bodies) for _ in range(int(len(bodies) * 0.43))]
        for body in lines:
            data = json.loads(body)
            handle.write(f"{data['massar_code']},{data['birth_date']}\n")
    out = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "wrk", "-t2", "-c256", f"-d{seconds}s", "--timeout", "5s", "-s",
            str(BENCH / "results_day.lua"), url,
        ],
        env={**os.environ, "RESULTS_DAY_PAIRS": handle.name},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(handle.name)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    print(f"capacity probe (wrk -c256, {seconds} s): {rate:,.0f} req/s, non-2xx "
          f"{int(non2xx.group(1)) if non2xx else 0:,} of {total:,} (404s expected)")  # fmt: skip
    return rate


# --- memory of the web workers ----------------------------------------------------------------


def _web_workers() -> list[int]:
    master = int((PROD / "run" / "web.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                children.append(int(entry.name))
    return sorted(children)


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# --- the paced client -------------------------------------------------------------------------


class Results:
    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []

    def add(self, status: str, latency: float) -> None:
        self.statuses[status] += 1
        self.latencies.append(latency)


async def _connection(host: str, port: int, path: str, queue, bodies, results: Results) -> None:
    reader = writer = None
    while True:
        due = await queue.get()
        if due is None:
            break
        if random.random() < 0.3:  # noqa: S311
            body = _unknown(bodies)
        else:
            body = bodies[random.randrange(len(bodies))]  # noqa: S311
        address = f"100.{random.randint(64, 127)}.{random.randint(0, 255)}.{random.randint(1, 254)}"  # noqa: S311
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"X-Forwarded-For: {address}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            status_line = await asyncio.wait_for(reader.readline(), 10)
            status = status_line.split(b" ", 2)[1].decode()
            length = 0
            close = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _sep, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and "close" in value.lower():
                    close = True
            await reader.readexactly(length)
            if close:
                writer.close()
                writer = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, IndexError) as exc:
            status = type(exc).__name__
            if writer is not None:
                writer.close()
            writer = None
        results.add(status, time.perf_counter() - due)


async def _soak(
    url: str, rate: float, seconds: float, connections: int, bodies, on_tick
) -> Results:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    queue: asyncio.Queue = asyncio.Queue()
    results = Results()
    workers = [
        asyncio.create_task(
            _connection(parsed.hostname, parsed.port or 80, parsed.path, queue, bodies, results)
        )
        for _ in range(connections)
    ]
    start = time.perf_counter()
    sent = 0
    next_tick = start + 10
    while True:
        now = time.perf_counter()
        if now - start >= seconds:
            break
        # Every request gets its own scheduled moment; a late loop catches up.
        due_count = int((now - start) * rate) - sent
        for index in range(due_count):
            queue.put_nowait(start + (sent + index) / rate)
        sent += max(due_count, 0)
        if now >= next_tick:
            on_tick(now - start, sent, queue.qsize())
            next_tick += 10
        await asyncio.sleep(0.002)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return results


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def main() -> None:
    args = _parse_args()
    bodies = _pairs(args.database_url)
    print(f"{len(bodies):,} request bodies from the stack's database")
    rate = args.rate or args.fraction * _probe(args.url, bodies, args.probe)
    seconds = args.minutes * 60
    workers = _web_workers()
    print(f"soak: {rate:,.0f} req/s for {seconds / 60:.0f} min, {args.connections} connections; "
          f"web workers {workers}")  # fmt: skip
    memory: dict[int, list[tuple[float, int]]] = {pid: [] for pid in workers}
    cpu_start = os.times()

    def tick(elapsed: float, sent: int, backlog: int) -> None:
        for pid in workers:
            rss = _rss_kib(pid)
            if rss is not None:
                memory[pid].append((elapsed, rss))
        if int(elapsed) % 60 < 10:
            total = ", ".join(f"{memory[p][-1][1] / 1024:.1f}" for p in workers if memory[p])
            print(f"  {elapsed:5.0f} s: {sent:,} sent, backlog {backlog}, worker RSS MiB: {total}",
                  flush=True)  # fmt: skip

    tick(0, 0, 0)
    results = asyncio.run(_soak(args.url, rate, seconds, args.connections, bodies, tick))
    cpu = os.times()
    client_cpu = (cpu.user - cpu_start.user) + (cpu.system - cpu_start.system)
    total = sum(results.statuses.values())
    errors = {s: n for s, n in results.statuses.items() if s not in ("200", "404")}
    print(f"sent {total:,} in {seconds:.0f} s: {total / seconds:,.1f} req/s "
          f"(target {rate:,.1f}); client CPU {client_cpu / seconds * 100:.0f} % of a core")  # fmt: skip
    print(f"statuses: {dict(results.statuses)}")
    print(f"latency from the scheduled moment: p50 {_percentile(results.latencies, 0.5):.1f} ms, "
          f"p99 {_percentile(results.latencies, 0.99):.1f} ms, "
          f"p99.9 {_percentile(results.latencies, 0.999):.1f} ms, "
          f"max {max(results.latencies) * 1000:.1f} ms")  # fmt: skip
    grew = False
    print("web workers' RSS (MiB), mean of the first minute -> of the last minute:")
    for pid, samples in memory.items():
        first = [rss for t, rss in samples if t <= 60]
        last = [rss for t, rss in samples if t >= seconds - 60]
        if not first or not last:
            print(f"  {pid}: exited during the soak")
            grew = True
            continue
        start_mib, end_mib = statistics.mean(first) / 1024, statistics.mean(last) / 1024
        growth = (end_mib - start_mib) / start_mib
        grew |= growth > args.max_growth
        print(f"  {pid}: {start_mib:.1f} -> {end_mib:.1f} ({growth * 100:+.1f} %)")
    ok = not errors and not grew
    print("PASS" if ok else f"FAIL: errors {errors}, memory growth {grew}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
