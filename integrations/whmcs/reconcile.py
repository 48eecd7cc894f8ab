"""Reconciliation: WHMCS's money and services against ours after the import.

The WHMCS side is computed in SQL straight from the source tables (not from what the importer
read), ours from the imported rows (whmcs_id set). Money rows: WHMCS - money in rows the import
skipped (each listed in the report) - ours = difference, which must be 0.00.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from django.db.models import Count, F, Sum
from django.db.models.functions import ExtractYear

from core.accounts.models import Customer
from core.billing.models import CreditEntry, Invoice, Payment
from core.provisioning.models import Service

from .cleaning import ZERO, money
from .mappings import OPEN_INVOICE_STATUSES, SERVICE_STATUS, platform_for
from .run import Run

# The same rules as the importer: the year falls back from date to due date to creation date, and
# the billed amount is read by whichever total formula the invoice satisfies (steps_billing.billed_amount).
_VALID = "IF({0} > '1970-01-01', {0}, NULL)"
INVOICE_YEAR = (
    f"YEAR(COALESCE({_VALID.format('i.date')}, {_VALID.format('i.duedate')}, DATE({_VALID.format('i.created_at')})))"
)
BILLED = (
    "CASE WHEN i.total = i.subtotal + i.tax + i.tax2 THEN i.total "
    "WHEN i.credit <> 0 AND i.total = i.subtotal + i.tax + i.tax2 - i.credit THEN i.subtotal + i.tax + i.tax2 "
    "WHEN i.credit <> 0 AND i.total + i.credit >= 0 THEN i.total + i.credit ELSE i.total END"
)


INVOICES_SQL = (
    f"SELECT c.currency AS ccur, c.id IS NULL AS orphan, {INVOICE_YEAR} AS y, SUM({BILLED}) AS billed, "  # noqa: S608
    "SUM(i.credit) AS credit FROM tblinvoices i LEFT JOIN tblclients c ON c.id = i.userid "
    "WHERE i.status <> 'Draft' GROUP BY ccur, orphan, y"
)
ACCOUNTS_SQL = (
    "SELECT c.currency AS ccur, c.id IS NULL AS orphan, a.currency AS acur, "
    "YEAR(IF(a.date > '1970-01-01', a.date, NULL)) AS y, SUM(a.amountin) AS paid, SUM(a.amountout) AS refunded, "
    "SUM(a.fees) AS fees FROM tblaccounts a LEFT JOIN tblclients c ON c.id = a.userid GROUP BY ccur, orphan, acur, y"
)
CREDIT_SQL = (
    "SELECT c.currency AS ccur, c.id IS NULL AS orphan, YEAR(IF(cr.date > '1970-01-01', cr.date, NULL)) AS y, "
    "SUM(cr.amount) AS amount FROM tblcredit cr LEFT JOIN tblclients c ON c.id = cr.clientid GROUP BY ccur, orphan, y"
)
OPEN_SQL = (
    f"SELECT i.userid, SUM({BILLED} - i.credit - COALESCE(p.net, 0)) AS open FROM tblinvoices i "  # noqa: S608
    "LEFT JOIN (SELECT invoiceid, SUM(amountin - amountout) AS net FROM tblaccounts GROUP BY invoiceid) p "
    f"ON p.invoiceid = i.id WHERE i.status IN ({','.join(['%s'] * len(OPEN_INVOICE_STATUSES))}) GROUP BY i.userid"
)
CLIENT_CREDIT_SQL = "SELECT id, credit FROM tblclients"
SERVICES_SQL = (
    "SELECT h.domainstatus AS status, p.servertype AS module, p.type AS ptype, COUNT(*) AS n "
    "FROM tblhosting h LEFT JOIN tblproducts p ON p.id = h.packageid {where} GROUP BY status, module, ptype"
)


def _services_sql(report) -> list[tuple[str, list]]:
    """Services by status and platform in WHMCS, then (when the import skipped some) those skipped."""
    queries = [(SERVICES_SQL.format(where=""), [])]
    skipped_ids = [i.whmcs_id for i in report.issues if i.table == "tblhosting" and i.action == "skipped"]
    if skipped_ids:
        queries.append(
            (SERVICES_SQL.format(where=f"WHERE h.id IN ({','.join(['%s'] * len(skipped_ids))})"), skipped_ids)
        )
    return queries


def _source_queries(run: Run) -> list[tuple[str, list]]:
    return [
        (INVOICES_SQL, []), (ACCOUNTS_SQL, []), (CREDIT_SQL, []), (OPEN_SQL, list(OPEN_INVOICE_STATUSES)),
        (CLIENT_CREDIT_SQL, []), *_services_sql(run.report),
    ]  # fmt: skip


class _Ahead:
    """The source's answers to the reconciliation's queries, read one after another on a second thread
    (over the source's own connection, which nothing else uses meanwhile) while ours are read here."""

    def __init__(self, source, queries: list[tuple[str, list]]):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whmcs-reconcile")
        self.answers = {
            (sql, tuple(params)): self.pool.submit(source.query, sql, list(params)) for sql, params in queries
        }

    def query(self, sql: str, params=()) -> list:
        return self.answers[(sql, tuple(params or ()))].result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _year(value) -> int | str:
    return int(value) if value else "none"


def reconcile(run: Run) -> None:
    source = _Ahead(run.source, _source_queries(run))
    try:
        _money(run, source)
        _clients(run, source)
        _services(run, source)
    finally:
        source.close()


def _money(run: Run, source) -> None:
    report = run.report
    whmcs: dict = defaultdict(lambda: ZERO)
    ours: dict = defaultdict(lambda: ZERO)

    def currency(client_currency, orphan, row_currency=None) -> str:
        if orphan:
            return run.currency_code(row_currency) or "unknown"
        return run.currency_code(client_currency) or run.default_currency

    for r in source.query(INVOICES_SQL):
        code = currency(r["ccur"], r["orphan"])
        whmcs[("invoiced", code, _year(r["y"]))] += money(r["billed"])
        whmcs[("credit_applied", code, _year(r["y"]))] += money(r["credit"])
    for r in (
        Invoice.objects.filter(whmcs_id__isnull=False)
        .values("currency_id", y=ExtractYear("issue_date"))
        .annotate(billed=Sum("total"), credit=Sum("credit_applied"))
    ):
        ours[("invoiced", r["currency_id"], _year(r["y"]))] += r["billed"]
        ours[("credit_applied", r["currency_id"], _year(r["y"]))] += r["credit"]

    for r in source.query(ACCOUNTS_SQL):
        code = currency(r["ccur"], r["orphan"], r["acur"])
        for metric in ("paid", "refunded", "fees"):
            whmcs[(metric, code, _year(r["y"]))] += money(r[metric])
    for r in (
        Payment.objects.filter(whmcs_id__isnull=False)
        .values("currency_id", "kind", y=ExtractYear("received_at"))
        .annotate(amount=Sum("amount"), fee=Sum("fee"))
    ):
        year = _year(r["y"])
        if r["kind"] == Payment.Kind.REFUND:
            ours[("refunded", r["currency_id"], year)] += r["amount"]
            ours[("fees", r["currency_id"], year)] -= r["fee"]
        else:
            ours[("paid", r["currency_id"], year)] += r["amount"]
            ours[("fees", r["currency_id"], year)] += r["fee"]

    for r in source.query(CREDIT_SQL):
        whmcs[("credit", currency(r["ccur"], r["orphan"]), _year(r["y"]))] += money(r["amount"])
    for r in (
        CreditEntry.objects.filter(whmcs_id__isnull=False)
        .values("currency_id", y=ExtractYear("created_at"))
        .annotate(amount=Sum("amount"))
    ):
        ours[("credit", r["currency_id"], _year(r["y"]))] += r["amount"]

    report.money = []
    for key in sorted(set(whmcs) | set(ours) | set(report.skipped_money), key=lambda k: (k[1], str(k[2]), k[0])):
        metric, code, year = key
        w, s, o = whmcs.get(key, ZERO), report.skipped_money.get(key, ZERO), ours.get(key, ZERO)
        if w == s == o == ZERO:
            continue
        report.money.append({"currency": code, "year": year, "metric": metric, "whmcs": w, "skipped": s, "ours": o,
                             "difference": w - s - o})  # fmt: skip


def _clients(run: Run, source) -> None:
    report = run.report
    open_whmcs = {r["userid"]: money(r["open"]) for r in source.query(OPEN_SQL, OPEN_INVOICE_STATUSES)}
    credit_whmcs = {r["id"]: money(r["credit"]) for r in source.query(CLIENT_CREDIT_SQL)}
    open_ours = dict(
        Invoice.objects.filter(whmcs_id__isnull=False, status=Invoice.Status.ISSUED)
        .values("customer__whmcs_id")
        .annotate(open=Sum(F("total") - F("amount_paid") - F("credit_applied") + F("amount_refunded")))
        .values_list("customer__whmcs_id", "open")
    )
    credit_ours = dict(
        CreditEntry.objects.filter(customer__whmcs_id__isnull=False).values("customer__whmcs_id")
        .annotate(total=Sum("amount")).values_list("customer__whmcs_id", "total")
    )  # fmt: skip
    imported = dict(Customer.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "currency_id"))
    report.clients = []
    report.clients_compared = len(imported)
    for cid, code in sorted(imported.items()):
        row = {
            "whmcs_id": cid, "currency": code,
            "open_whmcs": open_whmcs.get(cid, ZERO), "open_ours": open_ours.get(cid) or ZERO,
            "credit_whmcs": credit_whmcs.get(cid, ZERO), "credit_ours": credit_ours.get(cid) or ZERO,
        }  # fmt: skip
        if row["open_whmcs"] != row["open_ours"] or row["credit_whmcs"] != row["credit_ours"]:
            report.clients.append(row)


def _services(run: Run, source) -> None:
    report = run.report
    whmcs: dict = defaultdict(int)
    skipped: dict = defaultdict(int)
    for target, (sql, params) in zip((whmcs, skipped), _services_sql(report), strict=False):
        for r in source.query(sql, params):
            key = (SERVICE_STATUS.get(r["status"], "pending"), platform_for(r["module"], r["ptype"])[0])
            target[key] += int(r["n"])
    ours = {
        (r["status"], r["product__platform"]): r["n"]
        for r in Service.objects.filter(whmcs_id__isnull=False)
        .values("status", "product__platform")
        .annotate(n=Count("pk"))
    }
    report.services = [
        {"status": s, "platform": p, "whmcs": whmcs.get((s, p), 0), "skipped": skipped.get((s, p), 0), "ours": ours.get((s, p), 0)}
        for s, p in sorted(set(whmcs) | set(ours))
    ]  # fmt: skip
