"""Benchmark (issue #9): import a WHMCS database of 20,000 clients, 40,000 services and 500,000
invoices with their lines and transactions (~1.6 million source rows). Target: under 5 minutes
(goal 2) with flat memory.

Not in the default run. On MariaDB (--reuse-db skips rebuilding the test database):

    TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo TEST_DATABASE_NAME=test_bench_h5 \
    REDIS_URL=redis://127.0.0.1:6379/5 WHMCS_BENCH_KEEP_SOURCE=1 \
    pytest tests/benchmarks/test_whmcs_import.py -s -o addopts="" -p no:cacheprovider --reuse-db

WHMCS_BENCH_SCALE (1.0) scales every count (0.1 = 2,000 clients, 50,000 invoices). The source is a
database built from the WHMCS 8.4 schema dump and filled inside MariaDB (INSERT ... SELECT over the
SEQUENCE engine's seq_1_to_N tables: ~20 s for 1.6M rows on a quiet machine). WHMCS_BENCH_KEEP_SOURCE=1
keeps it after the run and reuses one of the same scale, generator version and schema next time.
WHMCS_BENCH_PROFILE=1 prints cProfile's top entries (the batches are then written inline, on one
thread). Prints rows/s per table, the importer's CPU seconds and the MariaDB server's (all clients)
beside the wall time, the process RSS sampled during the invoices (flat = memory does not grow with the
rows) and peak RSS, and the load average (`uptime`) before and after. Our imported rows are TRUNCATEd
at the end (and at the start, should an interrupted run have left any).

Measured 2026-12-06 on the shared 2-core machine:
- before (lead's run, load 1.7-3.4, other benchmarks running): 231 s wall, importer CPU 114 s; clients
  4,911 rows/s, services 9,433, invoices 3,709 (plus 600,000 lines), transactions 5,823; peak RSS 302 MB.
  (Earlier, at load 9-13: 996 s wall, CPU 176 s, source generation alone 714 s.)
- after (bulk.BatchWriter: each batch is written on a writer thread while the next is mapped, two
  batches at a time on two connections; lookups by source id range; column-wise SQL encoding; the
  reconciliation reads WHMCS's side on a second thread), load 2.1-3.8 from other helpers' jobs:
  1,610,000 source rows imported and reconciled (every money difference 0.00) in 145 s wall; importer
  CPU 72 s, MariaDB server CPU 95 s meanwhile (its other clients included); clients 4,787 rows/s,
  services 3,474 (now with subscriptions and service addresses), invoices 7,898 (plus 600,000 lines),
  transactions 8,130, reconciliation and the rest 11 s; RSS 277/279/279 MB at 10/50/100% of the
  invoices, peak 333 MB. Source generated in 16 s (27 s at load 6). Under the 5-minute target; the
  2-minute goal needs a quieter machine (the wall time here is largely waiting for a CPU).
"""

import cProfile
import os
import pstats
import resource
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import MySQLdb
import pytest
from django.db import connection

from integrations.whmcs import bulk
from integrations.whmcs.importer import import_whmcs
from integrations.whmcs.schema import compare
from integrations.whmcs.source import WhmcsSource
from tests.whmcs.conftest import source_name
from tests.whmcs.source_db import create_database, drop_database, insert, php_bcrypt, server, source_url

SCALE = float(os.environ.get("WHMCS_BENCH_SCALE", "1.0"))
CLIENTS = int(20_000 * SCALE)
SERVICES_PER_CLIENT = 2
INVOICES_PER_CLIENT = 25
BATCH = int(os.environ.get("WHMCS_BENCH_BATCH", "5000"))
KEEP_SOURCE = os.environ.get("WHMCS_BENCH_KEEP_SOURCE") == "1"

pytestmark = [pytest.mark.benchmark, pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]

STATUSES = ["Paid"] * 7 + ["Unpaid", "Cancelled", "Refunded"]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


GENERATOR_VERSION = 2  # bump when the generated data changes: a kept source of another version is rebuilt
CHUNK = 100_000  # invoice ids per INSERT ... SELECT statement


