"""Invoices with their lines exactly as issued, transactions (payments, refunds, fees), the credit ledger.

Invoice totals: WHMCS keeps subtotal, credit, tax, tax2 and total. Which of `total = subtotal + tax
+ tax2` and `total = subtotal + tax + tax2 - credit` WHMCS writes is UNCONFIRMED (services.md 7.6),
so each invoice is read by whichever holds. Ours stores the billed amount as `total` (lines plus
tax) and the credit separately in `credit_applied`; an invoice where neither holds gets an
adjustment line for the difference, so the total customers saw is kept to the cent (reported).
"""

from __future__ import annotations

from collections import defaultdict, deque
from decimal import Decimal

from django.db import connection, transaction

from core.accounts.models import Customer
from core.billing.models import CreditEntry, Invoice, InvoiceLine, Payment
from core.billing.services.imported import continue_numbering_after_imported
from core.imports.services import sync_rows
from core.provisioning.models import Service

from .bulk import BatchWriter, insert_rows, sync_range
from .cleaning import ZERO, fix_text, money, parse_date, parse_datetime
from .mappings import INVOICE_STATUS, gateway_for, line_kind
from .run import Run
from .steps_accounts import _count

SERIES = "whmcs"
INVOICE_COLUMNS = (
    "id, userid, invoicenum, CAST(date AS CHAR) AS date, CAST(duedate AS CHAR) AS duedate, "
    "CAST(datepaid AS CHAR) AS datepaid, CAST(date_cancelled AS CHAR) AS date_cancelled, "
    "CAST(created_at AS CHAR) AS created_at, subtotal, credit, tax, tax2, total, taxrate, taxrate2, status, "
    "paymentmethod, notes"
)
MUTABLE = {f for f in Invoice.MUTABLE_AFTER_ISSUE if f != "updated_at"}


def _customers() -> dict[int, dict]:
    return {
        c["whmcs_id"]: c
        for c in Customer.objects.filter(whmcs_id__isnull=False).values(
            "whmcs_id", "pk", "currency_id", "company", "user__first_name", "user__last_name", "user__email",
            "address_line1", "address_line2", "city", "region", "postal_code", "country", "vat_id",
        )
    }  # fmt: skip


def billed_amount(subtotal: Decimal, tax: Decimal, tax2: Decimal, credit: Decimal, total: Decimal) -> Decimal:
    """What the invoice billed before credit, by the rule of the module docstring (same rule as reconcile)."""
    gross = subtotal + tax + tax2
    if total == gross:
        return gross
    if credit and total == gross - credit:
        return gross
    return total + credit if credit and total + credit >= 0 else total


def _year(value) -> int | str:
    return value.year if value else "none"


def import_invoices(run: Run) -> None:
    report = run.report
    customers = _customers()
    services = dict(Service.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "pk"))
    # Two batches are written at once; their numbers are not visible to our queries until they commit.
    writers = 2
    in_flight: deque[set[str]] = deque(maxlen=writers)
    with BatchWriter(writers=writers) as writer:
        for rows in run.batches("tblinvoices", INVOICE_COLUMNS, since_column="updated_at"):
            mapped, lines_for, numbers = _invoice_batch(run, rows, customers, set().union(*in_flight))
            writer.submit(
                _write_invoices, mapped, lines_for, services, rows[0]["id"], rows[-1]["id"],
                then=lambda written: _invoices_written(report, *written),
            )  # fmt: skip
            in_flight.append(numbers)
    for year, last in continue_numbering_after_imported().items():
        report.notes.append(f"Our invoice series {year or ''} continues after imported number {last}.")
    report.notes.append(
        "Imported invoices are in their own series 'whmcs' under the number customers saw "
        "(invoicenum, or the invoice id when empty); draft WHMCS invoices are not imported until issued."
    )


def _taken_numbers(numbers: list[str]) -> set[str]:
    if not numbers:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT number FROM {Invoice._meta.db_table} WHERE number IN ({', '.join(['%s'] * len(numbers))})",  # noqa: S608
            numbers,
        )
        return {number for (number,) in cursor.fetchall()}


