from decimal import Decimal

import pytest
from django.core.management import call_command

from core.billing.models import Invoice, InvoiceLine, NumberSequence
from core.billing.services import invoices
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_invoices():
    customer = CustomerFactory()
    return [
        invoices.issue_invoice(
            invoices.create_draft_invoice(customer, lines=[{"description": "x", "unit_amount": Decimal("10")}]),
            email=False,
        )
        for _ in range(3)
    ]


def _run():
    with pytest.raises(SystemExit) as exc:
        call_command("check_invoices")
    return exc.value.code


def test_clean_books_pass(three_invoices, capsys):
    call_command("check_invoices")
    assert "check out" in capsys.readouterr().out


def test_changed_total_is_found(three_invoices, capsys):
    Invoice.objects.filter(pk=three_invoices[1].pk).update(total=Decimal("1.00"))
    assert _run() == 1
    err = capsys.readouterr().err
    assert "changed after issue" in err and "is not lines" in err


def test_changed_line_is_found(three_invoices, capsys):
    InvoiceLine.objects.filter(invoice=three_invoices[0]).update(description="edited")
    assert _run() == 1
    assert f"Invoice {three_invoices[0].number} changed after issue" in capsys.readouterr().err


def test_gap_and_duplicate_in_series_are_found(three_invoices, capsys):
    Invoice.objects.filter(pk=three_invoices[2].pk).update(number=three_invoices[2].number + "X")
    assert _run() == 1
    err = capsys.readouterr().err
    assert "missing (gap)" in err and "outside the sequence" in err
    NumberSequence.objects.update(last_value=4)
    assert _run() == 1
