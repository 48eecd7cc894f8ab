"""Benchmark: the billing run issues renewal invoices for 100,000 active subscriptions.

Not in the default run. On MariaDB:

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_billing \
    REDIS_URL=redis://127.0.0.1:6379/2 pytest tests/benchmarks/test_billing_run.py -s -p no:cacheprovider -o addopts=""

Measures the renewal step (the part that scales with the number of subscriptions):
invoices per second, database queries per invoice, and Python memory (tracemalloc) sampled
after every batch, which must stay flat as the run goes on. Invoice emails are queued as one
task per batch and sent by workers; the benchmark stubs that queueing out.
Setting BENCH_SUBSCRIPTIONS changes the size.
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

from core import clock
from core.accounts.models import Customer, User
from core.billing.models import Invoice, InvoiceLine, Subscription, TaxRate
from core.billing.services import billing_run
from core.billing.services.integrity import check_invoices
from tests.factories import CurrencyFactory, PriceFactory

SUBSCRIPTIONS = int(os.environ.get("BENCH_SUBSCRIPTIONS", "100000"))
PER_CUSTOMER = 5
BATCH = 1000

pytestmark = [pytest.mark.benchmark, pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def _seed():
    usd = CurrencyFactory(code="USD")
    TaxRate.objects.create(name="Sales tax 7%", country="US", region="", rate=Decimal("7.000"))
    prices = [PriceFactory(currency=usd, amount=Decimal(a)) for a in ("5.00", "12.50", "20.00", "49.99")]
    start, end = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    customers_needed = SUBSCRIPTIONS // PER_CUSTOMER
    for offset in range(0, customers_needed, 5000):
        n = min(5000, customers_needed - offset)
        users = User.objects.bulk_create([User(email=f"bench{offset + i}@example.com", password="!") for i in range(n)])
        customers = Customer.objects.bulk_create(
            [Customer(user=u, company=f"Bench {u.pk}", address_line1="1 Main St", city="Dover", postal_code="19901",
                      country="US", currency=usd) for u in users]
        )  # fmt: skip
        subs = []
        for i, customer in enumerate(customers):
            for k in range(PER_CUSTOMER):
                price = prices[(i + k) % len(prices)]
                subs.append(Subscription(customer=customer, price=price, currency=usd, cycle="monthly",
                                         amount=price.amount, current_period_start=start, current_period_end=end))  # fmt: skip
        Subscription.objects.bulk_create(subs, batch_size=5000)


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def test_billing_run_renews_100k_subscriptions(monkeypatch):
    _seed()
    assert Subscription.objects.count() == SUBSCRIPTIONS
    monkeypatch.setattr(billing_run, "queue_renewal_emails", lambda ids: None)

    queries = {"n": 0}

    def count(execute, sql, params, many, context):
        queries["n"] += 1
        return execute(sql, params, many, context)

    # tracemalloc slows allocation-heavy code several times over, so it traces only the first two
    # and the last two batches (peak per batch); RSS is sampled after every batch for growth.
    samples, rss = [], []
    real_batch = billing_run._renew_batch
    batches = -(-SUBSCRIPTIONS // BATCH)
    traced = {0, 1, batches - 2, batches - 1}

    def sampled(*args, **kwargs):
        n = len(rss)
        if n in traced:
            tracemalloc.start()
        out = real_batch(*args, **kwargs)
        if n in traced:
            samples.append((n, tracemalloc.get_traced_memory()[1]))
            tracemalloc.stop()
        rss.append(_rss_mib())
        return out

    monkeypatch.setattr(billing_run, "_renew_batch", sampled)
    connection.close()
    started = time.perf_counter()
    profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
    with connection.execute_wrapper(count), clock.frozen_at(dt.datetime(2026, 1, 25, 6, tzinfo=dt.UTC)):
        summary = billing_run.RunSummary(date="2026-01-25")
        if profiler:
            profiler.enable()
        billing_run.issue_renewals(clock.now(), summary, batch_size=BATCH)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    elapsed = time.perf_counter() - started

    issued = Invoice.objects.count()
    per_sec = issued / elapsed
    early = max(p for n, p in samples if n < 2)
    late = max(p for n, p in samples if n >= batches - 2)
    rss_early = max(rss[: max(1, len(rss) // 10)])
    print(
        f"\nBILLING RUN BENCHMARK: {issued} renewal invoices ({InvoiceLine.objects.count()} lines) in {elapsed:.1f}s"
        f" = {per_sec:.0f} invoices/s; {queries['n']} queries = {queries['n'] / issued:.3f} per invoice;"
        f" tracemalloc peak per batch: first batches {early / 2**20:.1f} MiB, last batches {late / 2**20:.1f} MiB;"
        f" RSS after first 10% of batches {rss_early:.0f} MiB, at the end {rss[-1]:.0f} MiB;"
        f" errors {len(summary.errors)}"
    )
    assert issued == SUBSCRIPTIONS and summary.renewals_issued == SUBSCRIPTIONS and not summary.errors
    assert late < early * 1.5 and rss[-1] < rss_early * 1.5, "memory grows with the number of subscriptions"
    assert check_invoices() == []
