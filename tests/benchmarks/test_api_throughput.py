"""Benchmark (issue #8): `GET /api/v1/services` serves at least 300 requests/s.

Real stack: MariaDB with seeded data (BENCH_API_CUSTOMERS customers, 5 services each, and the
caller with 25 services on subscriptions), Redis for the cache (the per-token rate-limit counter),
gunicorn with 2 workers (gthread, 4 threads each; BENCH_API_THREADS=1 for sync workers; DEBUG off), and a load tool on loopback: `wrk` from Debian
(`apt-get install wrk`) when it is installed, else a Python load generator (processes doing one
request per connection, as gunicorn's sync workers close each connection anyway). Not in the default
run. On MariaDB:

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_h2 \
    REDIS_URL=redis://127.0.0.1:6379/2 pytest tests/benchmarks/test_api_throughput.py -s -o addopts=""

The machine is shared: the load average at the start and end of the measurement is printed beside
the figure, with load-independent figures: queries per request; CPU per request in process
(BENCH_API_IN_PROCESS requests, 1000, through Django's WSGI handler; 0 skips it) with cProfile's top
entries; and CPU per request of gunicorn, MariaDB, Redis and wrk during the run (read from /proc; the
database and Redis figures include whatever else uses them). BENCH_API_SECONDS (15) sets the measured
duration, BENCH_API_CONNECTIONS (8) the concurrent connections, BENCH_API_MIN_RPS (300) the figure asserted.
"""

import cProfile
import datetime as dt
import io
import json
import multiprocessing
import os
import pstats
import re
import resource
import shutil
import socket
import subprocess
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from core import clock
from core.accounts.models import Customer, User
from core.accounts.services import create_api_token
from core.billing.models import Subscription
from core.provisioning.models import Service
from tests.factories import CurrencyFactory, PlatformConnectionFactory, PriceFactory, ProductFactory

CUSTOMERS = int(os.environ.get("BENCH_API_CUSTOMERS", "2000"))
SECONDS = int(os.environ.get("BENCH_API_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("BENCH_API_CONNECTIONS", "8"))
MIN_RPS = float(os.environ.get("BENCH_API_MIN_RPS", "300"))
# gthread: each of the 2 workers overlaps its requests' database and cache round trips (BENCH_API_THREADS=1: sync).
THREADS = int(os.environ.get("BENCH_API_THREADS", "4"))
# In-process phase: this many requests through Django's WSGI handler, timed with process CPU time.
IN_PROCESS = int(os.environ.get("BENCH_API_IN_PROCESS", "1000"))
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.benchmark, pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _seed() -> str:
    """Many customers with services, and the caller: returns the caller's API token secret."""
    usd = CurrencyFactory(code="USD")
    connection_ = PlatformConnectionFactory()
    prices = [PriceFactory(product=ProductFactory(platform_connection=connection_), currency=usd,
                           amount=Decimal(a)) for a in ("5.00", "12.50", "20.00")]  # fmt: skip
    now = clock.now().replace(microsecond=0)
    users = User.objects.bulk_create([User(email=f"bench{n}@example.com", password="!") for n in range(CUSTOMERS + 1)])
    customers = Customer.objects.bulk_create([Customer(user=u, currency=usd, country="US") for u in users])
    services = [
        Service(customer=c, product=prices[n % 3].product, connection=connection_, status="active",
                hostname=f"s{c.pk}-{n}.example.net", created_at=now - dt.timedelta(minutes=n))
        for c in customers[1:] for n in range(5)
    ]  # fmt: skip
    Service.objects.bulk_create(services, batch_size=2000)
    caller = customers[0]
    subscriptions = Subscription.objects.bulk_create([
        Subscription(customer=caller, price=prices[n % 3], currency=usd, cycle="monthly", amount=prices[n % 3].amount,
                     status="active", current_period_start=now, current_period_end=now + dt.timedelta(days=30))
        for n in range(25)
    ])  # fmt: skip
    Service.objects.bulk_create([
        Service(customer=caller, product=s.price.product, connection=connection_, subscription=s, status="active",
                hostname=f"mine{n}.example.net", created_at=now - dt.timedelta(minutes=n))
        for n, s in enumerate(subscriptions)
    ])  # fmt: skip
    secret = create_api_token(caller.user, name="bench", scopes=["read"])[1]
    if connection.vendor == "mysql":  # fresh statistics, as a live database has (bulk inserts leave them empty)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE TABLE provisioning_service, catalog_product, billing_subscription, "
                           "accounts_apitoken, accounts_user, accounts_customer")  # fmt: skip
            cursor.fetchall()
    return secret


def _in_process(path: str, secret: str) -> None:
    """CPU per request without the load tool or gunicorn (load-independent): IN_PROCESS requests through
    the WSGI handler with the whole middleware stack, then cProfile's top entries over a fifth of them."""
    handler = WSGIHandler()
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "wsgi.url_scheme": "http", "HTTP_AUTHORIZATION": f"Bearer {secret}"}  # fmt: skip

    def run(n: int) -> None:
        for _ in range(n):
            body = b"".join(handler({**environ, "wsgi.input": io.BytesIO()}, lambda status, headers: None))
            assert body.startswith(b'{"items"'), body[:200]

    # The test database is one connection for the whole test: keep it open as the test client does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        run(50)  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        run(IN_PROCESS)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        sampled = max(IN_PROCESS // 10, 1)
        with CaptureQueriesContext(connection) as queries:  # separately: the debug cursor costs CPU too
            run(sampled)
        sql = sum(float(q["time"]) for q in queries.captured_queries) / sampled
        print(f"in-process: {IN_PROCESS} requests, {cpu / IN_PROCESS * 1000:.2f} ms CPU and {wall / IN_PROCESS * 1000:.2f} ms "
              f"wall per request ({len(queries) / sampled:.1f} queries, {sql * 1000:.2f} ms SQL wall); "
              f"load average {_load()}")  # fmt: skip
        profile = cProfile.Profile()
        profile.runcall(run, max(IN_PROCESS // 5, 1))
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(15)
        print("cProfile, top 15 by own time:\n" + "\n".join(out.getvalue().splitlines()[6:24]))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (its threads included), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pids(names: tuple[str, ...] = (), parent: int | None = None) -> list[int]:
    """Processes named `names` (the database and cache servers), or the children of `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        if (names and name in names) or (parent is not None and int(rest[1]) == parent):
            found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds spent during a block by the gunicorn processes, the database server, Redis and the load
    tool. The database and Redis are shared with whatever else runs on the machine: on a busy machine their
    figure is an upper bound."""

    def __init__(self, server_pid: int):
        self.groups = {
            "gunicorn": lambda: [server_pid, *_pids(parent=server_pid)],
            "mariadb": lambda: _pids(("mariadbd", "mysqld")),
            "redis": lambda: _pids(("redis-server",)),
        }

    def _sample(self) -> dict[str, float]:
        sample = {name: sum(_cpu_seconds(pid) for pid in pids()) for name, pids in self.groups.items()}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load tool, once it has exited
        sample["load tool"] = children.ru_utime + children.ru_stime
        return sample

    def __enter__(self):
        self.before = self._sample()
        return self

    def __exit__(self, *exc):
        after = self._sample()
        self.used = {name: after[name] - self.before[name] for name in after}

    def per_request(self, requests: int) -> str:
        parts = [f"{name} {seconds / requests * 1000:.2f}" for name, seconds in self.used.items()]
        return f"CPU per request (ms): {', '.join(parts)}; total {sum(self.used.values()) / requests * 1000:.2f}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gunicorn(port: int) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_ENV": "development",
        "DEBUG": "0",
        "DATABASE_URL": f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 3306}/{db['NAME']}",
        "TEST_DATABASE_URL": "",
        "API_RATE_LIMIT": "100000000/m",
        "CONN_MAX_AGE": "600",
    }
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "core.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", *(["--worker-class", "gthread", "--threads", str(THREADS)] if THREADS > 1 else [])],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait_ready(url: str, secret: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                body = json.loads(response.read())
                assert body["count"] == 25, body["count"]
                return
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _with_wrk(url: str, secret: str, meter: CpuMeter) -> tuple[float, int, str]:
    threads = str(min(2, CONNECTIONS))
    args = ["wrk", "-t", threads, "-c", str(CONNECTIONS), "-H", f"Authorization: Bearer {secret}", url]
    subprocess.run([*args[:-1], "-d", "3s", url], capture_output=True, check=True)  # warm-up
    with meter:
        out = subprocess.run([*args[:-1], "-d", f"{SECONDS}s", "--latency", url], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    assert "Non-2xx" not in out, out
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), requests, out


def _python_client(args) -> tuple[int, int]:
    import http.client

    port, path, secret, until = args
    ok = bad = 0
    while time.monotonic() < until:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers={"Authorization": f"Bearer {secret}"})
        response = conn.getresponse()
        response.read()
        ok, bad = (ok + 1, bad) if response.status == 200 else (ok, bad + 1)
        conn.close()
    return ok, bad


