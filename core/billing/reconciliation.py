"""Compare our payments with a gateway's own records and list every difference.

Read-only: it reports, staff decide. A difference is one of: the gateway has a succeeded payment
we never recorded; we recorded a succeeded payment the gateway does not have (or not as succeeded);
both have it but the amounts or currencies differ.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from core.billing.gateways import get_gateway
from core.billing.models import Payment


@dataclass(frozen=True)
class Difference:
    kind: str  # missing_here | missing_at_gateway | amount_mismatch | status_mismatch
    transaction_id: str
    ours: str = ""
    theirs: str = ""
    invoice_uuid: str = ""

    def __str__(self) -> str:
        detail = f" ours={self.ours}" if self.ours else ""
        detail += f" gateway={self.theirs}" if self.theirs else ""
        invoice = f" invoice={self.invoice_uuid}" if self.invoice_uuid else ""
        return f"{self.kind}: {self.transaction_id}{detail}{invoice}"


def reconcile_payments(gateway_name: str, since: dt.datetime, until: dt.datetime | None = None) -> list[Difference]:
    """Every difference between our succeeded payments and `gateway_name`'s transactions in [since, until)."""
    gateway = get_gateway(gateway_name)
    if not hasattr(gateway, "iter_transactions"):
        raise ValueError(f"{gateway_name} cannot list its transactions.")
    theirs = {}
    for row in gateway.iter_transactions(since, until):
        if row.get("is_refund"):
            continue
        theirs[row["transaction_id"]] = row
    ours_qs = Payment.objects.filter(
        gateway=gateway_name, kind=Payment.Kind.PAYMENT, status=Payment.Status.SUCCEEDED, received_at__gte=since
    )
    if until is not None:
        ours_qs = ours_qs.filter(received_at__lt=until)
    ours = {p.gateway_transaction_id: p for p in ours_qs.select_related("invoice") if p.gateway_transaction_id}
    # Our payment may sit just outside the window the gateway was asked about; look it up by id.
    known_elsewhere = set(
        Payment.objects.filter(gateway=gateway_name, gateway_transaction_id__in=list(theirs)).values_list(
            "gateway_transaction_id", "status"
        )
    )
    known_ids = {tid for tid, _ in known_elsewhere}
    differences: list[Difference] = []
    for tid, row in sorted(theirs.items()):
        payment = ours.get(tid)
        if payment is None:
            if row["status"] == "succeeded" and tid not in known_ids:
                differences.append(
                    Difference(
                        "missing_here",
                        tid,
                        theirs=_money(row["amount"], row["currency"]),
                        invoice_uuid=row.get("invoice_uuid", ""),
                    )
                )
            elif row["status"] == "succeeded" and (tid, Payment.Status.SUCCEEDED) not in known_elsewhere:
                differences.append(Difference("status_mismatch", tid, ours="not succeeded", theirs="succeeded"))
            continue
        if row["status"] != "succeeded":
            differences.append(Difference("status_mismatch", tid, ours="succeeded", theirs=row["status"]))
        elif row["amount"] != payment.amount or row["currency"] != payment.currency_id:
            differences.append(
                Difference(
                    "amount_mismatch",
                    tid,
                    ours=_money(payment.amount, payment.currency_id),
                    theirs=_money(row["amount"], row["currency"]),
                    invoice_uuid=str(payment.invoice.uuid) if payment.invoice else "",
                )  # fmt: skip
            )
    for tid, payment in sorted(ours.items()):
        if tid not in theirs:
            differences.append(
                Difference(
                    "missing_at_gateway",
                    tid,
                    ours=_money(payment.amount, payment.currency_id),
                    invoice_uuid=str(payment.invoice.uuid) if payment.invoice else "",
                )  # fmt: skip
            )
    return differences


def _money(amount: Decimal | None, currency: str) -> str:
    return f"{currency} {amount}" if amount is not None else currency
