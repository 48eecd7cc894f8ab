"""Benchmark (issue #10): the admin dashboard with 100,000 subscriptions on MariaDB renders in under 500 ms.

Not in the default run:

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_h6 \
    REDIS_URL=redis://127.0.0.1:6379/6 .venv/bin/python -m pytest tests/benchmarks/test_dashboard.py \
    -s -o addopts="" -p no:cacheprovider -n 0

What it reads: live aggregates over subscriptions (MRR, ARR, ARPU, top products), customers,
services, invoices (receivables, ageing) and payments (revenue, refunds), and the MRR movement
from the snapshot tables CustomerMRR / MRRMovementTotal that the hourly task
core.analytics.tasks.refresh_mrr_snapshots keeps (run here before measuring, and timed too).
BENCH_SUBSCRIPTIONS (100,000) and BENCH_INVOICES (200,000) set the size. The page is measured
computed afresh (`?refresh=1`, the figure the 500 ms budget applies to) and from the one-minute
cache (backoffice.dashboard.cached_kpis).
"""

import datetime as dt
import os
import statistics
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core import clock
from core.analytics.tasks import refresh_mrr_snapshots
from tests.benchmarks.scale_data import _load, seed
from tests.conftest import login_verified
from tests.factories import StaffUserFactory

SUBSCRIPTIONS = int(os.environ.get("BENCH_SUBSCRIPTIONS", "100000"))
INVOICES = int(os.environ.get("BENCH_INVOICES", "200000"))
BUDGET_MS = 500

pytestmark = [pytest.mark.benchmark, pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def test_dashboard_renders_under_500ms_with_100k_subscriptions(client):
    print(f"\nseeding {SUBSCRIPTIONS} subscriptions, {INVOICES} invoices (load {_load()})")
    seed(customers=SUBSCRIPTIONS // 2, subscriptions=SUBSCRIPTIONS, services=SUBSCRIPTIONS, invoices=INVOICES)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE billing_subscription, billing_invoice, billing_payment, provisioning_service")
    now = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)
    with clock.frozen_at(now):
        start = time.perf_counter()
        rows = refresh_mrr_snapshots()  # backfills December from history, then January live
        refresh_s = time.perf_counter() - start
    login_verified(client, StaffUserFactory())
    url = reverse("admin:index")

    def timed(query):
        times, captured = [], None
        for _ in range(5):
            with CaptureQueriesContext(connection) as ctx:
                t = time.perf_counter()
                response = client.get(url, query)
                times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200
            captured = ctx.captured_queries
        return statistics.median(times), times, captured

    with clock.frozen_at(now):
        client.get(url, {"refresh": "1"})
        cold, cold_times, captured = timed({"refresh": "1"})  # every figure computed afresh
        warm, warm_times, _ = timed({})  # within DASHBOARD_CACHE_SECONDS
    sql_ms = sum(float(q["time"]) for q in captured) * 1000
    print(f"  MRR snapshot refresh: {rows} customer rows in {refresh_s:.1f}s")
    print(
        f"  dashboard computed afresh: median {cold:.0f} ms of {[round(t) for t in cold_times]}, "
        f"{len(captured)} queries, {sql_ms:.0f} ms in SQL (load {_load()})"
    )
    print(f"  dashboard from the 60 s cache: median {warm:.0f} ms of {[round(t) for t in warm_times]}")
    for q in sorted(captured, key=lambda q: -float(q["time"]))[:6]:
        print(f"    {q['time']}s {q['sql'][:160]}")
    median = cold
    if os.environ.get("BENCH_STRICT", "1") == "1":
        assert median < BUDGET_MS
