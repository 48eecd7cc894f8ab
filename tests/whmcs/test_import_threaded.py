"""The importer's threaded writes (bulk.BatchWriter): outside a transaction each batch of invoices and
transactions is written on a second thread and connection while the next batch is mapped. The other
tests run inside the test transaction, where the writes run inline; these commit for real."""

import threading

import pytest
from django.db import connection

from core.billing.models import Invoice, InvoiceLine, Payment
from core.billing.services.integrity import check_invoices
from integrations.whmcs import bulk
from integrations.whmcs.importer import import_whmcs
from tests.whmcs.test_import import _WRITES, _count_writes, row_counts

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def test_threaded_import_reconciles_and_a_rerun_writes_nothing(whmcs_source, monkeypatch):
    threads = []
    original = bulk._atomic

    def spy(*args):
        threads.append(threading.current_thread().name)
        return original(*args)

    monkeypatch.setattr(bulk, "_atomic", spy)
    report = import_whmcs(whmcs_source["url"], batch_size=50)

    assert threads and all(name.startswith("whmcs-writer") for name in threads), "batches were written on the thread"
    assert report.is_reconciled, report.summary()
    assert report.service_differences == []
    assert check_invoices() == []
    invoices = report.tables["tblinvoices"]
    assert invoices.imported == Invoice.objects.filter(whmcs_id__isnull=False).count() > 50  # several batches
    assert report.tables["tblinvoiceitems"].imported == InvoiceLine.objects.count()
    assert report.tables["tblaccounts"].imported == Payment.objects.filter(whmcs_id__isnull=False).count()
    # Refunds found the payment they refund, in their own batch or an earlier one.
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
