"""Collection: closed windows only, idempotent by window, gaps back-filled, late flows re-read,
addresses attributed by validity interval, suspect windows and flow-store failures write nothing."""

import datetime as dt

import pytest

from core import clock
from core.notifications.models import Notification
from core.usage import services
from core.usage.addresses import AddressResolver, sync_service_addresses
from core.usage.models import BandwidthPeriod, BandwidthUsage, CollectionWindow, HourlyUsage, ServiceAddress
from core.usage.sources import FlowSourceError

from .conftest import T0, ScriptedSource, make_service

pytestmark = pytest.mark.django_db
GB = 10**9
H = dt.timedelta(hours=1)


def test_only_closed_windows_are_collected(usage_settings):
    with clock.frozen_at(T0 + dt.timedelta(hours=5, minutes=5)):
        # 05:05 with a 10-minute settle delay: the 04:00 hour is not closed yet, 03:00 is the newest.
        assert services.last_closed_window() == T0 + 3 * H
        assert services.windows_to_collect() == [T0 + H, T0 + 2 * H, T0 + 3 * H]
    with clock.frozen_at(T0 + dt.timedelta(hours=5, minutes=10)):
        assert services.last_closed_window() == T0 + 4 * H


def test_collect_window_writes_ledger_with_provenance(usage_settings):
    service = make_service("203.0.113.10")
    source = ScriptedSource({"203.0.113.10": (5 * GB, 7 * GB)})
    with clock.frozen_at(T0 + 3 * H):
        window = services.collect_window(T0 + H, source=source)
    row = HourlyUsage.objects.get(service=service)
    assert (row.bytes_in, row.bytes_out, row.doc_count) == (5 * GB, 7 * GB, 10)
    assert row.window_start == T0 + H
    assert row.index_pattern == "elastiflow-flow-codex-*" and row.query_hash == "h0101"
    assert row.collected_at == T0 + 3 * H
    assert window.status == CollectionWindow.Status.OK and window.total_bytes == 12 * GB


def test_rerunning_a_window_replaces_never_adds(usage_settings):
    service = make_service("203.0.113.10")
    source = ScriptedSource({"203.0.113.10": (GB, 2 * GB)})
    with clock.frozen_at(T0 + 3 * H):
        services.collect_window(T0 + H, source=source)
        services.collect_window(T0 + H, source=source)
        services.refresh_totals({T0.date()})
        services.refresh_totals({T0.date()})
    assert HourlyUsage.objects.filter(service=service).count() == 1
    day = BandwidthUsage.objects.get(service=service, day=T0.date())
    assert (day.bytes_in, day.bytes_out) == (GB, 2 * GB)
    period = BandwidthPeriod.objects.get(service=service)
    assert (period.bytes_in, period.bytes_out, period.counted_bytes) == (GB, 2 * GB, 2 * GB)
    assert CollectionWindow.objects.get(start=T0 + H).attempts == 2


def test_late_flows_are_picked_up_by_the_reread(usage_settings):
    service = make_service("203.0.113.10")
    late = {"extra": 0}
    source = ScriptedSource(lambda start, ip: (GB + late["extra"] if start == T0 + 2 * H else GB, 0))
    with clock.frozen_at(T0 + 3 * H + dt.timedelta(minutes=15)):
        services.collect_bandwidth(source=source)
    assert HourlyUsage.objects.get(service=service, window_start=T0 + 2 * H).bytes_in == GB
    late["extra"] = GB // 2  # flows of 02:00 exported at the active timeout, after we read it
    with clock.frozen_at(T0 + 4 * H + dt.timedelta(minutes=15)):
        run = services.collect_bandwidth(source=source)
    assert T0 + 2 * H in run.windows  # REREAD_WINDOWS=2 reads 02:00 and 03:00 again
    assert HourlyUsage.objects.get(service=service, window_start=T0 + 2 * H).bytes_in == GB + GB // 2
    assert HourlyUsage.objects.filter(service=service).count() == 4  # 00..03, once each
    assert BandwidthUsage.objects.get(service=service).bytes_in == 4 * GB + GB // 2


