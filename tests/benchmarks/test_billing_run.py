"""Benchmark (issue #3): the billing run issues renewal invoices for 100,000 active subscriptions.

Not in the default run. On MariaDB:

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_bench \
    REDIS_URL=redis://127.0.0.1:6379/9 pytest tests/benchmarks/test_billing_run.py -s -o addopts=""

Measures the renewal step (the part that scales with the number of subscriptions), including the
invoice lines and the simple_history row of every invoice: invoices per second, database queries
per invoice, Python memory (tracemalloc peak) of a few batches spread over the run and the process
RSS at 10%, 50% and 100% of the batches; both must stay flat as the run goes on. Invoice emails are
queued as one task per batch and sent by workers; the benchmark stubs that queueing out.

Reproducibility: the machine is shared, so after seeding (which loads it itself) the benchmark
waits until the 1-minute load average is below BENCH_QUIET_LOAD (1.5), polling every 30 s for up
to BENCH_QUIET_WAIT seconds (1200), and prints the load average at the start and the end of the
measured run. BENCH_SUBSCRIPTIONS (100000) and BENCH_BATCH (billing_run.BATCH_SIZE) change the size;
BENCH_PROFILE=1 prints a cProfile of the run (slow; for finding hot spots, not for the figure),
BENCH_TRACE=0 turns tracemalloc off, BENCH_EXPLAIN=1 prints the plan of the candidate query.
"""

import cProfile
import datetime as dt
import os
import pstats
import resource
import time
import tracemalloc
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count

from core import clock
from core.accounts.models import Customer, User
from core.billing.models import CreditEntry, Invoice, InvoiceLine, NumberSequence, Subscription, TaxRate
from core.billing.services import billing_run
from core.billing.services.integrity import check_invoices
from tests.factories import CurrencyFactory, PriceFactory

SUBSCRIPTIONS = int(os.environ.get("BENCH_SUBSCRIPTIONS", "100000"))
BATCH = int(os.environ.get("BENCH_BATCH", str(billing_run.BATCH_SIZE)))
QUIET_LOAD = float(os.environ.get("BENCH_QUIET_LOAD", "1.5"))
QUIET_WAIT = int(os.environ.get("BENCH_QUIET_WAIT", "1200"))
PER_CUSTOMER = 5

