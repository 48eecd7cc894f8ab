"""Benchmark (issue #8): portal pages with 10,000 customers and 200,000 invoices, and checkout's pay request.

Not in the default run. On MariaDB:

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_h4 \
    REDIS_URL=redis://127.0.0.1:6379/4 pytest tests/benchmarks/test_portal_pages.py -s -o addopts=""

Seeds with bulk_create (10,000 customers, 200,000 issued or paid invoices, 2 services each), then,
logged in as one customer: the services list, a service page and the invoices list must render in
under 150 ms (median of BENCH_ROUNDS requests, after one warm-up) with the same number of queries
as for a customer with 2 invoices and 1 service (the count does not grow with rows). Checkout's
"Place order and pay" with a saved sandbox card must answer in under 200 ms with provisioning and
emails queued (django-q2 asynchronous: tasks go to the broker, nothing runs inline). Prints the
figures with the load average. BENCH_CUSTOMERS / BENCH_INVOICES change the size; BENCH_PROFILE=1
prints a cProfile of each page and of the last pay request, BENCH_SLOW=1 the slowest SQL of that request.
"""

import datetime as dt
import os
import statistics
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from core.accounts.models import Customer, User
from core.billing.models import Invoice, Order, PaymentMethod
from core.provisioning.models import Service
from tests.factories import CurrencyFactory, PlatformConnectionFactory, PriceFactory, ProductFactory

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "10000"))
INVOICES = int(os.environ.get("BENCH_INVOICES", "200000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
PAGE_BUDGET_MS = 150
PAY_BUDGET_MS = 200
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

pytestmark = [pytest.mark.benchmark, pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _seed():
    usd = CurrencyFactory(code="USD")
    platform = PlatformConnectionFactory(defaults={"build_seconds": 60})
    product = ProductFactory(name="VPS 4 GB", slug="vps-4gb", platform="sandbox", platform_connection=platform,
                             order_options={"hostname": "required"})  # fmt: skip
    price = PriceFactory(product=product, currency=usd, amount=Decimal("20.00"))
    per_customer = max(INVOICES // CUSTOMERS, 1)
    day = dt.date(2025, 1, 1)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    made = 0
    for offset in range(0, CUSTOMERS, 2000):
        n = min(2000, CUSTOMERS - offset)
        users = User.objects.bulk_create(
            [User(email=f"portal{offset + i}@example.com", password="!") for i in range(n)]
        )
        customers = Customer.objects.bulk_create(
            [Customer(user=u, company=f"Bench {u.pk}", country="US", currency=usd) for u in users]
        )
        invoices = []
        for customer in customers:
            for k in range(per_customer):
                paid = k % 4 != 0
                invoices.append(Invoice(
                    customer=customer, currency=usd, status="paid" if paid else "issued", purpose="renewal",
                    number=f"BENCH-{made:07d}", series="BENCH", issue_date=day + dt.timedelta(days=k * 30),
                    due_date=day + dt.timedelta(days=k * 30 + 7), issued_at=now, subtotal=Decimal("20.00"),
                    total=Decimal("20.00"), amount_paid=Decimal("20.00") if paid else Decimal("0"),
                    paid_at=now if paid else None,
                ))  # fmt: skip
                made += 1
        Invoice.objects.bulk_create(invoices, batch_size=5000)
        Service.objects.bulk_create(
            [Service(customer=c, product=product, connection=platform, status="active", hostname=f"s{c.pk}-{k}.example",
                     primary_ip=f"10.{c.pk % 250}.{k}.1") for c in customers for k in range(2)],
            batch_size=5000,
        )  # fmt: skip
    return price


def _client_for(customer) -> Client:
    client = Client()
    client.force_login(customer.user, backend=MODEL_BACKEND)
    return client


def _measure(client, url) -> tuple[float, int]:
    client.get(url)  # warm-up (templates, caches)
    timings = []
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):  # survives the reconnect around each request
        assert client.get(url).status_code == 200
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(client.get, url)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    return statistics.median(timings), len(queries)


def test_portal_pages_and_checkout_pay(settings, monkeypatch):
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual"]
    settings.DISCORD_WEBHOOK_URL = ""
    started = time.perf_counter()
    price = _seed()
    seeded = time.perf_counter() - started
    busy = Customer.objects.order_by("pk")[CUSTOMERS // 2]
    small_user = User.objects.create(email="small@example.com", password="!")
    small = Customer.objects.create(user=small_user, country="US", currency=price.currency)
    Invoice.objects.create(customer=small, currency=price.currency, status="issued", number="SMALL-1", series="S",
                           issue_date=dt.date(2025, 1, 1), due_date=dt.date(2025, 1, 8), total=Decimal("5.00"))  # fmt: skip
    Service.objects.create(customer=small, product=price.product, connection=price.product.platform_connection,
                           status="active", hostname="small.example")  # fmt: skip
    print(f"\nseeded {Customer.objects.count()} customers, {Invoice.objects.count()} invoices, "
          f"{Service.objects.count()} services in {seeded:.0f}s; load {_load()}")  # fmt: skip

    results = {}
    service = Service.objects.filter(customer=busy).first()
    pages = {
        "services": reverse("portal:service_list"),
        "service": reverse("portal:service_detail", args=[service.uuid]),
        "invoices": reverse("portal:invoice_list"),
    }
    busy_client, small_client = _client_for(busy), _client_for(small)
    small_service = Service.objects.get(customer=small)
    for name, url in pages.items():
        ms, queries = _measure(busy_client, url)
        small_url = reverse("portal:service_detail", args=[small_service.uuid]) if name == "service" else url
        _, small_queries = _measure(small_client, small_url)
        results[name] = (ms, queries, small_queries)
        print(f"{name:9s} median {ms:6.1f} ms, {queries} queries ({small_queries} for a customer with 1 row); "
              f"load {_load()}")  # fmt: skip

    # Checkout's pay request: a saved card, side effects queued (django-q2 asynchronous).
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    method = PaymentMethod.objects.create(customer=busy, gateway="sandbox", gateway_method_id="sbx_pm_4242_bench",
                                          kind="card", brand="visa", last4="4242", is_default=True)  # fmt: skip
    url = reverse("portal:checkout", args=[price.product.slug])
    pay_ms = []
    slow: list[tuple[float, str]] = []
    for n in range(ROUNDS):
        data = {"price": price.pk, "hostname": f"bench{n}.example.com", "method": method.pk, "action": "pay"}
        started = time.perf_counter()
        if os.environ.get("BENCH_SLOW") and n == ROUNDS - 1:
            slow.clear()

            def timed(execute, sql, params, many, context):
                began = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    slow.append(((time.perf_counter() - began) * 1000, sql[:300]))

            with connection.execute_wrapper(timed):
                response = busy_client.post(url, data)
            for ms, sql in sorted(slow, reverse=True)[:8]:
                print(f"  {ms:7.1f} ms  {sql}")
        elif os.environ.get("BENCH_PROFILE") and n == ROUNDS - 1:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            response = profile.runcall(busy_client.post, url, data)
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        else:
            response = busy_client.post(url, data)
        pay_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 302 and "/orders/" in response["Location"], response.content[:500]
    orders = Order.objects.filter(customer=busy)
    assert orders.count() == ROUNDS and all(o.invoice.status == "paid" for o in orders)
    queued = Service.objects.filter(customer=busy, status="pending").count()
    pay = statistics.median(pay_ms)
    print(f"pay       median {pay:6.1f} ms (max {max(pay_ms):.1f}); {queued} services left pending with "
          f"provisioning queued; load {_load()}")  # fmt: skip

    for name, (ms, queries, small_queries) in results.items():
        assert ms < PAGE_BUDGET_MS, f"{name} took {ms:.1f} ms"
        assert queries == small_queries, f"{name}: {queries} queries vs {small_queries} with fewer rows"
    assert queued == ROUNDS
    assert pay < PAY_BUDGET_MS, f"pay took {pay:.1f} ms"
