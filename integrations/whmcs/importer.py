"""import_whmcs: check the source's schema, import table by table, reconcile, report.

Re-runnable: every row keeps its WHMCS id and is compared before it is written, so a rerun
writes only what changed in WHMCS; each batch commits on its own, so an interrupted run is
resumed by running it again (finished batches compare equal and are not written again).
A dry run does the same work inside one transaction that is rolled back at the end: it writes
nothing and its report (including the reconciliation) is what a real run would produce.
"""

from __future__ import annotations

import resource
from collections.abc import Callable

from django.db import transaction

from .reconcile import reconcile
from .report import ImportReport
from .run import Progress, Run
from .schema import compare
from .source import WhmcsSource
from .steps_accounts import import_client_groups, import_clients, import_contacts, import_currencies, load_currencies
from .steps_billing import import_credit, import_invoices, import_transactions
from .steps_catalog import import_pricing, import_products
from .steps_other import (
    import_activity,
    import_coupon_uses,
    import_coupons,
    import_gateway_customers,
    import_orders,
    import_tax,
    import_tickets,
)
from .steps_services import import_services
from .steps_users import import_users

# Steps in dependency order: name (for --only) -> (function, tables it reads).
STEPS: dict[str, tuple[Callable[[Run], None], tuple[str, ...]]] = {
    "currencies": (import_currencies, ("tblcurrencies",)),
    "clientgroups": (import_client_groups, ("tblclientgroups",)),
    "clients": (import_clients, ("tblclients", "tblusers", "tblusers_clients")),
    "contacts": (import_contacts, ("tblcontacts",)),
    "users": (import_users, ("tblusers", "tblusers_clients")),
    "products": (import_products, ("tblproducts", "tblproductgroups", "tblproductconfiggroups", "tblproductconfiglinks",
                                   "tblproductconfigoptions", "tblproductconfigoptionssub")),  # fmt: skip
    "pricing": (import_pricing, ("tblpricing",)),
    "coupons": (import_coupons, ("tblpromotions",)),
    "tax": (import_tax, ("tbltax",)),
    "services": (import_services, ("tblhosting", "tblcancelrequests", "tblhostingaddons", "tbladdons",
                                   "tblhostingconfigoptions")),  # fmt: skip
    "invoices": (import_invoices, ("tblinvoices", "tblinvoiceitems")),
    "transactions": (import_transactions, ("tblaccounts",)),
    "credit": (import_credit, ("tblcredit",)),
    "orders": (import_orders, ("tblorders", "tblhosting", "tblhostingaddons", "tbladdons", "tbldomains")),
    "couponuses": (import_coupon_uses, ("tblpromotions", "tblorders", "tblhosting")),
    "paymethods": (import_gateway_customers, ("tblpaymethods",)),
    "tickets": (import_tickets, ("tbltickets", "tblticketreplies", "tblticketnotes", "tblticketdepartments")),
    "activity": (import_activity, ("tblactivitylog",)),
}
RECONCILE_TABLES = ("tblinvoices", "tblaccounts", "tblcredit", "tblclients", "tblhosting", "tblproducts")


class _Rollback(Exception):
    pass


def import_whmcs(
    source_url: str,
    *,
    dry_run: bool = False,
    only: list[str] | None = None,
    since: str | None = None,
    batch_size: int = 2000,
    progress: Progress | None = None,
    encryption_key: str = "",
    attachments_dir: str | None = None,
) -> ImportReport:
    """Import (or with dry_run, rehearse) a WHMCS database; returns the report with the reconciliation.
    `encryption_key` is WHMCS's cc_encryption_hash: with it, service passwords are imported."""
    unknown = sorted(set(only or []) - set(STEPS))
    if unknown:
        raise ValueError(f"Unknown --only step(s): {', '.join(unknown)}. Known: {', '.join(STEPS)}")
    report = ImportReport(dry_run=dry_run)
    source = WhmcsSource(source_url)
    try:
        steps = [name for name in STEPS if not only or name in only]
        tables = sorted({t for name in steps for t in STEPS[name][1]} | set(RECONCILE_TABLES) | {"tblcurrencies"})
        report.schema_differences = compare(source.columns(), tables)
        if report.schema_differences:
            return report
        run = Run(source=source, report=report, since=since, batch_size=batch_size, progress=progress,
                  encryption_key=encryption_key,
                  attachments_dir=attachments_dir)  # fmt: skip
        if dry_run:
            try:
                with transaction.atomic():
                    _run_steps(run, steps)
                    raise _Rollback
            except _Rollback:
                pass
        else:
            _run_steps(run, steps)
    finally:
        source.close()
    report.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def _run_steps(run: Run, steps: list[str]) -> None:
    if "currencies" not in steps:
        load_currencies(run)
    for name in steps:
        STEPS[name][0](run)
    reconcile(run)
