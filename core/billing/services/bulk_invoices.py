"""Issuing many invoices at once: the billing run's renewals (up to 100,000 in one run).

Building Invoice and HistoricalInvoice model instances and letting bulk_create prepare ~45 values
per row cost more than everything else in the run together, so rows are built as tuples here and
every value still goes through its model field's own get_db_prep_save (only plain strings, numbers
and Decimals pass as they are). The snapshot is the one `issue_invoice` freezes (freeze_invoice's
fields) and its hash comes from Invoice.snapshot itself.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connections, models, router, transaction

from core import clock
from core.billing.models import Invoice, InvoiceLine
from core.billing.services.invoices import Totals, seller_details
from core.encryption import EncryptedJSONField, EncryptedTextField


@dataclass(frozen=True)
class FrozenLine:
    """A priced line of an invoice issued in bulk: what its InvoiceLine row stores.

    Its subscription is the invoice's (bulk issue serves renewals, whose lines all belong to it).
    """

    position: int
    kind: str
    description: str
    quantity: Decimal
    unit_amount: Decimal
    amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    tax_name: str
    product_id: int | None
    service_id: int | None
    period_start: dt.datetime | None
    period_end: dt.datetime | None


def freeze_lines(lines: list[InvoiceLine]) -> tuple[FrozenLine, ...]:
    """Lines already priced by `price_lines`, as FrozenLine (shared safely by many invoices)."""
    return tuple(
        FrozenLine(
            position=ln.position,
            kind=ln.kind,
            description=ln.description,
            quantity=ln.quantity,
            unit_amount=ln.unit_amount,
            amount=ln.amount,
            tax_rate=ln.tax_rate,
            tax_amount=ln.tax_amount,
            tax_name=ln.tax_name,
            product_id=ln.product_id,
            service_id=ln.service_id,
            period_start=ln.period_start,
            period_end=ln.period_end,
        )  # fmt: skip
        for ln in lines
    )


@dataclass
class BulkInvoice:
    """One invoice for `issue_invoices_in_bulk`: who, what for, and its priced lines with their totals."""

    customer_id: int
    currency_id: str
    billing_details: dict  # Customer.billing_address(), as copied onto the invoice
    due_date: dt.date
    totals: Totals
    lines: tuple[FrozenLine, ...]
    subscription_id: int | None = None
    renewal_period_start: dt.datetime | None = None


class _Snapshot:
    """Duck-typed invoice for Invoice.snapshot: the hash is computed by the model's own code."""

    snapshot = Invoice.snapshot
    compute_snapshot_hash = Invoice.compute_snapshot_hash

    def __init__(self, **values):
        self.__dict__.update(values)


_AS_IS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.DecimalField)
_ENCRYPTED = (EncryptedTextField, EncryptedJSONField)  # text fields that must go through the field (Fernet)


