"""Benchmark (issue #10): exporting 1,000,000 invoice lines keeps memory flat.

Not in the default run:

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_h6 \
    REDIS_URL=redis://127.0.0.1:6379/6 .venv/bin/python -m pytest tests/benchmarks/test_finance_export.py \
    -s -o addopts="" -p no:cacheprovider -n 0

Seeds BENCH_LINES (1,000,000) lines on BENCH_LINES / 4 invoices, then writes the invoice-lines CSV
export to a temporary file (the path the ExportJob task takes), sampling Python memory
(tracemalloc) and the process RSS at 10%, 50% and 100% of the rows: the allocations held must
not grow with the rows written (keyset pages of 2,000 lines, one csv row at a time).
"""

import datetime as dt
import os
import resource
import tempfile
import time
import tracemalloc

import pytest

from core.analytics import exports
from tests.benchmarks.scale_data import _load, seed

LINES = int(os.environ.get("BENCH_LINES", "1000000"))
PER_INVOICE = 4

pytestmark = [pytest.mark.benchmark, pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_invoice_lines_export_memory_stays_flat():
    print(f"\nseeding {LINES} invoice lines (load {_load()})")
    seed(customers=20_000, invoices=LINES // PER_INVOICE, lines_per_invoice=PER_INVOICE)
    period = (dt.date(2000, 1, 1), dt.date(2100, 1, 1))
    expected = exports.get_export("invoice_lines").count(*period)  # void invoices' lines are not exported
    samples = {}
    marks = {int(expected * f) // exports.CHUNK * exports.CHUNK: label for f, label in ((0.1, "10%"), (0.5, "50%"))}
    marks[expected] = "100%"

    def progress(done):
        if done in marks and marks[done] not in samples:
            current, peak = tracemalloc.get_traced_memory()
            samples[marks[done]] = (current / 2**20, peak / 2**20, _rss_mib())

    tracemalloc.start()
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        rows = exports.write_export("invoice_lines", *period, "csv", out, progress)
        size = out.tell()
    seconds = time.perf_counter() - start
    tracemalloc.stop()
    print(f"  {rows} rows, {size / 2**20:.0f} MiB CSV in {seconds:.0f}s ({rows / seconds:,.0f} rows/s, load {_load()})")
    for label, (current, peak, rss) in samples.items():
        print(f"  at {label:>4}: traced now {current:.1f} MiB, traced peak {peak:.1f} MiB, RSS {rss:.0f} MiB")
    assert rows == expected
    assert samples["100%"][0] - samples["10%"][0] < 5  # MiB held does not grow with rows written
    assert samples["100%"][1] < 50
