"""Benchmark (issue #10): the admin dashboard with 100,000 subscriptions on MariaDB renders in under 500 ms,
including the first render after a snapshot refresh.

Not in the default run; one command:

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_b2 \
    REDIS_URL=redis://127.0.0.1:6379/15 .venv/bin/python -m pytest tests/benchmarks/test_dashboard.py \
    -s -o addopts="" -p no:cacheprovider -n 0

What the page reads: the newest DashboardSnapshot (MRR per product and currency, paying customers,
churn, revenue, refunds, cancellations, customers and services by status; core.analytics.snapshot),
the MRR movement snapshot (CustomerMRR / MRRMovementTotal), and a few live aggregates (receivables
and ageing, overdue invoices, open tickets, needs attention, exchange rates). Both snapshots are
refreshed by the hourly django-q2 task core.analytics.tasks.refresh_snapshots, run and timed here
before measuring.

Measured: the snapshot task (wall, CPU, queries, SQL time); the first render after it (the page cache
is keyed by the snapshot id, so nothing of the previous hour's render is reused; the process has
rendered the page once before, as a running server has); the median of 5 renders re-reading the live figures
(`?refresh=1`, the figure the 500 ms budget applies to); the median of 5 renders from the one-minute
cache. Each with wall time beside the load average, process CPU time, query count and SQL time, and
the cProfile top entries of one render. BENCH_SUBSCRIPTIONS (100,000; customers = half, services =
as many) and BENCH_INVOICES (200,000) set the size; BENCH_STRICT=0 reports without asserting.
Seeding is tests/benchmarks/scale_data.ensure_seeded (INSERT ... SELECT in the database, ~20 s); add
--reuse-db to keep the data for the next run; otherwise the big tables are truncated at the end.
"""

import cProfile
import datetime as dt
import io
import os
import pstats
import statistics
import time

import pytest
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core import clock
from core.analytics import snapshot as dashboard_snapshot
from core.analytics.tasks import refresh_mrr_snapshots
from tests.benchmarks import scale_data
from tests.benchmarks.scale_data import _load
from tests.conftest import login_verified
from tests.factories import StaffUserFactory

SUBSCRIPTIONS = int(os.environ.get("BENCH_SUBSCRIPTIONS", "100000"))
INVOICES = int(os.environ.get("BENCH_INVOICES", "200000"))
BUDGET_MS = 500
NOW = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)

pytestmark = [pytest.mark.benchmark, pytest.mark.mariadb, pytest.mark.django_db]


def _measured(fn):
    """(result, wall ms, CPU ms, queries, SQL ms) of one call."""
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        cpu, wall = time.process_time(), time.perf_counter()
        result = fn()
        wall_ms, cpu_ms = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
    sql_ms = sum(float(q["time"]) for q in ctx.captured_queries) * 1000
    return result, wall_ms, cpu_ms, ctx.captured_queries, sql_ms


def _line(label, wall_ms, cpu_ms, queries, sql_ms):
    return (f"  {label}: wall {wall_ms:.0f} ms, CPU {cpu_ms:.0f} ms, {len(queries)} queries, "
            f"SQL {sql_ms:.0f} ms (load {_load()})")  # fmt: skip


@pytest.fixture(scope="module")
def seeded(request, django_db_setup, django_db_blocker):
    """The data set, committed outside the test's transaction (scale_data.ensure_seeded). With --reuse-db it
    stays in the test database and the next run measures at once; otherwise (or BENCH_DROP=1) it is
    truncated at the end. The snapshots the test takes are rolled back with its transaction."""
    scale = {"customers": SUBSCRIPTIONS // 2, "subscriptions": SUBSCRIPTIONS, "services": SUBSCRIPTIONS,
             "invoices": INVOICES, "lines_per_invoice": 0}  # fmt: skip
    with django_db_blocker.unblock():
        print(f"\ndata set {scale} (load {_load()})")
        scale_data.ensure_seeded(**scale)
    yield scale
    if os.environ.get("BENCH_DROP") == "1" or not request.config.getoption("reuse_db", False):
        with django_db_blocker.unblock():
            scale_data.drop_seeded()


def test_dashboard_renders_under_500ms_with_100k_subscriptions(client, seeded):
    login_verified(client, StaffUserFactory())
    url = reverse("admin:index")
    with clock.frozen_at(NOW - dt.timedelta(hours=1)):
        refresh_mrr_snapshots()  # the previous hour's snapshots, and a render of them: a running server's state
        dashboard_snapshot.refresh_dashboard_snapshot()
        assert client.get(url).status_code == 200
    with clock.frozen_at(NOW):
        rows, mrr_wall, mrr_cpu, mrr_q, mrr_sql = _measured(refresh_mrr_snapshots)
        snap, snap_wall, snap_cpu, snap_q, snap_sql = _measured(dashboard_snapshot.refresh_dashboard_snapshot)
    print(_line(f"task part 1, MRR movement snapshot ({rows} customer rows)", mrr_wall, mrr_cpu, mrr_q, mrr_sql))
    print(_line("task part 2, dashboard snapshot", snap_wall, snap_cpu, snap_q, snap_sql))
    for q in sorted(snap_q, key=lambda q: -float(q["time"]))[:5]:
        print(f"    {float(q['time']) * 1000:.0f} ms {q['sql'][:150]}")

    def render(query):
        response = client.get(url, query)
        assert response.status_code == 200
        return response

    with clock.frozen_at(NOW + dt.timedelta(minutes=1)):
        first, first_wall, first_cpu, first_q, first_sql = _measured(lambda: render({}))
        assert first.context["snapshot_refreshed_at"] == snap.refreshed_at
        assert "Refresh now" in first.content.decode()
        fresh = [_measured(lambda: render({"refresh": "1"})) for _ in range(5)]
        cached = [_measured(lambda: render({})) for _ in range(5)]
        profiler = cProfile.Profile()
        profiler.enable()
        render({"refresh": "1"})
        profiler.disable()

    print(
        _line(
            "first render after the refresh (new snapshot, nothing cached)", first_wall, first_cpu, first_q, first_sql
        )
    )
    median = statistics.median(r[1] for r in fresh)
    print(f"  renders re-reading the live figures (?refresh=1): median wall {median:.0f} ms of "
          f"{[round(r[1]) for r in fresh]}, median CPU {statistics.median(r[2] for r in fresh):.0f} ms, "
          f"{len(fresh[-1][3])} queries, median SQL {statistics.median(r[4] for r in fresh):.0f} ms "
          f"(load {_load()})")  # fmt: skip
    print(f"  renders from the 60 s cache: median wall {statistics.median(r[1] for r in cached):.0f} ms, "
          f"{len(cached[-1][3])} queries")  # fmt: skip
    print("  slowest queries of the first render:")
    for q in sorted(first_q, key=lambda q: -float(q["time"]))[:6]:
        print(f"    {float(q['time']) * 1000:.0f} ms {q['sql'][:150]}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    print("  cProfile of one render (own time):\n" + "\n".join(out.getvalue().splitlines()[:30]))
    if os.environ.get("BENCH_STRICT", "1") == "1":
        assert first_wall < BUDGET_MS
        assert median < BUDGET_MS