class _RowWriter:
    """INSERTs many rows of one model, a few hundred per statement.

    `columns` vary per row and are prepared by their model fields; `constants` are the same for
    every row; every other concrete field gets its default, as Model() would give it.
    Constants that are NULL, a number or the empty string are written into the statement instead
    of being sent per row. On MySQL/MariaDB, mysqlclient interpolates parameters on the client with
    one Python call per value (Connection.literal, ~1.7 us); `_insert_mysql` applies that same
    quoting once per distinct value of a column instead (a batch repeats most of its values).
    """

    ROWS_PER_STATEMENT = 500

    def __init__(self, model, columns: list[str], constants: dict):
        self.connection = connections[router.db_for_write(model)]
        fields = {f.attname: f for f in model._meta.concrete_fields}
        self.columns = list(columns)
        self.preparers = [self._preparer(fields[name]) for name in columns]
        rest = {
            name: (constants[name] if name in constants else field.get_default())
            for name, field in fields.items()
            if name not in columns and not (field.primary_key and isinstance(field, models.AutoField))
        }
        placeholders = ["%s"] * len(columns)
        self.constant_params = []
        for name, value in rest.items():
            prepare = self._preparer(fields[name])
            value = value if prepare is None else prepare(value)
            if value is None:
                placeholders.append("NULL")
            elif value == "" and isinstance(value, str):
                placeholders.append("''")
            elif isinstance(value, int | Decimal) and not isinstance(value, bool):
                placeholders.append(str(value))
            else:
                placeholders.append("%s")
                self.constant_params.append(value)
        self.constant_params = tuple(self.constant_params)
        self.constant_placeholders = placeholders[len(columns) :]
        quote = self.connection.ops.quote_name
        names = ", ".join(quote(fields[n].column) for n in [*columns, *rest])
        # Table and column names come from the model's _meta; values are parameters or the literals above.
        self.head = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES "  # noqa: S608
        self.row_sql = "(" + ", ".join(placeholders) + ")"

    def _preparer(self, field):
        if (isinstance(field, _AS_IS) and not isinstance(field, _ENCRYPTED)) or (
            field.is_relation and isinstance(field.target_field, models.IntegerField)
        ):
            return None
        memo: dict = {}
        if isinstance(field, models.DateTimeField):  # a batch has few distinct datetimes

            def prepare_datetime(value):
                found = memo.get(value)
                if found is None and value is not None:
                    if len(memo) > 10_000:
                        memo.clear()
                    found = memo[value] = field.get_db_prep_save(value, self.connection)
                return found

            return prepare_datetime
        if isinstance(field, models.JSONField):  # rows of one customer or one tax treatment share the object

            def prepare_json(value):
                found = memo.get(id(value))
                if found is None or found[0] is not value:
                    found = memo[id(value)] = (value, field.get_db_prep_save(value, self.connection))
                return found[1]

            return prepare_json
        return lambda value: field.get_db_prep_save(value, self.connection)

    def prepare(self, values: tuple) -> tuple:
        """The row's varying values as the database takes them."""
        return tuple(v if p is None else p(v) for p, v in zip(self.preparers, values, strict=True))

    def insert(self, rows: list[tuple]) -> None:
        """Insert rows prepared by `prepare`."""
        if not rows:
            return
        if self.connection.vendor == "mysql":
            self._insert_mysql(rows)
            return
        tail = self.constant_params
        per_row = (len(rows[0]) if rows else 1) + len(tail)
        # SQLite caps the parameters of one statement; MySQL/MariaDB only the packet size.
        size = max(1, min(self.ROWS_PER_STATEMENT, self.connection.ops.bulk_batch_size([None] * per_row, rows)))
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), size):
                chunk = rows[start : start + size]
                params = [v for row in chunk for v in (row + tail)] if tail else [v for row in chunk for v in row]
                cursor.execute(self.head + ", ".join([self.row_sql] * len(chunk)), params)

    def _insert_mysql(self, rows: list[tuple]) -> None:
        self.connection.ensure_connection()
        literal = self.connection.connection.literal  # the driver's own quoting, as for parameters
        params = iter(self.constant_params)
        tail = b"".join(b"," + (literal(next(params)) if p == "%s" else p.encode()) for p in self.constant_placeholders)
        memos: list[dict] = [{} for _ in self.columns]

        def render(row: tuple) -> bytes:
            out = []
            for memo, value in zip(memos, row, strict=True):
                if value is None:
                    out.append(b"NULL")
                elif value.__class__ is int:
                    out.append(b"%d" % value)
                else:
                    quoted = memo.get(value)
                    if quoted is None:
                        quoted = memo[value] = literal(value)
                    out.append(quoted)
            return b"(" + b",".join(out) + tail + b")"

        head = self.head.encode()
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), self.ROWS_PER_STATEMENT):
                # No parameters: mysqlclient then sends the statement as it is (no %-interpolation).
                cursor.execute(head + b",".join(render(row) for row in rows[start : start + self.ROWS_PER_STATEMENT]))


_INVOICE_COLUMNS = [
    "uuid", "customer_id", "currency_id", "number", "subscription_id", "renewal_period_start", "due_date",
    "billing_details", "subtotal", "discount_total", "tax_total", "total", "tax_breakdown", "reverse_charge",
    "tax_note", "snapshot_hash",
]  # fmt: skip
_LINE_COLUMNS = [
    "invoice_id", "subscription_id", "position", "kind", "description", "quantity", "unit_amount", "amount",
    "tax_rate", "tax_amount", "tax_name", "product_id", "service_id", "period_start", "period_end",
]  # fmt: skip


