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
the figure. BENCH_API_SECONDS (15) sets the measured duration, BENCH_API_CONNECTIONS (8) the
concurrent connections, BENCH_API_MIN_RPS (300) the figure asserted.
"""

import datetime as dt
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
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
    return create_api_token(caller.user, name="bench", scopes=["read"])[1]


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


def _with_wrk(url: str, secret: str) -> tuple[float, str]:
    threads = str(min(2, CONNECTIONS))
    args = ["wrk", "-t", threads, "-c", str(CONNECTIONS), "-H", f"Authorization: Bearer {secret}", url]
    subprocess.run([*args[:-1], "-d", "3s", url], capture_output=True, check=True)  # warm-up
    out = subprocess.run([*args[:-1], "-d", f"{SECONDS}s", "--latency", url], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert "Non-2xx" not in out, out
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), out


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


def _with_python(port: int, path: str, secret: str) -> tuple[float, str]:
    with multiprocessing.get_context("fork").Pool(CONNECTIONS) as pool:
        pool.map(_python_client, [(port, path, secret, time.monotonic() + 2)] * CONNECTIONS)  # warm-up
        start = time.monotonic()
        results = pool.map(_python_client, [(port, path, secret, start + SECONDS)] * CONNECTIONS)
        elapsed = time.monotonic() - start
    ok, bad = sum(r[0] for r in results), sum(r[1] for r in results)
    assert bad == 0, f"{bad} non-200 answers"
    return ok / elapsed, f"python load generator: {ok} requests in {elapsed:.1f} s, {CONNECTIONS} processes"


def test_list_services_serves_300_requests_per_second(client):
    secret = _seed()
    path = "/api/v1/services"
    headers = {"Authorization": f"Bearer {secret}"}
    client.get(path, headers=headers)  # the token's last-used write happens once a minute: not in the count
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(path, headers=headers)
    assert answer.status_code == 200 and answer.json()["count"] == 25
    print(f"\nqueries per request: {len(queries)} (token; page with its total count)")
    assert len(queries) <= 2, [q["sql"] for q in queries]

    port = _free_port()
    server = _gunicorn(port)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        _wait_ready(url, secret)
        load_before = _load()
        if shutil.which("wrk"):
            rps, detail = _with_wrk(url, secret)
        else:
            rps, detail = _with_python(port, path, secret)
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
    assert rps >= MIN_RPS
