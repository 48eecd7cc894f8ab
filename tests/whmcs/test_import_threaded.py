"""The importer's threaded writes (bulk.BatchWriter): outside a transaction each batch of invoices and
transactions is written on a second thread and connection while the next batch is mapped. The other
tests run inside the test transaction, where the writes run inline; these commit for real."""

import threading
import time

import pytest
from django.db import connection

from core.billing.models import Invoice, InvoiceLine, Payment
from core.billing.services.integrity import check_invoices
from integrations.whmcs import bulk, steps_billing
from integrations.whmcs.importer import import_whmcs
from tests.whmcs.test_import import _WRITES, _count_writes, row_counts

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def test_threaded_import_reconciles_and_a_rerun_writes_nothing(whmcs_source, monkeypatch):
    threads = []
    original = bulk._atomic

    def spy(wrappers, write, *args):
        threads.append(threading.current_thread().name)
        if write in (steps_billing._write_invoices, steps_billing._write_transactions):
            # Hold each batch's commit back: the next batch is mapped and written meanwhile.

            def write(*args, _write=write):
                result = _write(*args)
                time.sleep(0.2)
                return result

        return original(wrappers, write, *args)

    monkeypatch.setattr(bulk, "_atomic", spy)
    # Two invoices with one number, 55+ rows apart: in two batches written at the same time.
    cur = whmcs_source["conn"].cursor()
    cur.execute(
        "SELECT id FROM tblinvoices WHERE id <= (SELECT id FROM tblinvoices ORDER BY id DESC LIMIT 1 OFFSET 54) "
        "AND status IN ('Paid', 'Unpaid') AND userid IN (SELECT id FROM tblclients) ORDER BY id DESC LIMIT 1"
    )
    first = cur.fetchone()[0]
    cur.execute("UPDATE tblinvoices SET invoicenum = 'DUP-1' WHERE id = %s", [first])
    cur.execute("SELECT MAX(id) FROM tblinvoices")
    second = cur.fetchone()[0] + 1
    cur.execute(
        "INSERT INTO tblinvoices (id, userid, invoicenum, date, duedate, subtotal, total, status) "
        "VALUES (%s, 1, 'DUP-1', '2025-06-01', '2025-06-08', 10, 10, 'Unpaid')",
        [second],
    )
    report = import_whmcs(whmcs_source["url"], batch_size=50)
    numbers = dict(Invoice.objects.filter(whmcs_id__in=[first, second]).values_list("whmcs_id", "number"))
    assert numbers == {first: "DUP-1", second: f"DUP-1-W{second}"}

    assert threads and all(name.startswith("whmcs-writer") for name in threads), "batches were written on the thread"
    assert report.is_reconciled, report.summary()
    assert report.service_differences == []
    assert check_invoices() == []
    invoices = report.tables["tblinvoices"]
    assert invoices.imported == Invoice.objects.filter(whmcs_id__isnull=False).count() > 50  # several batches
    assert report.tables["tblinvoiceitems"].imported == InvoiceLine.objects.count()
    assert report.tables["tblaccounts"].imported == Payment.objects.filter(whmcs_id__isnull=False).count()
    # Refunds found the payment they refund, in their own batch or an earlier one (one still being written
    # when the refund's batch was mapped: the refund's batch waited for it).
    refunds = Payment.objects.filter(whmcs_id__isnull=False, kind="refund")
    assert refunds.exists() and not refunds.filter(original_payment__isnull=True).exists()

    before = row_counts()
    with connection.execute_wrapper(_count_writes):  # handed to the writer thread's connection too
        _WRITES.clear()
        threads.clear()
        rerun = import_whmcs(whmcs_source["url"], batch_size=50)
    assert threads, "the rerun wrote (nothing) through the thread as well"
    assert _WRITES == [], _WRITES[:5]
    assert row_counts() == before
    assert all(s.imported == 0 and s.updated == 0 for s in rerun.tables.values()), rerun.summary()
    assert rerun.is_reconciled
