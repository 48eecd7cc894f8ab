"""Staff-maintained exchange rates (Catalog › Currencies) and the conversion every converted figure uses."""

from decimal import Decimal

from django.conf import settings

from core.money import quantize

ZERO = Decimal("0")


def exchange_rates() -> dict[str, Decimal]:
    """Units of each currency per one unit of settings.DEFAULT_CURRENCY."""
    from core.catalog.models import Currency

    return dict(Currency.objects.values_list("code", "exchange_rate"))


def convert(amount: Decimal, code: str, rates: dict[str, Decimal]) -> Decimal:
    """One amount as settings.DEFAULT_CURRENCY, unrounded (a missing or zero rate counts as 1)."""
    return Decimal(amount) / (rates.get(code) or Decimal("1"))


def to_reporting_currency(amounts: dict[str, Decimal], rates: dict[str, Decimal] | None = None) -> Decimal:
    """Sum amounts in several currencies as settings.DEFAULT_CURRENCY, at the staff-set rates."""
    rates = exchange_rates() if rates is None else rates
    total = sum((convert(amount, code, rates) for code, amount in amounts.items()), ZERO)
    return quantize(total, settings.DEFAULT_CURRENCY)


def describe_rates(rates: dict[str, Decimal]) -> str:
    """'EUR 0.9200, GBP 0.7900 per 1 USD': the sentence each converted figure on a page carries."""
    base = settings.DEFAULT_CURRENCY
    others = ", ".join(f"{code} {rate.normalize()}" for code, rate in sorted(rates.items()) if code != base)
    return f"Converted to {base} at the staff-set rates ({others} per 1 {base})" if others else f"All in {base}"