def _invoice_batch(run: Run, rows: list[dict], customers: dict, in_flight: set[str]):
    """Map one batch: (invoices by WHMCS id, their lines, the numbers this batch takes). Numbers taken
    by earlier batches are found in the database, those of the batch still being written in `in_flight`."""
    report, table = run.report, "tblinvoices"
    first, last = rows[0]["id"], rows[-1]["id"]
    items = defaultdict(list)
    for item in run.source.query(
        "SELECT id, invoiceid, type, relid, description, amount, taxed FROM tblinvoiceitems "
        "WHERE invoiceid BETWEEN %s AND %s ORDER BY invoiceid, id",
        [first, last],
    ):
        items[item["invoiceid"]].append(item)
    report.table("tblinvoiceitems").read += sum(len(v) for v in items.values())
    paid = {
        r["invoiceid"]: r
        for r in run.source.query(
            "SELECT invoiceid, SUM(amountin) AS amountin, SUM(amountout) AS amountout FROM tblaccounts "
            "WHERE invoiceid BETWEEN %s AND %s GROUP BY invoiceid",
            [first, last],
        )
    }
    existing = set(Invoice.objects.filter(whmcs_id__range=(first, last)).values_list("whmcs_id", flat=True))
    candidates = [(r["invoicenum"] or "").strip() or str(r["id"]) for r in rows if r["id"] not in existing]
    taken_numbers = _taken_numbers(candidates) | in_flight
    numbers: set[str] = set()
    mapped, lines_for = {}, {}
    for r in rows:
        iid = r["id"]
        subtotal, tax, tax2, credit, total = (money(r[k]) for k in ("subtotal", "tax", "tax2", "credit", "total"))
        customer = customers.get(r["userid"])
        issue, p_issue = parse_date(r["date"])
        due, p_due = parse_date(r["duedate"])
        year = _year(issue or due)
        billed = billed_amount(subtotal, tax, tax2, credit, total)
        skipped_money = {("invoiced", "unknown" if customer is None else customer["currency_id"], year): billed,
                         ("credit_applied", "unknown" if customer is None else customer["currency_id"], year): credit}  # fmt: skip
        if r["status"] == "Draft":
            report.skip(table, iid, "draft invoice (not issued in WHMCS)", money=_draft_money(skipped_money))
            continue
        if r["status"] not in INVOICE_STATUS:
            report.skip(table, iid, f"unknown status {r['status']!r}", money=skipped_money)
            continue
        if customer is None:
            report.skip(table, iid, f"client {r['userid']} does not exist", money=skipped_money)
            continue
        for problem in (p_issue, p_due):
            if problem:
                report.repair(table, iid, problem)
        if issue is None:
            created, _ = parse_datetime(r["created_at"])
            issue = due or (created.date() if created else None)
            if issue is None:
                report.skip(table, iid, "no usable invoice date", money=skipped_money)
                continue
            report.repair(table, iid, f"zero invoice date: {issue} (due date or creation date) used")
        due = due or issue
        number = (r["invoicenum"] or "").strip() or str(iid)
        if iid not in existing:
            if number in taken_numbers or number in numbers:
                report.repair(table, iid, f"number {number} already used: imported as {number}-W{iid}")
                number = f"{number}-W{iid}"
            numbers.add(number)
        lines = _lines(report, iid, items.get(iid, []), subtotal, tax + tax2, billed, r)
        money_in = money(paid.get(iid, {}).get("amountin"))
        money_out = money(paid.get(iid, {}).get("amountout"))
        issued_at, _ = parse_datetime(issue.isoformat())
        paid_at, _ = parse_datetime(r["datepaid"])
        cancelled_at, _ = parse_datetime(r["date_cancelled"])
        status = INVOICE_STATUS[r["status"]]
        breakdown = [
            {"name": "Tax", "rate": str(money(r["taxrate"])), "amount": str(tax)},
            {"name": "Tax 2", "rate": str(money(r["taxrate2"])), "amount": str(tax2)},
        ]
        mapped[iid] = {
            "customer_id": customer["pk"],
            "currency_id": customer["currency_id"],
            "number": number,
            "series": SERIES,
            "kind": "invoice",
            "purpose": "imported",
            "status": status,
            "issue_date": issue,
            "due_date": due,
            "issued_at": issued_at,
            "paid_at": paid_at if status == "paid" else None,
            "voided_at": (cancelled_at or issued_at) if status == "void" else None,
            "void_reason": "Cancelled in WHMCS" if status == "void" else "",
            "billing_details": {
                "name": f"{customer['user__first_name']} {customer['user__last_name']}".strip(),
                "company": customer["company"],
                "email": customer["user__email"],
                "line1": customer["address_line1"],
                "line2": customer["address_line2"],
                "city": customer["city"],
                "region": customer["region"],
                "postal_code": customer["postal_code"],
                "country": customer["country"],
                "vat_id": customer["vat_id"],
                "whmcs": {
                    "status": r["status"],
                    "total": str(total),
                    "payment_method": r["paymentmethod"],
                    "mass_payment": any((i["type"] or "").lower() == "invoice" for i in items.get(iid, [])),
                },
            },  # fmt: skip
            "subtotal": subtotal,
            "tax_total": tax + tax2,
            "total": billed,
            "tax_breakdown": [b for b in breakdown if Decimal(b["amount"])],
            "notes": fix_text(r["notes"])[0],
            "amount_paid": money_in,
            "credit_applied": max(credit, ZERO),
            "amount_refunded": money_out,
            "created_at": issued_at,
        }
        if iid not in existing:
            lines_for[iid] = lines
    return mapped, lines_for, numbers


