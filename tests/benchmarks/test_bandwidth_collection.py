"""Benchmark (issue #11): bandwidth collection for 10,000 services over 30 days of hourly windows.

Not in the default run. On MariaDB:

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_bench \
    REDIS_URL=redis://127.0.0.1:6379/7 pytest tests/benchmarks/test_bandwidth_collection.py -s -o addopts=""

The flow store is the real elasticsearch-py 8.x client over a fake transport that answers every
composite search with generated pages for the requested addresses (tests/usage/fake_es.py), so
request building, paging through after_key and response parsing are all measured; the network
and Elasticsearch's own time are not. The collector runs once per simulated day and catches up
that day's 24 closed windows (MAX_WINDOWS_PER_RUN=24, no re-reads), then refreshes daily and
period totals and checks quotas, as the hourly task does after an outage.

Reports: search requests (total and per window), ledger rows written per second, total time,
time per window, and the load average at start and end (the machine is shared).
BENCH_SERVICES (10000), BENCH_DAYS (30) change the size.
"""

import cProfile
import datetime as dt
import ipaddress
import os
import pstats
import time

import pytest
from django.db import connection

from core import clock
from core.accounts.models import Customer, User
from core.provisioning.models import Service
from core.usage import services
from core.usage.models import BandwidthPeriod, BandwidthUsage, CollectionWindow, HourlyUsage, ServiceAddress
from integrations.elastiflow.client import ElastiFlowSource
from tests.factories import CurrencyFactory, PlatformConnectionFactory, ProductFactory
from tests.usage.fake_es import fake_client

SERVICES = int(os.environ.get("BENCH_SERVICES", "10000"))
DAYS = int(os.environ.get("BENCH_DAYS", "30"))
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)

pytestmark = [pytest.mark.benchmark, pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _seed() -> list[str]:
    usd = CurrencyFactory(code="USD")
    product = ProductFactory(bandwidth_quota_gb=2000)
    connection = PlatformConnectionFactory()
    base = int(ipaddress.ip_address("100.64.0.0"))
    addresses = []
    for offset in range(0, SERVICES, 5000):
        n = min(5000, SERVICES - offset)
        users = User.objects.bulk_create([User(email=f"bw{offset + i}@example.com", password="!") for i in range(n)])
        customers = Customer.objects.bulk_create(
            [Customer(user=u, company=f"BW {u.pk}", country="US", currency=usd) for u in users]
        )
        made = Service.objects.bulk_create(
            [Service(customer=c, product=product, connection=connection, status="active", hostname=f"bw{c.pk}")
             for c in customers]
        )  # fmt: skip
        rows = []
        for i, service in enumerate(made):
            ip = str(ipaddress.ip_address(base + offset + i))
            addresses.append(ip)
            rows.append(ServiceAddress(service=service, network=ip, valid_from=START - dt.timedelta(days=1)))
        ServiceAddress.objects.bulk_create(rows, batch_size=5000)
    return addresses


def generated_pages(method, target, body, headers):
    """Every requested address has traffic every hour: one bucket per address, pages of `size`."""
    composite = body["aggs"]["ips"]["composite"]
    field = composite["sources"][0]["ip"]["terms"]["field"]
    wanted = next(f["terms"][field] for f in body["query"]["bool"]["filter"] if "terms" in f)
    after = composite.get("after", {}).get("ip")
    ips = wanted  # the collector sends them sorted; ES would sort by the binary form
    if after is not None:
        ips = ips[ips.index(after) + 1 :]
    page = ips[: composite["size"]]
    value = 1.2e8 if field.endswith("dst.ip.addr") else 3.4e8
    agg = {"buckets": [{"key": {"ip": ip}, "doc_count": 25, "bytes": {"value": value}} for ip in page]}
    if page:
        agg["after_key"] = {"ip": page[-1]}
    return 200, {"took": 3, "timed_out": False, "_shards": {"total": 4, "successful": 4, "skipped": 0, "failed": 0},
                 "hits": {"hits": []}, "aggregations": {"ips": agg}}  # fmt: skip


def test_collect_10k_services_30_days(settings):
    settings.USAGE = {
        "REREAD_WINDOWS": 0, "MAX_WINDOWS_PER_RUN": 24, "INITIAL_BACKFILL_HOURS": 24, "OWN_PREFIXES": [],
        "WINDOW_DELAY_MINUTES": 10,
    }  # fmt: skip
    _seed()
    requests = {"n": 0}

    def handler(*args):
        requests["n"] += 1
        return generated_pages(*args)

    source = ElastiFlowSource(fake_client(handler))
    load_start = _load()
    began = time.perf_counter()
    profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") == "1" else None
    for day in range(DAYS):
        with clock.frozen_at(START + dt.timedelta(days=day + 1, minutes=15)):
            if profile:
                profile.enable()
            run = services.collect_bandwidth(source=source)
            if profile:
                profile.disable()
        assert run.collected == 24 and not run.error, run
        elapsed = time.perf_counter() - began
        print(f"  day {day + 1}: {requests['n']:,} searches, {SERVICES * 24 * (day + 1) / elapsed:,.0f} rows/s "
              f"so far, {elapsed:.0f}s, load {_load()}", flush=True)  # fmt: skip
    total = time.perf_counter() - began
    windows = DAYS * 24
    rows = HourlyUsage.objects.count()
    assert rows == SERVICES * windows
    assert CollectionWindow.objects.filter(status="ok").count() == windows
    assert BandwidthUsage.objects.count() == SERVICES * DAYS
    assert BandwidthPeriod.objects.count() >= SERVICES
    per_window = requests["n"] / windows
    print(
        f"\nBandwidth collection: {SERVICES:,} services x {windows} hourly windows ({DAYS} days)\n"
        f"  search requests: {requests['n']:,} ({per_window:.1f} per window)\n"
        f"  ledger rows written: {rows:,} in {total:.1f}s -> {rows / total:,.0f} rows/s\n"
        f"  time per window (collect + totals): {total / windows:.2f}s\n"
        f"  load average at start: {load_start}; at end: {_load()}"
    )
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    assert per_window <= 10


@pytest.fixture(autouse=True)
def _truncate_ledger():
    """The test database's flush after a transactional test DELETEs row by row on MySQL/MariaDB:
    for 7.2 million ledger rows that took longer than the benchmark. TRUNCATE the big tables first."""
    yield
    if connection.vendor != "mysql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        try:
            for model in (HourlyUsage, BandwidthUsage, CollectionWindow):
                cursor.execute(f"TRUNCATE TABLE {connection.ops.quote_name(model._meta.db_table)}")
        finally:
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