def _with_python(port: int, path: str, secret: str, meter: CpuMeter) -> tuple[float, int, str]:
    with multiprocessing.get_context("fork").Pool(CONNECTIONS) as pool:
        pool.map(_python_client, [(port, path, secret, time.monotonic() + 2)] * CONNECTIONS)  # warm-up
        with meter:  # the load processes' own CPU is not counted (not reaped yet)
            start = time.monotonic()
            results = pool.map(_python_client, [(port, path, secret, start + SECONDS)] * CONNECTIONS)
            elapsed = time.monotonic() - start
    ok, bad = sum(r[0] for r in results), sum(r[1] for r in results)
    assert bad == 0, f"{bad} non-200 answers"
    return ok / elapsed, ok, f"python load generator: {ok} requests in {elapsed:.1f} s, {CONNECTIONS} processes"


def test_list_services_serves_300_requests_per_second(client, settings):
    settings.API_RATE_LIMIT = "100000000/m"  # as for gunicorn below: the counter is still kept
    secret = _seed()
    path = "/api/v1/services"
    headers = {"Authorization": f"Bearer {secret}"}
    client.get(path, headers=headers)  # the token's last-used write happens once a minute: not in the count
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(path, headers=headers)
    assert answer.status_code == 200 and answer.json()["count"] == 25
    print(f"\nqueries per request: {len(queries)} (token; page with its total count)")
    assert len(queries) <= 2, [q["sql"] for q in queries]
    if IN_PROCESS:
        _in_process(path, secret)

    port = _free_port()
    server = _gunicorn(port)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        _wait_ready(url, secret)
        load_before = _load()
        meter = CpuMeter(server.pid)
        if shutil.which("wrk"):
            rps, requests, detail = _with_wrk(url, secret, meter)
        else:
            rps, requests, detail = _with_python(port, path, secret, meter)
        load_after = _load()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    print(detail)
    print(f"GET {path}: {rps:.0f} requests/s (gunicorn 2 workers x {THREADS} threads, {CONNECTIONS} connections, {SECONDS} s, "
          f"{CUSTOMERS} customers / {CUSTOMERS * 5 + 25} services); load average {load_before} -> {load_after}")  # fmt: skip
    print(meter.per_request(requests))
    assert rps >= MIN_RPS
