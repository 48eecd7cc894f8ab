"""Bulk seeding for the issue-10 benchmarks (changelists, dashboard, finance export).

On MySQL/MariaDB every table is filled by the database itself: one INSERT ... SELECT per chunk over a
row-number source (MariaDB's seq_0_to_N tables, a cross join of digits elsewhere), every value computed
from the row number, explicit primary keys, foreign key and unique checks off for the session. A million
invoices with their payments load in a few minutes and Python never holds a row. SQLite (tests of the
seeding itself) takes the same statements.

`ensure_seeded(**scale)` seeds only when the tables do not already hold exactly that data set, so a
benchmark run with pytest's --reuse-db seeds once and later runs start measuring at once;
`drop_seeded()` empties the big tables with TRUNCATE.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from decimal import Decimal

from django.db import connection, models

from core.accounts.models import Customer, User
from core.billing.models import Invoice, InvoiceLine, Payment, Subscription
from core.provisioning.models import Service
from tests.factories import CurrencyFactory, PlatformConnectionFactory, PriceFactory

CHUNK = 100_000
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SEEDED_MODELS = (InvoiceLine, Payment, Invoice, Service, Subscription, Customer, User)


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def bench_scale() -> dict:
    """The shared data set of the changelist and export benchmarks (environment overrides)."""
    invoices = int(os.environ.get("BENCH_INVOICES", "1000000"))
    lines = int(os.environ.get("BENCH_LINES", str(2 * invoices)))  # 2 per invoice: 1.9M exported (void left out)
    return {
        "customers": int(os.environ.get("BENCH_CUSTOMERS", "100000")),
        "invoices": invoices,
        "subscriptions": int(os.environ.get("BENCH_SERVICES", "100000")),
        "services": int(os.environ.get("BENCH_SERVICES", "100000")),
        "lines_per_invoice": max(1, round(lines / max(invoices, 1))),
    }


def _numbers(start: int, stop: int) -> str:
    """A derived table of rows k = start .. stop-1 (column k)."""
    if connection.vendor == "mysql" and connection.mysql_is_mariadb:
        return f"(SELECT seq AS k FROM seq_{start}_to_{stop - 1}) AS n"
    digits = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
    width = max(1, len(str(max(stop - 1, 1))))
    terms = " + ".join(f"t{i}.d * {10**i}" for i in range(width))
    tables = ", ".join(f"({digits}) AS t{i}" for i in range(width))
    return f"(SELECT {terms} AS k FROM {tables}) AS n WHERE n.k >= {start} AND n.k < {stop}"


def _uuid_sql() -> str:
    if connection.vendor == "mysql":
        return "UUID()" if connection.mysql_is_mariadb else "REPLACE(UUID(), '-', '')"
    return "lower(hex(randomblob(16)))"


def _ts(expr_seconds: str) -> str:
    """EPOCH plus a number of seconds, as the database's datetime."""
    if connection.vendor == "mysql":
        return f"TIMESTAMPADD(SECOND, {expr_seconds}, '2025-01-01 00:00:00')"
    return f"datetime('2025-01-01 00:00:00', '+' || ({expr_seconds}) || ' seconds')"


def _date(expr_seconds: str, plus_days: int = 0) -> str:
    return f"DATE({_ts(f'{expr_seconds} + {plus_days * 86400}')})"


def _concat(*parts: str) -> str:
    return f"CONCAT({', '.join(parts)})" if connection.vendor == "mysql" else " || ".join(f"({p})" for p in parts)


def _pick(index_expr: str, values: list) -> str:
    """CASE over a short list by a 0-based index expression (prices, products)."""
    whens = " ".join(f"WHEN {i} THEN {_literal(v)}" for i, v in enumerate(values))
    return f"(CASE {index_expr} {whens} END)"


