"""Money: Decimal amounts, quantised with the currency's exponent, rounded half-up.

Every amount in billing passes through here. No float, no round().
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 exponents that are not 2; the Currency table can override any of them.
ISO_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0, "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip

ZERO = Decimal("0")


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    """Minor-unit digits of a currency (JPY 0, USD 2, KWD 3)."""
    from django.apps import apps

    code = currency.upper()
    if apps.ready:
        from core.catalog.models import Currency

        found = Currency.exponent_for(code)
        if found is not None:
            return found
    return ISO_EXPONENTS.get(code, 2)


def to_decimal(value) -> Decimal:
    if isinstance(value, float):
        raise MoneyError("Amounts must not be floats; pass a Decimal or a string.")
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, TypeError) as exc:
        raise MoneyError(f"Not an amount: {value!r}") from exc


def quantize(value, currency: str) -> Decimal:
    """Round an amount to the currency's minor unit, half-up."""
    places = exponent(currency)
    return to_decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def to_minor_units(value, currency: str) -> int:
    """Decimal amount -> integer minor units (USD 12.34 -> 1234, JPY 500 -> 500, KWD 1.234 -> 1234)."""
    amount = quantize(value, currency)
    return int(amount.scaleb(exponent(currency)))


def from_minor_units(units: int, currency: str) -> Decimal:
    return quantize(Decimal(int(units)).scaleb(-exponent(currency)), currency)


def format_amount(value, currency: str) -> str:
    """A human string such as `USD 1,234.50` (locale-neutral; PDFs may use the symbol)."""
    amount = quantize(value, currency)
    places = exponent(currency)
    sign = "-" if amount < 0 else ""
    return f"{sign}{currency.upper()} {abs(amount):,.{places}f}"