def _sql(conn, sql: str, params=None) -> None:
    cur = conn.cursor()
    cur.execute(sql, params)
    cur.close()


def _generate(conn) -> dict:
    """The source history, generated inside MariaDB with INSERT ... SELECT over the SEQUENCE engine's
    seq_1_to_N tables (no rows travel through Python). Amounts are a fixed hash of the invoice id."""
    n = CLIENTS
    insert(conn, "tblcurrencies", [
        {"id": 2, "code": "EUR", "prefix": "€", "suffix": "", "format": 2, "rate": Decimal("0.92"), "default": 0},
        {"id": 3, "code": "GBP", "prefix": "£", "suffix": "", "format": 2, "rate": Decimal("0.79"), "default": 0},
    ])  # fmt: skip
    modules = ["virtfusion", "pterodactyl", "synergycp", "enhance", "cpanel"]
    insert(conn, "tblproducts", [
        {"id": p + 1, "type": "server", "gid": 1, "name": f"Plan {p + 1}", "servertype": m, "paytype": "recurring"}
        for p, m in enumerate(modules)
    ])  # fmt: skip
    _sql(conn, "INSERT INTO tblclients (id, firstname, lastname, email, address1, city, postcode, country, currency, "
               "status, datecreated, credit) SELECT seq, CONCAT('F', seq), CONCAT('L', seq), CONCAT('c', seq, "
               f"'@bench.example'), '1 Main St', 'City', '12345', 'US', MOD(seq, 3) + 1, 'Active', '2018-01-01', 0 "
               f"FROM seq_1_to_{n}")  # fmt: skip
    # Every tenth login a PHP bcrypt hash, the others WHMCS's legacy md5(salt.password):salt.
    _sql(conn, "INSERT INTO tblusers (id, first_name, last_name, email, password) SELECT seq, CONCAT('F', seq), "
               "CONCAT('L', seq), CONCAT('c', seq, '@bench.example'), IF(MOD(seq, 10) = 0, %s, "
               f"CONCAT(MD5(CONCAT('s', seq, 'pw')), ':s', seq)) FROM seq_1_to_{n}", [php_bcrypt("bench-password")])  # fmt: skip
    _sql(conn, f"INSERT INTO tblusers_clients (auth_user_id, client_id, owner) SELECT seq, seq, 1 FROM seq_1_to_{n}")
    _sql(conn, "INSERT INTO tblhosting (id, userid, packageid, regdate, domain, billingcycle, amount, domainstatus, "
               f"nextduedate, dedicatedip) SELECT seq, (seq - 1) DIV {SERVICES_PER_CLIENT} + 1, MOD(seq, 5) + 1, "
               "'2019-01-01', CONCAT('s', seq, '.bench'), 'Monthly', 9.99, 'Active', '2027-01-01', "
               "CONCAT('10.', MOD(seq DIV 65536, 256), '.', MOD(seq DIV 256, 256), '.', MOD(seq, 256)) "
               f"FROM seq_1_to_{n * SERVICES_PER_CLIENT}")  # fmt: skip
    # Invoice id = (client - 1) * 25 + k + 1 for the client's k-th invoice (k = 0..24): one every 30 days
    # from 2019; statuses 7 in 10 Paid, then Unpaid, Cancelled, Refunded; every fifth has a 5.00 setup line.
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    total_invoices = n * INVOICES_PER_CLIENT
    for first in range(1, total_invoices + 1, CHUNK):
        last = min(first + CHUNK - 1, total_invoices)
        _sql(conn, "INSERT INTO tblinvoices (id, userid, invoicenum, date, duedate, subtotal, credit, tax, tax2, total, "
                   "status, paymentmethod, datepaid, created_at, updated_at) "
                   "SELECT id, cid, '', d, d, sub, 0, 0, 0, sub, ELT(MOD(cid + k, 10) + 1, " + statuses + "), 'stripe', "
                   "d, d, d FROM (SELECT seq AS id, (seq - 1) DIV 25 + 1 AS cid, MOD(seq - 1, 25) AS k, "
                   "'2019-01-01' + INTERVAL (MOD(seq - 1, 25) * 30 + MOD((seq - 1) DIV 25 + 1, 30)) DAY AS d, "
                   "(MOD(seq * 7919, 8700) + 300) / 100 + IF(MOD(seq - 1, 5) = 0, 5, 0) AS sub "
                   f"FROM seq_{first}_to_{last}) x")  # fmt: skip
        between = f"BETWEEN {first} AND {last}"
        _sql(conn, "INSERT INTO tblinvoiceitems (id, invoiceid, userid, type, relid, description, amount, taxed) "
                   f"SELECT 2 * id - 1, id, userid, 'Hosting', (userid - 1) * {SERVICES_PER_CLIENT} + 1, "
                   "CONCAT('Plan - s', userid, '.bench'), subtotal - IF(MOD(id - 1, 5) = 0, 5, 0), 0 "
                   f"FROM tblinvoices WHERE id {between}")  # fmt: skip
        _sql(conn, "INSERT INTO tblinvoiceitems (id, invoiceid, userid, type, relid, description, amount, taxed) "
                   "SELECT 2 * id, id, userid, 'Setup', 0, 'Setup fee', 5, 0 FROM tblinvoices "
                   f"WHERE id {between} AND MOD(id - 1, 5) = 0")  # fmt: skip
        # A Stripe payment (fee 2.9% + 0.30) per Paid/Refunded invoice; a Refunded one also has the refund,
        # which gives the fee back (negative fee) and points at the payment (refundid).
        _sql(conn, "INSERT INTO tblaccounts (id, userid, currency, gateway, date, amountin, fees, amountout, transid, "
                   "invoiceid, refundid) SELECT 2 * id - 1, userid, 0, 'stripe', date, subtotal, "
                   "ROUND(subtotal * 0.029 + 0.30, 2), 0, CONCAT('ch_', 2 * id - 1), id, 0 FROM tblinvoices "
                   f"WHERE id {between} AND status IN ('Paid', 'Refunded')")  # fmt: skip
        _sql(conn, "INSERT INTO tblaccounts (id, userid, currency, gateway, date, amountin, fees, amountout, transid, "
                   "invoiceid, refundid) SELECT 2 * id, userid, 0, 'stripe', date, 0, "
                   "-ROUND(subtotal * 0.029 + 0.30, 2), subtotal, CONCAT('re_', 2 * id), id, 2 * id - 1 "
                   f"FROM tblinvoices WHERE id {between} AND status = 'Refunded'")  # fmt: skip
    return _counts(conn)