def _literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _insert_select(model, exprs: dict[str, str], source: str) -> int:
    """INSERT INTO the model's table every concrete column: the given SQL expression, else the field's default
    (UUID fields a fresh UUID per row, auto_now fields the seeding time) as a parameter."""
    qn = connection.ops.quote_name
    columns, selects, params = [], [], []
    now = dt.datetime.now(dt.UTC)
    for field in model._meta.concrete_fields:
        if field.attname not in exprs and field.primary_key:
            continue
        columns.append(qn(field.column))
        if field.attname in exprs:
            selects.append(exprs[field.attname])
        elif isinstance(field, models.UUIDField):
            selects.append(_uuid_sql())
        else:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                value = now
            else:
                value = field.get_default()
            selects.append("%s")
            params.append(field.get_db_prep_save(value, connection))
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(columns)}) SELECT {', '.join(selects)} FROM {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _next_id(model) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {connection.ops.quote_name(model._meta.db_table)}")
        return int(cursor.fetchone()[0])


def _chunks(total: int, size: int = CHUNK):
    for start in range(0, total, size):
        yield start, min(total, start + size)


def _checks(enabled: bool) -> None:
    if connection.vendor == "mysql":
        flag = 1 if enabled else 0
        with connection.cursor() as cursor:
            cursor.execute(f"SET SESSION foreign_key_checks = {flag}, unique_checks = {flag}")


def seed(*, customers: int, invoices: int = 0, subscriptions: int = 0, services: int = 0, lines_per_invoice: int = 0,
         log=print) -> dict:  # fmt: skip
    """Customers (with users), subscriptions, services, invoices (90% paid with a payment, 5% issued, 5% void)
    and lines_per_invoice lines per invoice. Returns the customer and subscription primary keys."""
    started = time.monotonic()
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    eur = CurrencyFactory(code="EUR", exchange_rate=Decimal("0.9"))
    tag = uuid.uuid4().hex[:8]  # products are not truncated: a new seed gets new slugs
    prices = [PriceFactory(currency=c, amount=Decimal(a), cycle=cy, product__slug=f"bench-{tag}-{c.code}-{cy}",
                           product__name=f"Bench {cy} ({c.code})")
              for c in (usd, eur) for a, cy in (("5.00", "monthly"), ("30.00", "quarterly"), ("120.00", "annual"))]  # fmt: skip
    platform = PlatformConnectionFactory()
    mod = "MOD({}, {})" if connection.vendor == "mysql" else "(({}) % ({}))"

    def m(a, b):
        return mod.format(a, b)

    def if_(cond, yes, no):
        return f"(CASE WHEN {cond} THEN {yes} ELSE {no} END)"

    user0, customer0 = _next_id(User), _next_id(Customer)
    sub0, service0, invoice0 = _next_id(Subscription), _next_id(Service), _next_id(Invoice)
    _checks(False)
    try:
        for a, b in _chunks(customers):
            _insert_select(User, {"id": f"{user0} + k", "email": _concat("'bench'", "k", "'@example.com'"),
                                  "password": "'!'", "last_name": _concat("'Last'", "k")},
                           _numbers(a, b))  # fmt: skip
            _insert_select(Customer, {"id": f"{customer0} + k", "user_id": f"{user0} + k",
                                      "company": _concat("'Bench '", "k"),
                                      "country": if_(f"{m('k', 5)} <> 0", "'US'", "'DE'"),
                                      "currency_id": if_(f"{m('k', 4)} <> 0", "'USD'", "'EUR'"),
                                      "status": if_(f"{m('k', 50)} <> 0", "'active'", "'suspended'")},
                           _numbers(a, b))  # fmt: skip
        log(f"  {customers} customers in {time.monotonic() - started:.0f}s")
        # Subscription / service / invoice k belongs to customer k mod customers (that customer's currency).
        cust = m("k", customers)
        eur_offset = if_(f"{m(cust, 4)} <> 0", "0", "3")
        price_index = f"{m('k', 3)} + {eur_offset}"
        for a, b in _chunks(subscriptions):
            _insert_select(Subscription, {
                "id": f"{sub0} + k", "customer_id": f"{customer0} + {cust}",
                "price_id": _pick(price_index, [p.pk for p in prices]),
                "currency_id": if_(f"{m(cust, 4)} <> 0", "'USD'", "'EUR'"),
                "cycle": _pick(price_index, [p.cycle for p in prices]),
                "amount": _pick(price_index, [p.amount for p in prices]),
                "status": if_(f"{m('k', 10)} <> 0", "'active'", "'cancelled'"),
                "current_period_start": _ts("k * 60"), "current_period_end": _ts("k * 60 + 30 * 86400"),
                "created_at": _ts("k * 60"),
            }, _numbers(a, b))  # fmt: skip
        if subscriptions:
            log(f"  {subscriptions} subscriptions, {time.monotonic() - started:.0f}s so far")
        statuses = ["active"] * 8 + ["suspended", "terminated"]
        for a, b in _chunks(services):
            _insert_select(Service, {
                "id": f"{service0} + k", "customer_id": f"{customer0} + {cust}",
                "product_id": _pick(m("k", 3), [p.product_id for p in prices]), "connection_id": str(platform.pk),
                "subscription_id": if_(f"k < {subscriptions}", f"{sub0} + k", "NULL"),
                "status": _pick(m("k", 10), statuses), "hostname": _concat("'srv'", "k", "'.bench.example'"),
                "primary_ip": _concat("'10.'", m("k DIV 65536" if connection.vendor == "mysql" else "k / 65536", 256),
                                      "'.'", m("k DIV 256" if connection.vendor == "mysql" else "k / 256", 256),
                                      "'.'", m("k", 256)),
                "created_at": _ts("k * 60"),
            }, _numbers(a, b))  # fmt: skip
        if services:
            log(f"  {services} services, {time.monotonic() - started:.0f}s so far")
        paid, issued = f"{m('k', 10)} <> 0", f"{m('k', 20)} <> 0"
        status = if_(paid, "'paid'", if_(issued, "'issued'", "'void'"))
        total = f"(5 + {m('k', 200)} + 0.99)"
        currency = if_(f"{m(cust, 4)} <> 0", "'USD'", "'EUR'")
        number = "CONCAT('INV-', LPAD(k + 1, 8, '0'))" if connection.vendor == "mysql" else "printf('INV-%%08d', k + 1)"
        country = if_(f"{m(cust, 4)} <> 0", "'US'", "'DE'")
        name = _concat("'Bench '", f"{customer0} + {cust}")
        details = (
            f"{'JSON_OBJECT' if connection.vendor == 'mysql' else 'json_object'}('name', {name}, 'country', {country})"
        )
        for a, b in _chunks(invoices):
            _insert_select(Invoice, {
                "id": f"{invoice0} + k", "customer_id": f"{customer0} + {cust}", "number": number,
                "series": "'invoice'", "status": status, "kind": "'invoice'",
                "purpose": if_(f"{m('k', 3)} <> 0", "'renewal'", "'new_order'"), "currency_id": currency,
                "issue_date": _date("k * 30"), "due_date": _date("k * 30", 7), "issued_at": _ts("k * 30"),
                "subtotal": total, "total": total, "amount_paid": if_(paid, total, "0"),
                "paid_at": if_(paid, _ts("k * 30"), "NULL"), "created_at": _ts("k * 30"), "billing_details": details,
            }, _numbers(a, b))  # fmt: skip
            # One manual payment per paid invoice (the invoice's own row gives its figures).
            src = (
                f"{connection.ops.quote_name(Invoice._meta.db_table)} AS i "
                f"WHERE i.id >= {invoice0 + a} AND i.id < {invoice0 + b} AND i.status = 'paid'"
            )
            _insert_select(Payment, {
                "customer_id": "i.customer_id", "invoice_id": "i.id", "gateway": "'manual'", "amount": "i.total",
                "currency_id": "i.currency_id", "received_at": "i.issued_at", "created_at": "i.issued_at",
            }, src)  # fmt: skip
            if lines_per_invoice:
                src = (
                    f"{connection.ops.quote_name(Invoice._meta.db_table)} AS i, {_numbers(0, lines_per_invoice)} "
                    f"{'AND' if 'WHERE' in _numbers(0, lines_per_invoice) else 'WHERE'} "
                    f"i.id >= {invoice0 + a} AND i.id < {invoice0 + b}"
                )
                _insert_select(InvoiceLine, {
                    "invoice_id": "i.id", "position": "n.k", "description": _concat("'Line '", "n.k"),
                    "unit_amount": "i.total", "amount": "i.total", "tax_rate": "7.000", "tax_amount": "0.35",
                }, src)  # fmt: skip
            if (b // CHUNK) % 2 == 0 or b == invoices:
                log(f"  {b} invoices, {time.monotonic() - started:.0f}s so far (load {_load()})")
    finally:
        _checks(True)
    log(f"seeded in {time.monotonic() - started:.0f}s (load {_load()})")
    return {
        "customers": list(range(customer0, customer0 + customers)),
        "subscriptions": list(range(sub0, sub0 + subscriptions)),
    }


def _counts() -> dict:
    return {
        "customers": Customer.objects.count(),
        "invoices": Invoice.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "services": Service.objects.count(),
        "lines": InvoiceLine.objects.count(),
    }


def ensure_seeded(*, customers: int, invoices: int, subscriptions: int, services: int, lines_per_invoice: int,
                  log=print) -> bool:  # fmt: skip
    """Seed unless the tables already hold exactly this data set (a database kept with --reuse-db);
    anything else in them is truncated first. Returns True when it seeded. Statistics are refreshed
    (ANALYZE) either way so the planner and the estimated counts see the rows and every index."""
    wanted = {"customers": customers, "invoices": invoices, "subscriptions": subscriptions, "services": services,
              "lines": invoices * lines_per_invoice}  # fmt: skip
    found = _counts()
    if found == wanted:
        log(f"reusing the seeded data set {wanted}")
        analyze()  # new indexes (a migration since the last run) get their statistics
        return False
    if any(found.values()):
        log(f"found {found}, wanted {wanted}: truncating")
        drop_seeded()
    seed(customers=customers, invoices=invoices, subscriptions=subscriptions, services=services,
         lines_per_invoice=lines_per_invoice, log=log)  # fmt: skip
    analyze()
    return True


def analyze() -> None:
    if connection.vendor == "mysql":
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in SEEDED_MODELS)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE TABLE {tables}")
            cursor.fetchall()


def drop_seeded() -> None:
    """Empty the seeded tables at once (TRUNCATE on MySQL/MariaDB; plain DELETE on SQLite)."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute("SET SESSION foreign_key_checks = 0")
            try:
                for model in SEEDED_MODELS:
                    cursor.execute(f"TRUNCATE TABLE {qn(model._meta.db_table)}")
            finally:
                cursor.execute("SET SESSION foreign_key_checks = 1")
        else:
            for model in SEEDED_MODELS:
                cursor.execute(f"DELETE FROM {qn(model._meta.db_table)}")
