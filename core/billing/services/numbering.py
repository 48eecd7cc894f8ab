"""Invoice numbers: gapless and unique per series, taken from a row-locked NumberSequence at issue.

The sequence row is locked with `select_for_update` for the rest of the caller's transaction,
so a number is only ever consumed by a transaction that commits: a rollback gives it back.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction

from core.billing.models import NumberSequence

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"

_FORMAT_SETTING = {INVOICE: "INVOICE_NUMBER_FORMAT", CREDIT_NOTE: "CREDIT_NOTE_NUMBER_FORMAT"}


def series_format(series: str) -> str:
    key = _FORMAT_SETTING.get(series)
    if key is None:
        raise ValueError(f"Unknown number series {series!r}")
    return settings.BILLING[key]


def series_year(issue_date: dt.date) -> int:
    """0 when the series never restarts, else the issue year (a new series each year)."""
    return issue_date.year if settings.BILLING.get("NUMBER_SERIES_PER_YEAR", True) else 0


def format_number(fmt: str, *, seq: int, year: int, issue_date: dt.date) -> str:
    return fmt.format(seq=seq, year=year or issue_date.year, month=issue_date.month)


def _locked_sequence(series: str, year: int) -> NumberSequence:
    # The row exists on every issue but the first of a year: lock it straight away (one query).
    found = NumberSequence.objects.select_for_update().filter(series=series, year=year).first()
    if found is not None:
        return found
    _create_sequence(series, year)
    return NumberSequence.objects.select_for_update().get(series=series, year=year)


def _create_sequence(series: str, year: int) -> None:
    """Create the series' row if it is missing, safely when many transactions try at once.

    On MySQL/MariaDB a plain INSERT that hits a duplicate takes a *shared* lock on the existing
    row; two such waiters then both ask for the exclusive lock (select_for_update) and deadlock
    (seen with 50 concurrent first-of-the-year issues). INSERT ... ON DUPLICATE KEY UPDATE takes
    an exclusive lock on the duplicate instead, so concurrent creators simply queue.
    """
    connection = transaction.get_connection()
    if connection.vendor == "mysql":
        table = connection.ops.quote_name(NumberSequence._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (series, year, last_value, format) VALUES (%s, %s, 0, %s) "  # noqa: S608
                "ON DUPLICATE KEY UPDATE last_value = last_value",
                [series, year, series_format(series)],
            )
        return
    try:
        # Savepoint: a concurrent creator wins the unique constraint and we lock its row instead.
        with transaction.atomic():
            NumberSequence.objects.get_or_create(series=series, year=year, defaults={"format": series_format(series)})
    except IntegrityError:
        pass


def take_numbers(series: str, issue_date: dt.date, count: int = 1) -> list[str]:
    """Reserve `count` consecutive numbers of `series` for invoices issued on `issue_date`.

    Invariant: numbers of a series are 1..n without gaps or duplicates. Must run inside the
    transaction that saves the invoices (the lock is held until it commits).
    """
    if count < 1:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("take_numbers must run inside the transaction that issues the invoices")
    year = series_year(issue_date)
    seq = _locked_sequence(series, year)
    first = seq.last_value + 1
    seq.last_value += count
    seq.save(update_fields=["last_value"])
    return [format_number(seq.format, seq=n, year=year, issue_date=issue_date) for n in range(first, first + count)]


def take_number(series: str, issue_date: dt.date) -> str:
    return take_numbers(series, issue_date, 1)[0]
