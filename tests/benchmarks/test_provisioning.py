"""Benchmark: 1,000 paid orders become active services on the sandbox platform.

Real stack: MariaDB, Redis broker, a `qcluster` subprocess with two workers. Not in the
default run (pyproject ignores tests/benchmarks). Run it on demand:

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_prov \
    REDIS_URL=redis://127.0.0.1:6379/4 pytest tests/benchmarks/test_provisioning.py -s -p no:warnings

Each order goes through billing: place_order (capacity check, invoice) then record_payment,
whose settlement fulfils the order and calls create_service, which queues provisioning
after commit. The clock starts at the first payment and stops at the last activation.
Billing's notifications (invoice PDF emails, receipts, order alerts) are not queued by the
test process, so the workers' time goes to provisioning (and its "service ready" emails).
"""

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max

from core.billing.models import Invoice
from core.billing.services.orders import place_order
from core.billing.services.payments import record_payment
from core.provisioning.models import ProvisioningJob, SandboxResource, Service
from tests.factories import CustomerFactory, PlatformConnectionFactory, PriceFactory, ProductFactory

ORDERS = int(os.environ.get("BENCH_ORDERS", "1000"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "900"))
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.benchmark,
    pytest.mark.mariadb,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


def _start_cluster(log_path: Path) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_ENV": "development",
        "DATABASE_URL": f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 3306}/{db['NAME']}",
        "REDIS_URL": os.environ["REDIS_URL"],
        "Q_WORKERS": "2",
        "Q_SYNC": "0",
        "EMAIL_PROVIDER": "locmem",
        "DISCORD_WEBHOOK_URL": "",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        # A file, not a pipe: an unread pipe fills up and blocks the worker that logs.
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("wb"),
        start_new_session=True,
    )


def _stop_cluster(proc: subprocess.Popen) -> None:
    # qcluster has been seen ignoring SIGTERM (reference/django-stack.md §5): TERM, then KILL its group.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def test_thousand_paid_orders_become_active_once_each(monkeypatch, tmp_path):
    from django.core.cache import cache
    from django_redis import get_redis_connection

    get_redis_connection("default").flushdb()
    cache.clear()
    # Under pytest django-q2 runs tasks inline; here they must go to Redis for the cluster.
    monkeypatch.setattr("django_q.conf.Conf.SYNC", False)
    # Billing's own side effects of placing and paying 1,000 orders (invoice emails with PDFs,
    # receipts, Discord order alerts) are not what this measures: this process does not queue
    # them. The workers still send provisioning's "service ready" emails.
    monkeypatch.setattr("core.notifications.services._enqueue", lambda *args: None)

    sandbox = PlatformConnectionFactory(name="bench-sandbox", defaults={"build_seconds": 0})
    product = ProductFactory(platform="sandbox", platform_connection=sandbox)
    customers = [CustomerFactory() for _ in range(ORDERS)]
    price = PriceFactory(product=product, currency=customers[0].currency, amount=Decimal("10.00"))

    started_setup = time.monotonic()
    invoices = []
    for customer in customers:
        order = place_order(customer, [{"price": price, "quantity": 1, "hostname": "", "config": {}}])
        invoices.append(order.invoice)
    setup_seconds = time.monotonic() - started_setup

    cluster_log = tmp_path / "qcluster.log"
    cluster = _start_cluster(cluster_log)
    try:
        time.sleep(3)  # let the cluster's workers come up before the clock starts
        assert cluster.poll() is None, cluster_log.read_text()[-2000:]
        t0 = time.monotonic()
        for n, invoice in enumerate(invoices):
            invoice = Invoice.objects.get(pk=invoice.pk)
            record_payment(invoice, amount=invoice.total, gateway="sandbox", gateway_transaction_id=f"bench-{n}")
        paid_seconds = time.monotonic() - t0

        deadline = t0 + TIMEOUT
        while time.monotonic() < deadline:
            active = Service.objects.filter(status="active").count()
            if active >= ORDERS:
                break
            if Service.objects.filter(status="failed").exists() or cluster.poll() is not None:
                break
            time.sleep(0.5)
        observed = time.monotonic() - t0
    finally:
        _stop_cluster(cluster)
        connection.close()

    statuses = dict(Service.objects.values_list("status").annotate(n=Count("id")))
    retried = ProvisioningJob.objects.filter(action="create", attempt__gt=1).count()
    assert statuses == {"active": ORDERS}, (statuses, cluster_log.read_text()[-3000:])
    # Nothing was created twice: one service per order item, one platform server per service.
    assert Service.objects.values("order_item").distinct().count() == ORDERS
    assert SandboxResource.objects.count() == ORDERS
    assert SandboxResource.objects.values("external_id").distinct().count() == ORDERS
    assert ProvisioningJob.objects.filter(action="create", outcome="succeeded").count() == ORDERS
    first_paid = Invoice.objects.filter(pk__in=[i.pk for i in invoices]).aggregate(Max("paid_at"))
    last_active = Service.objects.aggregate(Max("provisioned_at"))["provisioned_at__max"]
    first_created = Service.objects.order_by("created_at").values_list("created_at", flat=True).first()
    span = (last_active - first_created).total_seconds()
    creates = list(
        ProvisioningJob.objects.filter(action="create").values_list("created_at", "started_at", "duration_ms")
    )
    waits = sorted((started - created).total_seconds() for created, started, _ in creates)
    platform_ms = sorted(ms or 0 for _, _, ms in creates)
    print(
        f"\n[benchmark] {ORDERS} paid orders -> {ORDERS} active services, 2 workers (MariaDB + Redis)\n"
        f"  order placement (setup, not timed): {setup_seconds:.1f}s\n"
        f"  payments recorded in:               {paid_seconds:.1f}s\n"
        f"  first payment -> last activation:   {observed:.1f}s (poll resolution 0.5s)\n"
        f"  first service -> last activation:   {span:.1f}s (database timestamps)\n"
        f"  throughput:                         {ORDERS / observed:.1f} activations/s\n"
        f"  create job queue wait p50/p95/max:  {waits[len(waits) // 2]:.1f}s / {waits[int(len(waits) * 0.95)]:.1f}s"
        f" / {waits[-1]:.1f}s\n"
        f"  create jobs retried (attempt > 1):  {retried}\n"
        f"  sandbox create call p50/max:        {platform_ms[len(platform_ms) // 2]}ms / {platform_ms[-1]}ms\n"
        f"  machine load average at the end:    {os.getloadavg()[0]:.1f} (2 cores shared with other test runs)\n"
        f"  last invoice paid at {first_paid['paid_at__max']:%H:%M:%S}, last activation at {last_active:%H:%M:%S}"
    )