def issue_invoices_in_bulk(
    items: list[BulkInvoice],
    *,
    numbers: list[str],
    series: str,
    issue_date: dt.date,
    purpose: str,
    change_reason: str,
    actor=None,
) -> list[int]:
    """Insert issued invoices with their lines and their first history row; returns their ids in order.

    Same snapshot as `issue_invoice` (freeze_invoice's fields, Invoice.snapshot's hash), without
    one model instance per row. The caller owns the transaction and took `numbers` from the
    series in it (numbering.take_numbers), so the series stays gapless; nothing here applies credit,
    sends email or audits: the caller does what its invoices need.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("issue_invoices_in_bulk must run inside the transaction that took the numbers")
    if not items:
        return []
    now = clock.now()
    seller = seller_details()
    constants = {
        "series": series, "kind": Invoice.Kind.INVOICE, "purpose": purpose, "status": Invoice.Status.ISSUED,
        "issue_date": issue_date, "issued_at": now, "seller_details": seller, "created_at": now, "updated_at": now,
    }  # fmt: skip
    invoice_writer = _RowWriter(Invoice, _INVOICE_COLUMNS, constants)
    issue_day = str(issue_date)
    rows = []
    for item, number in zip(items, numbers, strict=True):
        t = item.totals
        digest = _Snapshot(
            number=number, customer_id=item.customer_id, currency_id=item.currency_id, kind=Invoice.Kind.INVOICE,
            issue_date=issue_day, due_date=item.due_date, billing_details=item.billing_details,
            seller_details=seller, subtotal=t.subtotal, discount_total=t.discount_total, tax_total=t.tax_total,
            total=t.total, tax_breakdown=t.tax_breakdown, reverse_charge=t.reverse_charge, tax_note=t.tax_note,
        ).compute_snapshot_hash(item.lines)  # fmt: skip
        rows.append(invoice_writer.prepare((
            uuid.uuid4(), item.customer_id, item.currency_id, number, item.subscription_id,
            item.renewal_period_start, item.due_date, item.billing_details, t.subtotal, t.discount_total,
            t.tax_total, t.total, t.tax_breakdown, t.reverse_charge, t.tax_note, digest,
        )))  # fmt: skip
    invoice_writer.insert(rows)
    # MySQL/MariaDB return no ids from a multi-row INSERT; the numbers are unique, so one query maps them.
    ids = dict(Invoice.objects.filter(number__in=numbers).values_list("number", "pk"))
    pks = [ids[n] for n in numbers]

    line_writer = _RowWriter(InvoiceLine, _LINE_COLUMNS, {})
    line_rows = [
        line_writer.prepare((pk, item.subscription_id, *(getattr(ln, name) for name in _LINE_COLUMNS[2:])))
        for item, pk in zip(items, pks, strict=True)
        for ln in item.lines
    ]
    line_writer.insert(line_rows)
    if getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        _insert_history(pks, now=now, change_reason=change_reason, actor=actor)
    return pks


def _insert_history(pks: list[int], *, now: dt.datetime, change_reason: str, actor) -> None:
    """The '+' history rows simple_history's bulk_history_create would write, copied by the database
    from the invoice rows just inserted (INSERT ... SELECT: no value travels twice)."""
    history = Invoice.history.model
    connection = connections[router.db_for_write(history)]
    quote = connection.ops.quote_name
    own = {"history_id", "history_date", "history_change_reason", "history_type", "history_user_id"}
    tracked = [f for f in history._meta.concrete_fields if f.attname not in own]
    source = {f.attname: f for f in Invoice._meta.concrete_fields}
    extra = {
        "history_date": now, "history_change_reason": change_reason, "history_type": "+",
        "history_user_id": getattr(actor, "pk", actor),
    }  # fmt: skip
    fields = {f.attname: f for f in history._meta.concrete_fields}
    params = [fields[name].get_db_prep_save(value, connection) for name, value in extra.items()]
    columns = ", ".join(quote(f.column) for f in [*tracked, *(fields[n] for n in extra)])
    selected = ", ".join([*(quote(source[f.attname].column) for f in tracked), *["%s"] * len(extra)])
    head = f"INSERT INTO {quote(history._meta.db_table)} ({columns}) SELECT {selected} FROM {quote(Invoice._meta.db_table)}"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(pks), 1000):
            chunk = pks[start : start + 1000]
            where = f" WHERE {quote(source['id'].column)} IN ({', '.join(['%s'] * len(chunk))})"
            cursor.execute(head + where, [*params, *chunk])
