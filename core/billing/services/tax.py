"""Tax on invoice lines, behind a small calculator interface.

`get_tax_calculator()` returns the calculator named by settings.BILLING["TAX_CALCULATOR"]
(default: the rate table kept by staff). An external tax service can be plugged in later by
writing another class with the same `calculate` method.

Rules of the rate table:
- tax-exempt customers pay no tax;
- EU B2B reverse charge: the seller is in the EU, the customer is in another EU state and
  has a VAT id of valid format (python-stdnum) -> no tax, with the legal note on the invoice;
- otherwise the rate of the customer's billing country (region-specific rate first).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from core.billing.models import TaxRate
from core.billing.services import amounts

ZERO = Decimal("0")
HUNDRED = Decimal("100")

EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive 2006/112/EC)."
)
EXEMPT_NOTE = "Tax exempt customer."


@dataclass(frozen=True)
class TaxableLine:
    amount: Decimal  # net, quantised to the currency; negative for discounts


@dataclass(frozen=True)
class LineTax:
    rate: Decimal
    name: str
    amount: Decimal


@dataclass
class TaxResult:
    lines: list[LineTax]
    reverse_charge: bool = False
    note: str = ""
    breakdown: list[dict] = field(default_factory=list)  # [{"name", "rate", "base", "tax"}] as strings

    @property
    def total(self) -> Decimal:
        return sum((t.amount for t in self.lines), ZERO)


class TaxCalculator(Protocol):
    def calculate(self, details: dict, lines: list[TaxableLine], currency: str) -> TaxResult:
        """Tax for `lines` billed to `details` (Customer.billing_address() plus `is_tax_exempt`)."""


def vat_id_is_valid(vat_id: str) -> bool:
    from stdnum.eu import vat

    return bool(vat_id) and vat.is_valid(vat_id)


def vat_id_country(vat_id: str) -> str:
    code = vat_id.strip().upper()[:2]
    return "GR" if code == "EL" else code


def build_breakdown(lines: list[TaxableLine], taxes: list[LineTax]) -> list[dict]:
    groups: OrderedDict[tuple, list[Decimal]] = OrderedDict()
    for line, tax in zip(lines, taxes, strict=True):
        key = (tax.name, tax.rate)
        base, amount = groups.get(key, [ZERO, ZERO])
        groups[key] = [base + line.amount, amount + tax.amount]
    return [
        {"name": name, "rate": str(rate), "base": str(base), "tax": str(amount)}
        for (name, rate), (base, amount) in groups.items()
    ]


class RateTableTaxCalculator:
    """Rates from the TaxRate table, loaded once per calculator (the billing run reuses one instance)."""

    def __init__(self):
        self._rates: dict[tuple[str, str], TaxRate] | None = None

    def rates(self) -> dict[tuple[str, str], TaxRate]:
        if self._rates is None:
            self._rates = {
                (r.country.upper(), r.region.strip().lower()): r for r in TaxRate.objects.filter(is_active=True)
            }
        return self._rates

    def rate_for(self, country: str, region: str) -> TaxRate | None:
        rates = self.rates()
        country = (country or "").upper()
        return rates.get((country, (region or "").strip().lower())) or rates.get((country, ""))

    def cache_key(self, details: dict) -> tuple:
        """Everything of `details` that `calculate` reads: equal keys and equal lines give equal results."""
        return (
            bool(details.get("is_tax_exempt")),
            (details.get("country") or "").upper(),
            (details.get("region") or "").strip().lower(),
            details.get("vat_id") or "",
        )

    def calculate(self, details: dict, lines: list[TaxableLine], currency: str) -> TaxResult:
        none = [LineTax(ZERO, "", ZERO) for _ in lines]
        if details.get("is_tax_exempt"):
            return TaxResult(lines=none, note=EXEMPT_NOTE, breakdown=[])
        country = (details.get("country") or "").upper()
        seller_country = (settings.COMPANY.get("country") or "").upper()
        vat_id = details.get("vat_id") or ""
        if (
            seller_country in EU_COUNTRIES
            and country in EU_COUNTRIES
            and country != seller_country
            and vat_id_is_valid(vat_id)
            and vat_id_country(vat_id) == country
        ):
            return TaxResult(lines=none, reverse_charge=True, note=REVERSE_CHARGE_NOTE, breakdown=[])
        rate = self.rate_for(country, details.get("region", ""))
        if rate is None or rate.rate == 0:
            return TaxResult(lines=none, breakdown=[])
        taxes = [
            LineTax(rate.rate, rate.name, amounts.quantize(ln.amount * rate.rate / HUNDRED, currency)) for ln in lines
        ]
        return TaxResult(lines=taxes, breakdown=build_breakdown(lines, taxes))


DEFAULT_CALCULATOR = "core.billing.services.tax.RateTableTaxCalculator"


def get_tax_calculator() -> TaxCalculator:
    return import_string(settings.BILLING.get("TAX_CALCULATOR", DEFAULT_CALCULATOR))()


def tax_cache_key(calculator: TaxCalculator, details: dict) -> tuple | None:
    """A key under which `calculator`'s result for `details` may be reused within one run, or None.

    Only calculators that say what they read (a `cache_key(details)` method) are cached: an
    external service may look at any part of the address (US sales tax depends on the postal code).
    """
    key_of = getattr(calculator, "cache_key", None)
    return None if key_of is None else key_of(details)


def customer_tax_details(customer) -> dict:
    return {**customer.billing_address(), "is_tax_exempt": customer.is_tax_exempt}