def test_gap_is_backfilled_on_the_next_run(usage_settings):
    usage_settings.USAGE["MAX_WINDOWS_PER_RUN"] = 100
    service = make_service("203.0.113.10")
    source = ScriptedSource({"203.0.113.10": (GB, GB)})
    with clock.frozen_at(T0 + 3 * H + dt.timedelta(minutes=15)):
        services.collect_bandwidth(source=source)
    # The collector was down for a day.
    with clock.frozen_at(T0 + 27 * H + dt.timedelta(minutes=15)):
        run = services.collect_bandwidth(source=source)
    assert run.windows[0] == T0 + 3 * H and run.windows[-1] == T0 + 26 * H
    assert set(HourlyUsage.objects.filter(service=service).values_list("window_start", flat=True)) == {
        T0 + n * H for n in range(27)
    }
    assert BandwidthUsage.objects.get(service=service, day=T0.date()).bytes_in == 24 * GB


def test_ip_reassigned_mid_period_bills_each_service_for_its_own_days(usage_settings):
    first = make_service("203.0.113.10")
    moved_at = T0 + dt.timedelta(days=10)
    with clock.frozen_at(moved_at):
        second = make_service("198.51.100.1", at=moved_at)
        second.primary_ip = "203.0.113.10"
        second.save()  # the platform gave the address to another customer's server
    first_rows = ServiceAddress.objects.filter(service=first, network="203.0.113.10")
    assert first_rows.get().valid_to == moved_at
    source = ScriptedSource({"203.0.113.10": (GB, 3 * GB), "198.51.100.1": None})
    with clock.frozen_at(T0 + dt.timedelta(days=12)):
        for start in (moved_at - 2 * H, moved_at - H, moved_at, moved_at + H):
            services.collect_window(start, source=source)
        services.refresh_totals({(moved_at - H).date(), moved_at.date()})
    assert list(HourlyUsage.objects.filter(service=first).values_list("window_start", flat=True).order_by("window_start")) == [
        moved_at - 2 * H, moved_at - H,
    ]  # fmt: skip
    assert HourlyUsage.objects.filter(service=second).count() == 2
    assert BandwidthPeriod.objects.get(service=first).bytes_out == 6 * GB
    assert BandwidthPeriod.objects.get(service=second).bytes_out == 6 * GB


def test_routed_prefix_traffic_goes_to_the_service_holding_the_prefix(usage_settings):
    service = make_service("203.0.113.10")
    with clock.frozen_at(T0):
        service.ip_addresses = ["2001:db8:0:1::/64"]
        service.save()
    resolver = AddressResolver({"203.0.113.10": 1, "2001:db8:0:1::/64": 2, "2001:db8::/32": 3})
    assert resolver.service_for("2001:db8:0:1::5") == 2
    assert resolver.service_for("2001:db8:ff::1") == 3
    assert resolver.service_for("203.0.113.11") is None
    source = ScriptedSource()
    source.traffic = lambda start, ip: (GB, GB)
    with clock.frozen_at(T0 + 3 * H):
        services.collect_window(T0 + H, source=source)
    assert source.calls[0][1] == ("2001:db8:0:1::/64", "203.0.113.10")
    assert HourlyUsage.objects.get(service=service).bytes_in == 2 * GB


def test_own_prefixes_are_passed_to_the_source_for_exclusion(usage_settings):
    usage_settings.USAGE = {**usage_settings.USAGE, "OWN_PREFIXES": ["203.0.113.0/24", "2001:db8::/32"]}
    make_service("203.0.113.10")
    source = ScriptedSource({"203.0.113.10": (GB, GB)})
    with clock.frozen_at(T0 + 3 * H):
        services.collect_window(T0 + H, source=source)
    assert source.calls[0][2] == ("203.0.113.0/24", "2001:db8::/32")
    usage_settings.USAGE = {**usage_settings.USAGE, "EXCLUDE_OWN_TRAFFIC": False}
    with clock.frozen_at(T0 + 3 * H):
        services.collect_window(T0 + H, source=source)
    assert source.calls[1][2] == ()