def _write_invoices(mapped: dict, lines_for: dict, services: dict, first: int, last: int):
    """The writer's half of a batch: the invoices (compared before written), then the lines of new ones."""
    result = sync_range(Invoice, mapped, first, last, allowed_update_fields=MUTABLE)
    new_lines = []
    for iid, lines in lines_for.items():
        invoice_id = result.pks[iid]
        for position, line in enumerate(lines):
            service_id = services.get(line.pop("hosting_id", None))
            new_lines.append({"invoice_id": invoice_id, "position": position, "service_id": service_id, **line})
    insert_rows(InvoiceLine, new_lines)
    return result, len(new_lines)


def _invoices_written(report, result, lines: int) -> None:
    table = "tblinvoices"
    _count(report.table(table), result)
    for iid, fields in result.refused.items():
        report.repair(
            table, iid, f"changed in WHMCS after import ({', '.join(fields)}); issued invoice kept as first imported"
        )
    report.table("tblinvoiceitems").imported += lines


def _draft_money(skipped: dict) -> dict:
    # Drafts are excluded on the WHMCS side of the reconciliation as well: nothing to explain.
    return {}


def _lines(report, iid, items, subtotal, tax_total, billed, invoice_row) -> list[dict]:
    """Lines as issued; tax spread over taxed lines by amount (largest line takes the rounding cent)."""
    lines = []
    for item in items:
        description, problem = fix_text(item["description"])
        if problem:
            report.repair("tblinvoiceitems", item["id"], problem)
        amount = money(item["amount"])
        kind = line_kind(item["type"])
        lines.append({
            "kind": kind, "description": (description.splitlines() or [""])[0][:255] or "Item",
            "quantity": Decimal("1"), "unit_amount": amount, "amount": amount,
            "tax_rate": money(invoice_row["taxrate"]) if item["taxed"] else ZERO, "tax_amount": ZERO,
            "tax_name": "Tax" if item["taxed"] else "",
            "hosting_id": item["relid"] if (item["type"] or "").lower() == "hosting" else None,
            "_taxed": bool(item["taxed"]),
        })  # fmt: skip
    line_sum = sum((ln["amount"] for ln in lines), ZERO)
    if not lines:
        report.repair("tblinvoices", iid, "no lines in WHMCS: one line with the subtotal added")
    if line_sum != subtotal or not lines:
        if lines:
            report.repair("tblinvoices", iid, f"lines add up to {line_sum}, subtotal is {subtotal}: adjustment line")
        lines.append(
            _extra_line("Difference to the WHMCS subtotal" if lines else "Invoice subtotal", subtotal - line_sum)
        )
    # Distribute tax over taxed lines (all lines when none is marked taxed).
    taxed = [ln for ln in lines if ln["_taxed"]] or lines
    base = sum((ln["amount"] for ln in taxed), ZERO)
    remaining = tax_total
    for ln in taxed:
        share = (tax_total * ln["amount"] / base).quantize(Decimal("0.01")) if base else ZERO
        ln["tax_amount"] = share
        remaining -= share
    if remaining:
        target = max(taxed, key=lambda ln: abs(ln["amount"]))
        target["tax_amount"] += remaining
    expected = subtotal + tax_total
    if billed != expected:
        report.repair("tblinvoices", iid, f"total {billed} is not subtotal plus tax {expected}: adjustment line")
        lines.append(_extra_line("Difference to the WHMCS total", billed - expected))
    for ln in lines:
        ln.pop("_taxed", None)
    return lines


def _extra_line(description: str, amount: Decimal) -> dict:
    return {
        "kind": "adjustment", "description": description, "quantity": Decimal("1"), "unit_amount": amount,
        "amount": amount, "tax_rate": ZERO, "tax_amount": ZERO, "tax_name": "", "hosting_id": None, "_taxed": False,
    }  # fmt: skip


TRANSACTION_COLUMNS = (
    "id, userid, currency, gateway, CAST(date AS CHAR) AS date, description, amountin, fees, amountout, transid, "
    "invoiceid, refundid"
)


