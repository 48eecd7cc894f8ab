"""Shared pieces of the billing models: the money column, the zero it defaults to, payment gateways."""

from decimal import Decimal

from django.db import models

ZERO = Decimal("0")


def money_field(**kwargs):
    kwargs.setdefault("max_digits", 14)
    kwargs.setdefault("decimal_places", 2)
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(**kwargs)


class Gateway(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    PAYPAL = "paypal", "PayPal"
    MANUAL = "manual", "Bank transfer / manual"
    SANDBOX = "sandbox", "Sandbox"
    CREDIT = "credit", "Account credit"
    WHMCS = "whmcs", "Imported from WHMCS"