def _counts(conn) -> dict:
    cur = conn.cursor()
    counts = {}
    for name, table in (("clients", "tblclients"), ("services", "tblhosting"), ("invoices", "tblinvoices"),
                        ("lines", "tblinvoiceitems"), ("transactions", "tblaccounts")):  # fmt: skip
        cur.execute(f"SELECT COUNT(*) FROM `{table}`")  # noqa: S608
        counts[name] = int(cur.fetchone()[0])
    cur.close()
    return counts


def _kept_source(name: str):
    """A source database of this scale and generator version left by an earlier run, or None."""
    s = server()
    try:
        conn = MySQLdb.connect(host=s["host"], port=s["port"], user=s["user"], passwd=s["password"], db=name,
                               charset="utf8mb4", autocommit=True)  # fmt: skip
    except MySQLdb.Error:
        return None
    try:
        cur = conn.cursor()
        cur.execute("SELECT scale, version FROM bench_source")
        row = cur.fetchone()
    except MySQLdb.Error:
        row = None
    if row and float(row[0]) == SCALE and int(row[1]) == GENERATOR_VERSION and not _schema_differences(name):
        return conn
    conn.close()
    return None


def _schema_differences(name: str) -> list[str]:
    """A kept source built before the importer learned new tables or columns is rebuilt."""
    source = WhmcsSource(source_url(name))
    try:
        return compare(source.columns())
    finally:
        source.close()


