"""WHMCS vocabularies mapped to ours (statuses, cycles, modules, gateways, line types)."""

from __future__ import annotations

CLIENT_STATUS = {"Active": "active", "Inactive": "active", "Closed": "suspended"}

SERVICE_STATUS = {
    "Pending": "pending",
    "Active": "active",
    "Suspended": "suspended",
    "Terminated": "terminated",
    "Cancelled": "terminated",
    "Fraud": "terminated",
    "Completed": "terminated",
}

# WHMCS invoice status -> ours. Draft invoices are not issued and are not imported.
INVOICE_STATUS = {
    "Paid": "paid",
    "Unpaid": "issued",
    "Payment Pending": "issued",
    "Collections": "issued",
    "Cancelled": "void",
    "Refunded": "paid",
}
OPEN_INVOICE_STATUSES = ("Unpaid", "Payment Pending", "Collections")

# tblpricing columns -> (our cycle, its setup-fee column). Every WHMCS recurring cycle has one here.
PRICE_CYCLES = {
    "monthly": ("monthly", "msetupfee"),
    "quarterly": ("quarterly", "qsetupfee"),
    "semiannually": ("semi_annual", "ssetupfee"),
    "annually": ("annual", "asetupfee"),
    "biennially": ("biennial", "bsetupfee"),
    "triennially": ("triennial", "tsetupfee"),
}

# tblhosting.billingcycle -> our cycle. 'One Time' and 'Free Account' (and anything unknown) do not
# renew: such services get no subscription.
SERVICE_CYCLES = {
    "monthly": "monthly",
    "quarterly": "quarterly",
    "semi-annually": "semi_annual",
    "annually": "annual",
    "biennially": "biennial",
    "triennially": "triennial",
}


def service_cycle(billingcycle: str | None) -> str | None:
    return SERVICE_CYCLES.get((billingcycle or "").strip().lower())


# Server module (tblproducts.servertype) -> (our platform, our service type).
MODULES = {
    "virtfusion": ("virtfusion", "vps"),
    "virtfusiondirect": ("virtfusion", "vps"),
    "pterodactyl": ("pterodactyl", "game_server"),
    "synergycp": ("synergycp", "dedicated"),
    "enhance": ("enhance", "hosting"),
}
PRODUCT_TYPE = {"hostingaccount": "hosting", "reselleraccount": "hosting", "server": "dedicated", "other": "vps"}


def platform_for(module: str | None, product_type: str | None = None) -> tuple[str, str]:
    found = MODULES.get((module or "").strip().lower())
    if found:
        return found
    return "manual", PRODUCT_TYPE.get((product_type or "").lower(), "vps")


GATEWAYS = {
    "stripe": "stripe",
    "stripe_sepa": "stripe",
    "stripe_ach": "stripe",
    "paypal": "paypal",
    "paypalcheckout": "paypal",
    "paypal_ppcpv": "paypal",
    "banktransfer": "manual",
    "mailin": "manual",
    "credit": "credit",
}


def gateway_for(module: str | None) -> str:
    return GATEWAYS.get((module or "").strip().lower(), "whmcs")


LINE_KINDS = {
    "setup": "setup",
    "promohosting": "discount",
    "promodomain": "discount",
    "groupdiscount": "discount",
    "latefee": "adjustment",
    "addfunds": "credit",
    "invoice": "adjustment",  # a line of a mass-payment invoice: another invoice paid through it
}


def line_kind(item_type: str | None) -> str:
    return LINE_KINDS.get((item_type or "").strip().lower(), "item")
