"""Bulk seeding for the issue-10 benchmarks (changelists, dashboard, finance export): plain
bulk_create in chunks, no factories per row, so a million invoices load in minutes."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal

from core.accounts.models import Customer, User
from core.billing.models import Invoice, InvoiceLine, Payment, Subscription
from core.provisioning.models import Service
from tests.factories import CurrencyFactory, PlatformConnectionFactory, PriceFactory

CHUNK = 10_000
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def seed(*, customers: int, invoices: int = 0, subscriptions: int = 0, services: int = 0, lines_per_invoice: int = 0,
         log=print) -> dict:  # fmt: skip
    started = time.monotonic()
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    eur = CurrencyFactory(code="EUR", exchange_rate=Decimal("0.9"))
    prices = [PriceFactory(currency=c, amount=Decimal(a), cycle=cy) for c in (usd, eur)
              for a, cy in (("5.00", "monthly"), ("30.00", "quarterly"), ("120.00", "annual"))]  # fmt: skip
    connection = PlatformConnectionFactory()
    customer_ids = []
    for offset in range(0, customers, CHUNK):
        n = min(CHUNK, customers - offset)
        users = User.objects.bulk_create(
            [User(email=f"bench{offset + i}@example.com", password="!", last_name=f"Last{offset + i}")
             for i in range(n)]
        )  # fmt: skip
        made = Customer.objects.bulk_create(
            [Customer(user=u, company=f"Bench {offset + i}", country="US" if i % 5 else "DE",
                      currency=usd if i % 4 else eur, status="active" if i % 50 else "suspended")
             for i, u in enumerate(users)]
        )  # fmt: skip
        customer_ids += [c.pk for c in made]
    log(f"  {customers} customers in {time.monotonic() - started:.0f}s")
    currency_of = {pk: ("USD" if i % 4 else "EUR") for i, pk in enumerate(customer_ids)}
    sub_ids = []
    for offset in range(0, subscriptions, CHUNK):
        rows = []
        for k in range(offset, min(subscriptions, offset + CHUNK)):
            cid = customer_ids[k % len(customer_ids)]
            price = prices[(k % 3) + (0 if currency_of[cid] == "USD" else 3)]
            start = EPOCH + dt.timedelta(minutes=k)
            rows.append(Subscription(customer_id=cid, price=price, currency_id=price.currency_id, cycle=price.cycle,
                                     amount=price.amount, status="active" if k % 10 else "cancelled",
                                     current_period_start=start, current_period_end=start + dt.timedelta(days=30),
                                     created_at=start))  # fmt: skip
        sub_ids += [s.pk for s in Subscription.objects.bulk_create(rows)]
    if subscriptions:
        log(f"  {subscriptions} subscriptions, {time.monotonic() - started:.0f}s so far")
    statuses = ["active"] * 8 + ["suspended", "terminated"]
    for offset in range(0, services, CHUNK):
        rows = []
        for k in range(offset, min(services, offset + CHUNK)):
            cid = customer_ids[k % len(customer_ids)]
            rows.append(Service(customer_id=cid, product_id=prices[k % 3].product_id, connection=connection,
                                subscription_id=sub_ids[k] if k < len(sub_ids) else None,
                                status=statuses[k % 10], hostname=f"srv{k}.bench.example",
                                primary_ip=f"10.{k // 65536 % 256}.{k // 256 % 256}.{k % 256}",
                                created_at=EPOCH + dt.timedelta(minutes=k)))  # fmt: skip
        Service.objects.bulk_create(rows)
    if services:
        log(f"  {services} services, {time.monotonic() - started:.0f}s so far")
    number = 0
    for offset in range(0, invoices, CHUNK):
        rows, pays = [], []
        for k in range(offset, min(invoices, offset + CHUNK)):
            cid = customer_ids[k % len(customer_ids)]
            code = currency_of[cid]
            issued = EPOCH + dt.timedelta(seconds=30 * k)
            status = "paid" if k % 10 else ("issued" if k % 20 else "void")
            number += 1
            total = Decimal(5 + k % 200) + Decimal("0.99")
            rows.append(Invoice(customer_id=cid, number=f"INV-{number:08d}", series="invoice", status=status,
                                kind="invoice", purpose="renewal" if k % 3 else "new_order", currency_id=code,
                                issue_date=issued.date(), due_date=issued.date() + dt.timedelta(days=7),
                                issued_at=issued, subtotal=total, total=total,
                                amount_paid=total if status == "paid" else Decimal("0"),
                                paid_at=issued if status == "paid" else None, created_at=issued,
                                billing_details={"name": f"Bench {cid}", "country": "US" if code == "USD" else "DE"}))  # fmt: skip
        made = Invoice.objects.bulk_create(rows)
        for inv in made:
            if inv.status == "paid":
                pays.append(Payment(uuid=uuid.uuid4(), customer_id=inv.customer_id, invoice_id=inv.pk,
                                    gateway="manual", amount=inv.total, currency_id=inv.currency_id,
                                    received_at=inv.issued_at, created_at=inv.issued_at))  # fmt: skip
        Payment.objects.bulk_create(pays)
        if lines_per_invoice:
            InvoiceLine.objects.bulk_create(
                [InvoiceLine(invoice_id=inv.pk, position=p, description=f"Line {p}", unit_amount=inv.total,
                             amount=inv.total, tax_rate=Decimal("7.000"), tax_amount=Decimal("0.35"))
                 for inv in made for p in range(lines_per_invoice)]
            )  # fmt: skip
        if (offset // CHUNK) % 20 == 19:
            log(f"  {offset + CHUNK} invoices, {time.monotonic() - started:.0f}s so far (load {_load()})")
    log(f"seeded in {time.monotonic() - started:.0f}s (load {_load()})")
    return {"customers": customer_ids, "subscriptions": sub_ids}