pytestmark = [pytest.mark.benchmark, pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def _seed():
    usd = CurrencyFactory(code="USD")
    TaxRate.objects.create(name="Sales tax 7%", country="US", region="", rate=Decimal("7.000"))
    TaxRate.objects.create(name="VAT 20%", country="GB", region="", rate=Decimal("20.000"))
    prices = [PriceFactory(currency=usd, amount=Decimal(a)) for a in ("5.00", "12.50", "20.00", "49.99")]
    # Subscriptions start at any second of the day, so periods end at distinct moments within the
    # renewal window (2026-01-26 .. 2026-01-31 for 100k; the run's horizon is 2026-02-01 06:00).
    first_end = dt.datetime(2026, 1, 26, tzinfo=dt.UTC)
    step = dt.timedelta(seconds=max(1, 500_000 // max(SUBSCRIPTIONS, 1)))
    customers_needed = -(-SUBSCRIPTIONS // PER_CUSTOMER)
    made = 0
    for offset in range(0, customers_needed, 5000):
        n = min(5000, customers_needed - offset)
        users = User.objects.bulk_create([User(email=f"bench{offset + i}@example.com", password="!") for i in range(n)])
        # A mix of tax treatments: taxed US, taxed GB, tax-exempt; some customers opt out of credit.
        customers = Customer.objects.bulk_create(
            [Customer(user=u, company=f"Bench {u.pk}", address_line1="1 Main St", city="Dover", postal_code="19901",
                      country="GB" if u.pk % 7 == 0 else "US", is_tax_exempt=u.pk % 11 == 0,
                      auto_apply_credit=u.pk % 3 != 0, currency=usd) for u in users]
        )  # fmt: skip
        subs = []
        for i, customer in enumerate(customers):
            for k in range(PER_CUSTOMER):
                if made == SUBSCRIPTIONS:
                    break
                price = prices[(i + k) % len(prices)]
                end = first_end + step * made
                subs.append(Subscription(customer=customer, price=price, currency=usd, cycle="monthly",
                                         amount=price.amount, current_period_start=end - dt.timedelta(days=31),
                                         current_period_end=end))  # fmt: skip
                made += 1
        Subscription.objects.bulk_create(subs, batch_size=5000)
        # One customer in 200 has credit that the run applies to their first renewal (when they opted in).
        CreditEntry.objects.bulk_create(
            [CreditEntry(customer=c, currency=usd, amount=Decimal("10.00"), reason="manual")
             for c in customers if c.pk % 200 == 0]
        )  # fmt: skip


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _wait_until_quiet() -> str:
    """Wait (up to QUIET_WAIT s) for the 1-minute load average to drop below QUIET_LOAD; say what happened."""
    waited = 0
    while float(_load().split()[0]) >= QUIET_LOAD and waited < QUIET_WAIT:
        time.sleep(30)
        waited += 30
    state = "quiet" if float(_load().split()[0]) < QUIET_LOAD else "NOT quiet (gave up)"
    return f"waited {waited}s for load < {QUIET_LOAD}: {state}"


def test_billing_run_renews_100k_subscriptions(monkeypatch):
    _seed()
    assert Subscription.objects.count() == SUBSCRIPTIONS
    monkeypatch.setattr(billing_run, "queue_renewal_emails", lambda ids: None)

    queries = {"n": 0}
    waited: dict[str, float] = {}

    def count(execute, sql, params, many, context):
        queries["n"] += 1
        text = sql.decode(errors="replace") if isinstance(sql, bytes) else sql
        kind = " ".join(text.split()[:3])[:60]
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            waited[kind] = waited.get(kind, 0.0) + time.perf_counter() - began

    # tracemalloc slows allocation-heavy code several times over, so it traces only three batches
    # (early, middle, last) and their time is reported apart; RSS is read after every batch.
    batches = -(-SUBSCRIPTIONS // BATCH)
    traced = {1 % batches, batches // 2, batches - 1} if os.environ.get("BENCH_TRACE", "1") == "1" else set()
    peaks, rss, traced_seconds, batch_seconds = {}, [], [0.0], [0.0]
    real_batch = billing_run._renew_batch

    def sampled(*args, **kwargs):
        n = len(rss)
        began = time.perf_counter()
        if n in traced:
            tracemalloc.start()
        out = real_batch(*args, **kwargs)
        if n in traced:
            peaks[n] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            traced_seconds[0] += time.perf_counter() - began
        batch_seconds[0] += time.perf_counter() - began
        rss.append(_rss_mib())
        return out

    monkeypatch.setattr(billing_run, "_renew_batch", sampled)
    connection.close()
    quiet = _wait_until_quiet() if SUBSCRIPTIONS >= 50_000 else "no wait for a small run"
    load_start = _load()
    profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
    with connection.execute_wrapper(count), clock.frozen_at(dt.datetime(2026, 1, 25, 6, tzinfo=dt.UTC)):
        summary = billing_run.RunSummary(date="2026-01-25")
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        billing_run.issue_renewals(clock.now(), summary, batch_size=BATCH)
        if profiler:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    load_end = _load()
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    if os.environ.get("BENCH_EXPLAIN"):
        with clock.frozen_at(dt.datetime(2026, 1, 25, 6, tzinfo=dt.UTC)):
            query = billing_run.renewal_candidates(clock.now()).order_by("current_period_end", "pk")
            print(query.values_list("current_period_end", "pk")[:BATCH].explain())

    issued = Invoice.objects.count()
    history = Invoice.history.filter(history_type="+", history_change_reason="billing run").count()
    at = {p: rss[max(0, -(-len(rss) * p // 100) - 1)] for p in (10, 50, 100)}
    print(
        f"\nBILLING RUN BENCHMARK ({SUBSCRIPTIONS} subscriptions, batch {BATCH}, {quiet}):"
        f"\n  {issued} renewal invoices, {InvoiceLine.objects.count()} lines, {history} history rows"
        f" in {elapsed:.1f} s = {issued / elapsed:.0f} invoices/s"
        f" (of which {traced_seconds[0]:.1f} s in the {len(traced)} tracemalloc-traced batches,"
        f" {elapsed - batch_seconds[0]:.1f} s selecting candidates between batches)"
        f"\n  this process used {cpu:.1f} s of CPU (the rest: waiting for MariaDB, or for a core)"
        f"\n  {queries['n']} queries = {queries['n'] / issued:.4f} per invoice"
        f"\n  tracemalloc peak per batch: "
        + ", ".join(f"batch {n + 1}: {peak:.1f} MiB" for n, peak in sorted(peaks.items()))
        + f"\n  RSS at 10% {at[10]:.0f} MiB, 50% {at[50]:.0f} MiB, 100% {at[100]:.0f} MiB"
        + "\n  time in statements: "
        + ", ".join(f"{k}: {v:.1f} s" for k, v in sorted(waited.items(), key=lambda kv: -kv[1])[:6])
        + f"\n  load average at start {load_start}, at end {load_end}; errors {len(summary.errors)}"
    )
    assert summary.renewals_issued == SUBSCRIPTIONS and not summary.errors
    assert issued == SUBSCRIPTIONS and history == SUBSCRIPTIONS
    per_sub = Invoice.objects.values("subscription_id", "renewal_period_start").annotate(n=Count("id"))
    assert not per_sub.filter(n__gt=1).exists(), "a subscription period was invoiced twice"
    assert Invoice.objects.values("number").distinct().count() == SUBSCRIPTIONS
    assert NumberSequence.objects.get(series="invoice", year=2026).last_value == SUBSCRIPTIONS
    if peaks:
        assert max(peaks.values()) < min(peaks.values()) * 1.5 + 1, "Python memory per batch grows with the run"
    assert at[100] < at[10] * 1.25 + 20, "RSS grows with the number of subscriptions"
    assert Invoice.objects.filter(credit_applied__gt=0).exists() or SUBSCRIPTIONS < 5000
    assert check_invoices() == []