def test_zero_total_window_is_suspect_alerted_and_not_billed(usage_settings, discord):
    service = make_service("203.0.113.10")
    with clock.frozen_at(T0 + 3 * H):
        services.collect_window(T0 + H, source=ScriptedSource({"203.0.113.10": (GB, GB)}))
        window = services.collect_window(T0 + H, source=ScriptedSource({"203.0.113.10": (0, 0)}))
    assert window.status == CollectionWindow.Status.SUSPECT
    assert "No traffic" in window.error
    # The earlier good numbers stay; zero is not billed.
    assert HourlyUsage.objects.get(service=service).bytes_in == GB
    alert = Notification.objects.get(channel="discord", dedupe_key=f"usage-suspect:{(T0 + H).isoformat()}")
    assert "not billed" in alert.subject
    # A suspect window is retried on the next run.
    with clock.frozen_at(T0 + 3 * H):
        assert T0 + H in services.windows_to_collect()


def test_sharply_lower_total_is_suspect(usage_settings, discord):
    make_service("203.0.113.10")
    source = ScriptedSource(lambda start, ip: (GB, GB) if start < T0 + 5 * H else (GB // 100, 0))
    with clock.frozen_at(T0 + 8 * H):
        for n in range(6):
            services.collect_window(T0 + n * H, source=source)
    assert CollectionWindow.objects.get(start=T0 + 4 * H).status == "ok"
    assert CollectionWindow.objects.get(start=T0 + 5 * H).status == "suspect"
    assert not HourlyUsage.objects.filter(window_start=T0 + 5 * H).exists()


def test_staff_can_accept_a_low_window_after_checking(usage_settings, discord, staff_user):
    service = make_service("203.0.113.10")
    with clock.frozen_at(T0 + 3 * H):
        services.collect_window(T0 + H, source=ScriptedSource({"203.0.113.10": (0, 0)}))
        import core.usage.services as module

        original = module.get_flow_source
        module.get_flow_source = lambda: ScriptedSource({"203.0.113.10": (0, 0)})
        try:
            window = services.rerun_window(T0 + H, actor=staff_user, accept_low=True)
        finally:
            module.get_flow_source = original
    assert window.status == "ok"
    assert HourlyUsage.objects.filter(service=service).count() == 1
    from core.audit.models import AuditLog

    assert AuditLog.objects.filter(action="usage.window_rerun", actor=staff_user).exists()


def test_flow_store_failure_writes_nothing_and_alerts(usage_settings, discord, caplog):
    make_service("203.0.113.10")
    source = ScriptedSource(fail="Connection refused")
    with clock.frozen_at(T0 + 3 * H + dt.timedelta(minutes=15)):
        run = services.collect_bandwidth(source=source)
    assert run.failed == 1 and run.collected == 0
    assert "Connection refused" in run.error
    assert len(source.calls) == 1  # stops at the first failing window
    assert not HourlyUsage.objects.exists() and not BandwidthUsage.objects.exists()
    window = CollectionWindow.objects.get()
    assert window.status == "failed" and "unreachable" in window.error
    assert Notification.objects.filter(channel="discord", subject="Bandwidth collection failed").count() == 1
    assert "Bandwidth collection stopped" in caplog.text


def test_failed_reread_keeps_the_good_numbers(usage_settings):
    service = make_service("203.0.113.10")
    with clock.frozen_at(T0 + 3 * H):
        services.collect_window(T0 + H, source=ScriptedSource({"203.0.113.10": (GB, GB)}))
        with pytest.raises(FlowSourceError):
            services.collect_window(T0 + H, source=ScriptedSource(fail="timeout"))
    window = CollectionWindow.objects.get()
    assert window.status == "ok" and "timeout" in window.error
    assert HourlyUsage.objects.get(service=service).bytes_in == GB


def test_window_not_closed_is_refused(usage_settings):
    with clock.frozen_at(T0 + 3 * H + dt.timedelta(minutes=5)), pytest.raises(FlowSourceError, match="not closed"):
        services.collect_window(T0 + 2 * H, source=ScriptedSource())


def test_terminated_service_releases_its_addresses():
    service = make_service("203.0.113.10")
    with clock.frozen_at(T0 + dt.timedelta(days=3)):
        service.status = "terminated"
        service.save()
    assert ServiceAddress.objects.get(service=service).valid_to == T0 + dt.timedelta(days=3)
    with clock.frozen_at(T0 + dt.timedelta(days=4)):
        assert sync_service_addresses(service) is False
