"""Staff pages: a service's bandwidth (charts, ledger, re-run one window), the overview (top
consumers, near quota), waive/adjust of a pending charge, re-run of a collection window."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from core import clock
from core.audit.models import AuditLog
from core.usage import services
from core.usage.models import BandwidthPeriod, CollectionWindow, HourlyUsage

from .conftest import T0, ScriptedSource, make_service

pytestmark = pytest.mark.django_db
GB = 10**9
H = dt.timedelta(hours=1)


@pytest.fixture
def sandbox_source(settings):
    settings.FLOW_SOURCE_CLASS = "core.usage.sandbox.SandboxFlowSource"


def test_service_bandwidth_page_shows_usage_charts_and_ledger(staff_client, usage_settings):
    service = make_service("203.0.113.10", quota_gb=100)
    with clock.frozen_at(T0 + dt.timedelta(days=1, hours=5)):
        for n in range(3):
            services.collect_window(T0 + n * H, source=ScriptedSource({"203.0.113.10": (GB, 30 * GB)}))
        services.refresh_totals({T0.date()})
        response = staff_client.get(
            reverse("admin:usage_bandwidthperiod_service", args=[service.pk]) + "?day=2026-11-01"
        )
    assert response.status_code == 200
    page = response.content.decode()
    assert "90.00 GB of 100.00 GB" in page
    assert "Hourly ledger" in page and "2026-11-01 02:00" in page and "elastiflow-flow-codex-*" in page
    assert '"label": "Out (GB)"' in page.replace("&quot;", '"') or "Out (GB)" in page
    assert "Re-run window" in page


def test_staff_reruns_one_window_from_the_service_page(staff_client, usage_settings, sandbox_source):
    service = make_service("203.0.113.10")
    with clock.frozen_at(T0 + dt.timedelta(hours=5)):
        url = reverse("admin:usage_bandwidthperiod_service", args=[service.pk])
        response = staff_client.post(url, {"window": "2026-11-01 02:00"})
    assert response.status_code == 302
    row = HourlyUsage.objects.get(service=service)
    assert row.window_start == T0 + 2 * H and row.index_pattern == "sandbox-flows"
    assert AuditLog.objects.filter(action="usage.window_rerun").exists()


def test_overview_lists_top_consumers_and_services_near_quota(staff_client, usage_settings):
    heavy = make_service("203.0.113.10", quota_gb=100)
    light = make_service("203.0.113.11", quota_gb=100)
    with clock.frozen_at(T0 + dt.timedelta(hours=5)):
        services.collect_window(T0, source=ScriptedSource({"203.0.113.10": (0, 80 * GB), "203.0.113.11": (0, GB)}))
        services.refresh_totals({T0.date()})
        response = staff_client.get(reverse("admin:usage_bandwidthperiod_overview"))
    page = response.content.decode()
    assert response.status_code == 200
    near = page.split("Near quota")[1]
    assert str(heavy) in near and str(light) not in near
    assert page.index(str(heavy)) < page.index(str(light))


def test_waive_from_the_admin_is_audited(staff_client, staff_user, usage_settings):
    from core.usage import overage

    service = make_service("203.0.113.10", quota_gb=100)
    period = BandwidthPeriod.objects.create(
        service=service, period_start=T0.date(), period_end=T0.date() + dt.timedelta(days=30),
        counted_bytes=120 * GB, quota_bytes=100 * GB,
    )  # fmt: skip
    with clock.frozen_at(T0 + dt.timedelta(days=30, hours=6)):
        overage.close_due_periods()
    url = reverse("admin:usage_bandwidthperiod_waive_overage_action", args=[period.pk])
    response = staff_client.post(url, {"reason": "Outage credit", "_form_submitted": "1"}, HTTP_HX_REQUEST="true")
    assert response.headers["HX-Redirect"] == reverse("admin:usage_bandwidthperiod_change", args=[period.pk])
    period.refresh_from_db()
    assert period.overage_amount == Decimal("0.00") and period.adjustment_reason == "Outage credit"
    assert AuditLog.objects.get(action="usage.overage_waived").actor == staff_user


def test_collection_window_rerun_action(staff_client, usage_settings, sandbox_source):
    make_service("203.0.113.10")
    window = CollectionWindow.objects.create(start=T0 + H, status="failed", error="[unreachable] down")
    with clock.frozen_at(T0 + dt.timedelta(hours=5)):
        response = staff_client.get(reverse("admin:usage_collectionwindow_rerun_detail_action", args=[window.pk]))
    assert response.status_code == 302
    window.refresh_from_db()
    assert window.status == "ok" and HourlyUsage.objects.filter(window_start=T0 + H).count() == 1


def test_staff_adds_an_address_interval_that_platform_syncs_leave_alone(staff_client, usage_settings):
    from core.usage.addresses import sync_service_addresses
    from core.usage.models import ServiceAddress

    service = make_service("203.0.113.10")
    response = staff_client.post(
        reverse("admin:usage_serviceaddress_add"),
        {"service": service.pk, "network": "198.51.100.0/28", "valid_from_0": "2026-11-02", "valid_from_1": "00:00:00"},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    row = ServiceAddress.objects.get(network="198.51.100.0/28")
    assert row.source == "staff" and row.valid_to is None
    with clock.frozen_at(T0 + dt.timedelta(days=3)):
        sync_service_addresses(service)
    row.refresh_from_db()
    assert row.valid_to is None
    bad = staff_client.post(
        reverse("admin:usage_serviceaddress_add"),
        {"service": service.pk, "network": "198.51.100.1/28", "valid_from_0": "2026-11-02", "valid_from_1": "00:00:00"},
    )
    assert bad.status_code == 200 and "host bits" in bad.content.decode()
