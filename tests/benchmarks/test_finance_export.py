"""Benchmark (issue #10): exporting 1,000,000 invoice lines as the ExportJob task keeps memory flat.

Not in the default run. One command (shares the data set of test_admin_changelists.py: with
--reuse-db and the same TEST_DATABASE_NAME it is seeded once for both; BENCH_DROP=1 empties it):

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_bench \\
    REDIS_URL=redis://127.0.0.1:6379/6 .venv/bin/python -m pytest tests/benchmarks/test_finance_export.py \\
    -s -o addopts="" -p no:cacheprovider -n 0 --reuse-db

The data set (scale_data.bench_scale) has BENCH_INVOICES (1,000,000) invoices and BENCH_LINES lines
spread evenly over them (default 2,000,000: two per invoice; the 5% on void invoices are not exported,
so 1,900,000 rows, which XLSX puts on two sheets). For each format in BENCH_FORMATS (default "csv,xlsx") an ExportJob over every line runs
through the task body (core.analytics.exports.run_export_job: count, write to a temporary file,
progress on the job row, file stored under MEDIA_ROOT), sampling the process RSS at 10%, 50% and 100%
of the rows: it must not grow with the rows written. BENCH_TRACEMALLOC=1 also samples the Python
allocations held (tracemalloc; it makes the export several times slower, so rows/s are then not the
figure to quote). Prints rows/s, wall and CPU time with the load average.
"""

import datetime as dt
import os
import resource
import time
import tracemalloc

import pytest

from core.analytics import exports
from core.analytics.models import ExportJob
from tests.benchmarks.scale_data import _load

FORMATS = os.environ.get("BENCH_FORMATS", "csv,xlsx").split(",")
TRACE = os.environ.get("BENCH_TRACEMALLOC") == "1"

pytestmark = [pytest.mark.benchmark, pytest.mark.mariadb, pytest.mark.django_db]


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("file_format", FORMATS)
def test_invoice_lines_export_memory_stays_flat(scale_db, file_format):
    period = (dt.date(2000, 1, 1), dt.date(2100, 1, 1))
    expected = exports.get_export("invoice_lines").count(*period)  # void invoices' lines are not exported
    samples = {}
    marks = ((0.1, "10%"), (0.5, "50%"), (1.0, "100%"))

    def sample(done):
        for fraction, label in marks:
            if done >= expected * fraction and label not in samples:
                current, peak = tracemalloc.get_traced_memory() if TRACE else (0, 0)
                samples[label] = (done, current / 2**20, peak / 2**20, _rss_mib())

    job = ExportJob.objects.create(kind="invoice_lines", file_format=file_format, date_from=period[0],
                                   date_to=period[1])  # fmt: skip
    print(f"\n{file_format}: exporting {expected:,} invoice lines (load {_load()})")
    if TRACE:
        tracemalloc.start()
    cpu, start = time.process_time(), time.perf_counter()
    exports.run_export_job(job.pk, on_progress=sample)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if TRACE:
        tracemalloc.stop()
    job.refresh_from_db()
    size = job.file.size
    print(f"  {job.rows_done:,} rows, {size / 2**20:.0f} MiB {file_format} in {seconds:.0f}s wall, {cpu:.0f}s CPU: "
          f"{job.rows_done / seconds:,.0f} rows/s (load at end {_load()})")  # fmt: skip
    for label, (done, current, peak, rss) in samples.items():
        traced = f"traced now {current:.1f} MiB, traced peak {peak:.1f} MiB, " if TRACE else ""
        print(f"  at {label:>4} ({done:>9,} rows): {traced}RSS {rss:.0f} MiB")
    job.file.delete(save=False)
    assert job.status == ExportJob.Status.DONE
    assert job.rows_done == job.rows_total == expected
    assert samples["100%"][3] - samples["10%"][3] < 20  # RSS (MiB) does not grow with the rows written
    if TRACE:
        assert samples["100%"][1] - samples["10%"][1] < 5  # nor the Python allocations held
        assert samples["100%"][2] < 50
