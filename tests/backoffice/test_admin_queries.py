"""List pages make a constant number of queries: 12 rows cost what 2 rows cost."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.audit.models import AuditLog
from tests.backoffice.conftest import make_customer_world
from tests.factories import CustomerFactory

LIST_PAGES = [
    "accounts_customer",
    "billing_invoice",
    "billing_payment",
    "billing_subscription",
    "provisioning_service",
    "billing_order",
    "provisioning_provisioningjob",
    "audit_auditlog",
]


def _rows(n: int, staff_user):
    for i in range(n):
        make_customer_world(CustomerFactory(), index=i)
        AuditLog.objects.create(action="service.suspend", actor=staff_user, impersonator=staff_user, object_repr="x")


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("page", LIST_PAGES)
def test_list_page_query_count_does_not_grow_with_rows(staff_client, staff_user, page):
    url = reverse(f"admin:{page}_changelist")
    _rows(2, staff_user)
    staff_client.get(url)  # warm per-process caches (content types, currency exponents)
    with_two = _count(staff_client, url)
    _rows(10, staff_user)
    with_twelve = _count(staff_client, url)
    assert with_twelve == with_two, f"{page}: {with_two} queries with 2 rows, {with_twelve} with 12"
