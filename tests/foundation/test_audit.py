"""Audit entries carry who acted, from which address and with which client, taken from the request."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import RequestFactory

from core.audit.middleware import AuditContextMiddleware
from core.audit.models import AuditLog
from core.audit.services import record
from tests.factories import CustomerFactory, StaffUserFactory

pytestmark = pytest.mark.django_db


def _through_middleware(request, action, obj):
    def view(req):
        record(action, obj, message="from a view")
        return HttpResponse("ok")

    return AuditContextMiddleware(view)(request)


def test_record_captures_actor_ip_and_user_agent_from_the_request():
    staff = StaffUserFactory()
    customer = CustomerFactory()
    request = RequestFactory().post(
        "/admin/accounts/customer/1/change/", REMOTE_ADDR="198.51.100.23", HTTP_USER_AGENT="Mozilla/5.0 (X11) Firefox"
    )
    request.user = staff
    request.session = {}
    _through_middleware(request, "customer.note", customer)

    entry = AuditLog.objects.get(action="customer.note")
    assert entry.actor == staff
    assert entry.ip_address == "198.51.100.23"
    assert entry.user_agent == "Mozilla/5.0 (X11) Firefox"
    assert entry.source == "admin"
    assert (entry.object_type, entry.object_id) == ("accounts.customer", str(customer.pk))


def test_record_from_the_api_is_marked_api_and_anonymous_has_no_actor():
    request = RequestFactory().get("/api/v1/invoices", REMOTE_ADDR="203.0.113.9")
    request.user = AnonymousUser()
    request.session = {}
    _through_middleware(request, "api.probe", None)
    entry = AuditLog.objects.get(action="api.probe")
    assert entry.actor is None and entry.source == "api" and entry.ip_address == "203.0.113.9"


def test_impersonation_records_the_impersonator():
    staff = StaffUserFactory()
    customer = CustomerFactory()
    request = RequestFactory().post("/services/", REMOTE_ADDR="192.0.2.5")
    request.user = customer.user
    request.user.is_hijacked = True
    request.session = {"hijack_history": [str(staff.pk)]}
    _through_middleware(request, "service.power", customer)
    entry = AuditLog.objects.get(action="service.power")
    assert entry.actor == customer.user
    assert entry.impersonator == staff
    assert entry.source == "portal"


def test_record_outside_a_request_is_a_system_entry_and_context_does_not_leak():
    staff = StaffUserFactory()
    request = RequestFactory().get("/admin/", REMOTE_ADDR="198.51.100.1")
    request.user = staff
    request.session = {}
    _through_middleware(request, "inside", None)
    entry = record("billing.run", message="daily run")
    assert entry.actor is None and entry.ip_address is None and entry.source == "system"


def test_explicit_actor_wins_over_the_request_user():
    staff, other = StaffUserFactory(), StaffUserFactory()
    request = RequestFactory().get("/admin/", REMOTE_ADDR="198.51.100.1")
    request.user = staff

    def view(req):
        record("refund.approve", actor=other)
        return HttpResponse("ok")

    request.session = {}
    AuditContextMiddleware(view)(request)
    assert AuditLog.objects.get(action="refund.approve").actor == other
