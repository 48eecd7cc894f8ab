"""manage.py reconcile_payments against recorded, paginated list responses."""

import datetime as dt
import io
from decimal import Decimal

import pytest
import respx
from django.core.cache import cache
from django.core.management import call_command

from core import clock
from core.billing.services.payments import record_payment
from tests.payments.conftest import load, make_invoice

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)


def run(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("reconcile_payments", *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def test_stripe_differences_are_listed_across_pages_and_exit_non_zero(stripe_api):
    a, b, d, e = (make_invoice(amount=Decimal(x)) for x in ("23.80", "50.00", "9.90", "12.00"))
    with clock.frozen_at(NOW - dt.timedelta(days=2)):
        record_payment(
            a, amount=Decimal("23.80"), gateway="stripe", gateway_transaction_id="pi_3Qrecon0000000000000001"
        )
        record_payment(
            b, amount=Decimal("45.00"), gateway="stripe", gateway_transaction_id="pi_3Qrecon0000000000000002"
        )
        record_payment(d, amount=Decimal("9.90"), gateway="stripe", gateway_transaction_id="pi_3Qrecon0000000000000004")
        record_payment(e, amount=Decimal("12.00"), gateway="stripe", gateway_transaction_id="pi_3QonlyOURS000000000005")
    subs = {
        "invoice_a": a.uuid,
        "invoice_b": b.uuid,
        "invoice_c": "c",
        "invoice_d": d.uuid,
        "invoice_number": "x",
        "invoice_uuid": "x",
    }
    route = stripe_api.get("/v1/payment_intents").mock(
        side_effect=[
            respx.MockResponse(200, json=load("stripe/payment_intents_page1.json", **subs)),
            respx.MockResponse(200, json=load("stripe/payment_intents_page2.json", **subs)),
        ]
    )
    with clock.frozen_at(NOW):
        code, out = run("--gateway", "stripe", "--since", "2026-11-01")

    assert code == 1
    assert "starting_after=pi_3Qrecon0000000000000002" in str(route.calls[1].request.url)
    lines = out.strip().splitlines()
    assert "amount_mismatch: pi_3Qrecon0000000000000002 ours=USD 45.00 gateway=USD 50.00" in lines[0]
    assert any(line.startswith("missing_here: pi_3Qrecon0000000000000003") for line in lines)
    assert any(line.startswith("status_mismatch: pi_3Qrecon0000000000000004") for line in lines)
    assert any(line.startswith("missing_at_gateway: pi_3QonlyOURS000000000005") for line in lines)
    assert len(lines) == 4


def test_stripe_in_agreement_exits_zero(stripe_api):
    a = make_invoice()
    with clock.frozen_at(NOW - dt.timedelta(days=2)):
        record_payment(
            a, amount=Decimal("23.80"), gateway="stripe", gateway_transaction_id="pi_3Qrecon0000000000000001"
        )
    page = load(
        "stripe/payment_intents_page1.json", invoice_a=a.uuid, invoice_b="b", invoice_number="x", invoice_uuid="x"
    )
    page.update(has_more=False, data=page["data"][:1])
    stripe_api.get("/v1/payment_intents").respond(200, json=page)
    with clock.frozen_at(NOW):
        code, out = run("--gateway", "stripe", "--since", "2026-11-01")
    assert code == 0 and "No differences" in out


def test_paypal_transaction_search_pages_are_compared():
    cache.clear()
    a = make_invoice()
    with clock.frozen_at(NOW - dt.timedelta(days=2)):
        record_payment(a, amount=Decimal("23.80"), gateway="paypal", gateway_transaction_id="3C679366HH908993F")
    subs = {"invoice_a": a.uuid, "invoice_b": "b", "invoice_c": "c"}
    with respx.mock(base_url="https://api-m.sandbox.paypal.com", assert_all_called=False) as paypal:
        paypal.post("/v1/oauth2/token").respond(200, json=load("paypal/oauth_token.json"))
        search = paypal.get("/v1/reporting/transactions").mock(
            side_effect=[
                respx.MockResponse(200, json=load("paypal/transactions_page1.json", **subs)),
                respx.MockResponse(200, json=load("paypal/transactions_page2.json", **subs)),
            ]
        )
        with clock.frozen_at(NOW):
            code, out = run("--gateway", "paypal", "--since", "2026-11-01")
    assert code == 1
    assert search.calls[1].request.url.params["page"] == "2"
    lines = out.strip().splitlines()
    assert sorted(line.split(":")[0] + ":" + line.split()[1] for line in lines) == [
        "missing_here:7YH00000000000002",
        "missing_here:9XK00000000000001",
    ]