def import_transactions(run: Run) -> None:
    """tblaccounts: a row with amountin is a payment, a row with amountout a refund linked to the
    payment it refunds (refundid). Fees: a payment's fee as is; a refund's (usually negative, the
    fee given back) as its positive opposite on the refund. Gateway transaction ids are kept as
    the gateway's id for Stripe/PayPal (unique there) and as the reference for every gateway."""
    table = "tblaccounts"
    customers = {
        c["whmcs_id"]: c
        for c in Customer.objects.filter(whmcs_id__isnull=False).values("whmcs_id", "pk", "currency_id")
    }
    report = run.report
    # Two batches are written at once. Not yet visible to our queries: the gateway transaction ids they
    # hold, and their payments; a refund of one of those waits until its batch is written.
    writers = 2
    in_flight: deque[tuple[int, int, dict]] = deque(maxlen=writers)  # (first id, last id, holders)
    with BatchWriter(writers=writers) as writer:
        for rows in run.batches(table, TRANSACTION_COLUMNS, since_column="date"):
            holding = {k: v for _, _, held in in_flight for k, v in held.items()}
            payments, refunds, refund_of, holders = _transaction_batch(run, rows, customers, holding)
            if any(first <= original <= last for original in refund_of.values() for first, last, _ in in_flight):
                writer.wait()
            writer.submit(
                _write_transactions, payments, refunds, refund_of, rows[0]["id"], rows[-1]["id"],
                then=lambda results: [_count(report.table(table), result) for result in results],
            )  # fmt: skip
            in_flight.append((rows[0]["id"], rows[-1]["id"], holders))


def _pk_map(model, whmcs_ids) -> dict[int, int]:
    """WHMCS id -> our pk for the given ids (integers, written into the statement: no parameter per id)."""
    ids = sorted({int(i) for i in whmcs_ids if i})
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT whmcs_id, id FROM {model._meta.db_table} WHERE whmcs_id IN ({','.join(map(str, ids))})")  # noqa: S608
        return dict(cursor.fetchall())


def _transaction_batch(run, rows, customers, in_flight: dict):
    """Map one batch: (payments, refunds, refund id -> refunded payment's WHMCS id, the gateway
    transaction ids this batch holds). Ids held by the batch still being written are in `in_flight`."""
    report, table = run.report, "tblaccounts"
    invoices = _pk_map(Invoice, (r["invoiceid"] for r in rows))
    txn_ids = sorted({(r["transid"] or "").strip()[:128] for r in rows if r["transid"]})
    holders = dict(in_flight)  # (gateway, transaction id) -> the WHMCS id of the payment holding it
    if txn_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT gateway, gateway_transaction_id, whmcs_id FROM {Payment._meta.db_table} "  # noqa: S608
                f"WHERE gateway_transaction_id IN ({', '.join(['%s'] * len(txn_ids))})",
                txn_ids,
            )
            holders.update(((g, t), w) for g, t, w in cursor.fetchall())
    batch_holders = {}
    payments, refunds = {}, {}
    for r in rows:
        tid = r["id"]
        customer = customers.get(r["userid"])
        received, problem = parse_datetime(r["date"])
        amount_in, amount_out, fees = money(r["amountin"]), money(r["amountout"]), money(r["fees"])
        currency = customer["currency_id"] if customer else (run.currency_code(r["currency"]) or "unknown")
        year = _year(received)
        explain = {
            ("paid", currency, year): amount_in,
            ("refunded", currency, year): amount_out,
            ("fees", currency, year): fees,
        }
        if customer is None:
            report.skip(
                table, tid, f"client {r['userid']} does not exist (transaction not linked to a client)", money=explain
            )
            continue
        if received is None:
            report.skip(table, tid, f"no usable date ({problem or 'zero date'})", money=explain)
            continue
        if problem:
            report.repair(table, tid, problem)
        is_refund = amount_out > 0 and amount_in == 0
        if amount_in and amount_out:
            report.skip(table, tid, "both money in and out on one row", money=explain)
            continue
        fee = -fees if is_refund else fees
        if fee < 0:
            report.skip(
                table, tid, f"fee {fees} has the wrong sign for a {'refund' if is_refund else 'payment'}", money=explain
            )
            continue
        gateway = gateway_for(r["gateway"])
        transid = (r["transid"] or "").strip()[:128]
        gateway_txn = transid if gateway in ("stripe", "paypal") and transid else None
        if gateway_txn and holders.setdefault((gateway, gateway_txn), tid) != tid:
            report.repair(table, tid, f"gateway transaction id {transid} used twice: kept as the reference only")
            gateway_txn = None
        if gateway_txn:
            batch_holders[(gateway, gateway_txn)] = tid
        invoice = invoices.get(r["invoiceid"]) if r["invoiceid"] else None
        if r["invoiceid"] and invoice is None:
            report.repair(table, tid, f"invoice {r['invoiceid']} was not imported: transaction kept without invoice")
        values = {
            "customer_id": customer["pk"], "invoice_id": invoice, "kind": "refund" if is_refund else "payment",
            "status": "succeeded", "gateway": gateway, "gateway_transaction_id": gateway_txn,
            "amount": amount_out if is_refund else amount_in, "currency_id": customer["currency_id"], "fee": fee,
            "reference": transid, "received_at": received, "created_at": received,
            "raw": {"whmcs_gateway": r["gateway"], "description": fix_text(r["description"])[0][:500]},
        }  # fmt: skip
        (refunds if is_refund else payments)[tid] = values
    refund_of = {tid: r["refundid"] for r in rows if (tid := r["id"]) in refunds}
    return payments, refunds, refund_of, batch_holders


