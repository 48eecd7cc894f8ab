"""Row locks on the pay -> fulfil -> provision path take only the row they protect.

MariaDB has no `FOR UPDATE OF`: a locking SELECT with joins locks every joined row, so a
select_related on a shared row (coupon, product, customer) serialises unrelated work and, taken
in a different order than apply_credit (customer, then invoice), deadlocks. SQLite ignores
select_for_update, hence MariaDB only.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import clock
from core.billing.services.dunning import charge_invoice
from core.billing.services.orders import place_order
from core.billing.services.subscriptions import cancel_subscription_now
from core.provisioning.models import Service

from .test_order_to_service import START, buy_vps


def locking_selects(queries) -> list[str]:
    return [q["sql"] for q in queries if "FOR UPDATE" in q["sql"].upper()]


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_paying_fulfilling_and_provisioning_lock_no_joined_rows(buyer, vps_price, django_capture_on_commit_callbacks):
    with clock.frozen_at(START):
        order = place_order(buyer, [{"price": vps_price, "hostname": "web1.example.net"}])
        with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
            charge_invoice(order.invoice)

    assert Service.objects.get(subscription__customer=buyer).status == Service.Status.ACTIVE
    locks = locking_selects(captured.captured_queries)
    assert locks, "expected row locks on this path"
    joined = [sql for sql in locks if " JOIN " in sql.upper()]
    assert joined == [], joined


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_staff_cancel_locks_only_the_subscription(
    buyer,
    vps_price,
    staff_user,
    django_capture_on_commit_callbacks,
):
    with clock.frozen_at(START):
        buy_vps(buyer, vps_price, django_capture_on_commit_callbacks)
    subscription = Service.objects.get(subscription__customer=buyer).subscription

    with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
        cancel_subscription_now(subscription, actor=staff_user, reason="test")

    joined = [sql for sql in locking_selects(captured.captured_queries) if " JOIN " in sql.upper()]
    assert joined == [], joined