def _source(name: str):
    """The source database: reused when WHMCS_BENCH_KEEP_SOURCE=1 finds one of the same scale, else generated.
    The marker table bench_source is written last, so a generation that was interrupted is not reused."""
    if KEEP_SOURCE and (conn := _kept_source(name)):
        counts = _counts(conn)
        print(f"\nReusing the kept source {name}: {counts} ({sum(counts.values()):,} source rows)")
        return conn, counts
    conn = create_database(name)
    started = time.monotonic()
    counts = _generate(conn)
    print(f"\nGenerated {counts} ({sum(counts.values()):,} source rows) in {time.monotonic() - started:.0f}s")
    _sql(conn, "CREATE TABLE bench_source (scale DOUBLE NOT NULL, version INT NOT NULL)")
    _sql(conn, "INSERT INTO bench_source VALUES (%s, %s)", [SCALE, GENERATOR_VERSION])
    return conn, counts


def _truncate_imported() -> None:
    """Empty our big tables with TRUNCATE: the test database's flush after the test DELETEs row by row."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_rows > 1000"
        )
        tables = [t for (t,) in cur.fetchall()]
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        try:
            for table in tables:
                cur.execute(f"TRUNCATE TABLE {connection.ops.quote_name(table)}")
        finally:
            cur.execute("SET FOREIGN_KEY_CHECKS = 1")


def _server_cpu_seconds() -> float | None:
    """CPU seconds the MariaDB server process has used (every client's work, not only ours), if visible."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            if fields[0].endswith(("(mariadbd", "(mysqld")):
                utime, stime = fields[1].split()[11:13]
                return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return None


def test_whmcs_import_benchmark(worker_id, monkeypatch):
    name = source_name(worker_id) + "_bench" + ("" if SCALE == 1 else f"_s{SCALE:g}".replace(".", "p"))
    conn, counts = _source(name)
    _truncate_imported()  # rows an interrupted earlier run left behind would count as "unchanged"
    try:
        print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())  # noqa: S607
        samples = []

        def progress(table, done, total, seconds):
            samples.append((table, done, total, round(_rss_mb())))

        profiler = cProfile.Profile() if os.environ.get("WHMCS_BENCH_PROFILE") else None
        if profiler:  # the profiler sees one thread: write each batch inline
            monkeypatch.setattr(bulk, "THREADED", False)
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        server_before = _server_cpu_seconds()
        started = time.monotonic()
        if profiler:
            profiler.enable()
        report = import_whmcs(source_url(name), batch_size=BATCH, progress=progress)
        elapsed = time.monotonic() - started
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        server_after = _server_cpu_seconds()
        cpu_seconds = cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
        total_rows = sum(stats.read for stats in report.tables.values())
        print(f"Importer process CPU {cpu_seconds:.1f}s of {elapsed:.1f}s wall; {total_rows:,} rows read, "
              f"{total_rows / elapsed:,.0f} rows/s overall")  # fmt: skip
        if server_before is not None and server_after is not None:
            print(f"MariaDB server CPU {server_after - server_before:.1f}s meanwhile (all its clients, ours included)")
        print("uptime after: ", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())  # noqa: S607
        print(
            f"Imported in {elapsed:.1f}s (scale {SCALE}); peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
        for table, stats in report.tables.items():
            if stats.read:
                print(f"  {table:<20} {stats.read:>9,} rows {stats.seconds:>7.1f}s {stats.rate:>9,.0f} rows/s")
        steps = sum(stats.seconds for stats in report.tables.values())
        print(f"  rest (reconciliation, steps with nothing to read): {elapsed - steps:.1f}s")
        invoices = [s for s in samples if s[0] == "tblinvoices"]
        if invoices:
            marks = [invoices[int(len(invoices) * f) - 1] for f in (0.1, 0.5, 1.0) if int(len(invoices) * f) >= 1]
            print("  RSS during tblinvoices (10%/50%/100%):", [f"{m[3]} MB" for m in marks])
        assert report.schema_differences == []
        assert report.is_reconciled, report.summary()
        assert report.tables["tblinvoices"].imported == counts["invoices"]
        if SCALE >= 1:
            assert elapsed < 300, f"{elapsed:.0f}s is over the 5-minute budget"
    finally:
        conn.close()
        if not KEEP_SOURCE:
            drop_database(name)
        _truncate_imported()