def _write_transactions(payments: dict, refunds: dict, refund_of: dict, first: int, last: int):
    """The writer's half: payments, then refunds linked to them (this batch's or an earlier one's)."""
    paid = sync_range(Payment, payments, first, last)
    originals = _pk_map(Payment, (o for o in refund_of.values() if o not in paid.pks))
    for tid, values in refunds.items():
        original = refund_of[tid]
        values["original_payment_id"] = paid.pks.get(original) or originals.get(original)
    return paid, sync_range(Payment, refunds, first, last)


def import_credit(run: Run) -> None:
    """tblcredit as the credit ledger. Then each client's balance is compared with tblclients.credit
    (WHMCS's running balance, which is what the customer sees): when the ledger disagrees, one
    'WHMCS balance adjustment' entry makes ours equal tblclients.credit (reported)."""
    report, table = run.report, "tblcredit"
    customers = {
        c["whmcs_id"]: c
        for c in Customer.objects.filter(whmcs_id__isnull=False).values("whmcs_id", "pk", "currency_id")
    }
    for rows in run.batches(
        table, "id, clientid, CAST(date AS CHAR) AS date, description, amount, relid", since_column="date"
    ):
        invoices = dict(
            Invoice.objects.filter(whmcs_id__in={r["relid"] for r in rows if r["relid"]}).values_list("whmcs_id", "pk")
        )
        mapped = {}
        for r in rows:
            customer = customers.get(r["clientid"])
            amount = money(r["amount"])
            created, problem = parse_datetime(r["date"])
            currency = customer["currency_id"] if customer else "unknown"
            if customer is None:
                report.skip(
                    table,
                    r["id"],
                    f"client {r['clientid']} does not exist",
                    money={("credit", currency, _year(created)): amount},
                )
                continue
            if amount == 0:
                report.skip(table, r["id"], "zero amount (nothing to record)")
                continue
            if created is None:
                report.skip(
                    table,
                    r["id"],
                    f"no usable date ({problem or 'zero date'})",
                    money={("credit", currency, "none"): amount},
                )
                continue
            mapped[r["id"]] = {
                "customer_id": customer["pk"], "currency_id": customer["currency_id"], "amount": amount,
                "reason": "imported", "description": fix_text(r["description"], 255)[0],
                "invoice_id": invoices.get(r["relid"]) if r["relid"] else None, "created_at": created,
            }  # fmt: skip
        with transaction.atomic():
            _count(report.table(table), sync_rows(CreditEntry, mapped))
    _align_balances(run, customers)


def _align_balances(run: Run, customers: dict) -> None:
    from django.db.models import Sum

    whmcs = {r["id"]: money(r["credit"]) for r in run.source.query("SELECT id, credit FROM tblclients")}
    ours = dict(
        CreditEntry.objects.filter(customer__whmcs_id__isnull=False).values("customer__whmcs_id")
        .annotate(total=Sum("amount")).values_list("customer__whmcs_id", "total")
    )  # fmt: skip
    adjustments = []
    for cid, balance in whmcs.items():
        customer = customers.get(cid)
        if customer is None:
            continue
        difference = balance - (ours.get(cid) or ZERO)
        if difference:
            run.report.repair(
                "tblclients", cid, f"credit {balance} disagrees with its ledger by {difference}: adjustment entry"
            )
            adjustments.append(CreditEntry(
                customer_id=customer["pk"], currency_id=customer["currency_id"], amount=difference, reason="manual",
                description=f"WHMCS balance adjustment (tblclients.credit {balance})",
            ))  # fmt: skip
    CreditEntry.objects.bulk_create(adjustments)
