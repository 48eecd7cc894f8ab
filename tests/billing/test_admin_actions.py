from decimal import Decimal

import pytest
from django.urls import reverse

from core.audit.models import AuditLog
from core.billing.models import Invoice, PendingPolicyAction
from core.billing.services import invoices
from tests.factories import CustomerFactory, ServiceFactory

D = Decimal
pytestmark = pytest.mark.django_db


def _url(name, inv):
    return reverse(f"admin:billing_invoice_{name}", args=[inv.pk])


def _submit(client, url, **data):
    """POST an Unfold dialog form as the browser does (its hidden `_form_submitted` field included)."""
    response = client.post(url, {"_form_submitted": "1", **data}, follow=True)
    assert response.status_code == 200
    return response


@pytest.fixture
def draft():
    customer = CustomerFactory(auto_apply_credit=False)
    return invoices.create_draft_invoice(customer, lines=[{"description": "Custom work", "unit_amount": D("80.00")}])


def test_staff_issue_record_partial_payment_and_void_through_actions(staff_client, draft):
    assert staff_client.get(_url("issue_invoice_action", draft)).status_code == 200  # confirmation dialog
    _submit(staff_client, _url("issue_invoice_action", draft))
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.ISSUED and draft.number
    _submit(
        staff_client,
        _url("record_payment_action", draft),
        amount="30.00",
        received_on="2026-01-10",
        reference="WIRE-77",
    )
    draft.refresh_from_db()
    assert draft.amount_paid == D("30.00") and draft.status == Invoice.Status.ISSUED
    _submit(staff_client, _url("void_invoice_action", draft), reason="Customer cancelled")
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.VOID
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"invoice.issue", "payment.record", "invoice.void"} <= actions
    assert AuditLog.objects.filter(action="invoice.issue").first().actor_id is not None


def test_staff_download_pdf(staff_client, draft):
    inv = invoices.issue_invoice(draft, email=False)
    response = staff_client.get(_url("download_pdf_action", inv))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_staff_refund_and_credit_note(staff_client, draft):
    from core.billing.services.payments import record_payment

    inv = invoices.issue_invoice(draft, email=False)
    record_payment(inv, amount=D("80.00"), gateway="manual", gateway_transaction_id="manual:x")
    _submit(staff_client, _url("refund_invoice_action", inv), amount="20.00", reason="partial")
    inv.refresh_from_db()
    assert inv.amount_refunded == D("20.00")
    _submit(staff_client, _url("credit_note_action", inv), amount="20.00", reason="partial refund")
    assert inv.credit_notes.get().total == D("-20.00")


def test_admin_error_is_shown_not_raised(staff_client, draft):
    inv = invoices.issue_invoice(draft, email=False)
    response = _submit(staff_client, _url("apply_credit_action", inv), amount="5.00")
    assert response.status_code == 200
    assert "credit" in response.content.decode().lower()


def test_billing_run_preview_page_changes_nothing(staff_client):
    before = Invoice.objects.count()
    response = staff_client.get(reverse("admin:billing_invoice_billing_run") + "?date=2026-02-01")
    assert response.status_code == 200
    assert b"Renewal invoices" in response.content
    assert Invoice.objects.count() == before


def test_pending_policy_actions_can_be_approved_in_admin(staff_client, provisioning):
    service = ServiceFactory()
    pending = PendingPolicyAction.objects.create(
        service=service, action="suspend", reason="Overdue invoice X", run_date="2026-02-01"
    )
    url = reverse("admin:billing_pendingpolicyaction_changelist")
    assert staff_client.get(url).status_code == 200
    staff_client.post(url, {"action": "approve_selected", "_selected_action": [pending.pk]})
    pending.refresh_from_db()
    assert pending.status == "approved"
    assert ("suspend", service.pk, "Overdue invoice X") in provisioning.calls
