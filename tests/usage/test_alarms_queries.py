"""Platform counters against the ledger, period_usage for the portal/API, schedules, sandbox source."""

import datetime as dt

import pytest

from core import clock
from core.notifications.models import Notification
from core.provisioning.drivers import ResourceUsage
from core.usage import alarms, services
from core.usage.models import BandwidthPeriod
from core.usage.queries import format_bytes, period_usage
from core.usage.sandbox import SandboxFlowSource

from .conftest import T0, ScriptedSource, make_service

pytestmark = pytest.mark.django_db
GB = 10**9
H = dt.timedelta(hours=1)


def _period(service, bytes_in, bytes_out):
    return BandwidthPeriod.objects.create(
        service=service, period_start=T0.date(), period_end=T0.date() + dt.timedelta(days=30),
        bytes_in=bytes_in, bytes_out=bytes_out, counted_bytes=max(bytes_in, bytes_out),
    )  # fmt: skip


def test_divergence_beyond_share_alerts_with_both_figures(discord, usage_settings):
    service = make_service("203.0.113.10")
    period = _period(service, 10 * GB, 40 * GB)  # ledger 50 GB
    with clock.frozen_at(T0 + dt.timedelta(days=5)):
        assert alarms.compare_period(period, ResourceUsage(traffic_in_bytes=20 * GB, traffic_out_bytes=50 * GB))
        # Same day again: one alert.
        alarms.compare_period(period, ResourceUsage(traffic_in_bytes=20 * GB, traffic_out_bytes=50 * GB))
    alert = Notification.objects.get(channel="discord", subject="Bandwidth differs from the platform's counter")
    assert str(service) in alert.text_body
    assert "50,000,000,000 bytes" in alert.text_body and "70,000,000,000 bytes" in alert.text_body


def test_small_divergence_or_no_counter_is_quiet(discord, usage_settings):
    service = make_service("203.0.113.10")
    period = _period(service, 10 * GB, 40 * GB)
    assert not alarms.compare_period(period, ResourceUsage(traffic_total_bytes=52 * GB))  # 3.8 % apart
    assert not alarms.compare_period(period, ResourceUsage())  # platform has no counter
    tiny = _period(make_service("203.0.113.11"), 1000, 0)
    assert not alarms.compare_period(tiny, ResourceUsage(traffic_total_bytes=9000))  # under the 1 GB floor
    assert not Notification.objects.filter(channel="discord").exists()


def test_compare_platform_counters_asks_each_driver(discord, usage_settings, monkeypatch):
    service = make_service("203.0.113.10")
    _period(service, 0, 40 * GB)

    class Driver:
        def usage(self, svc):
            return ResourceUsage(traffic_total_bytes=10 * GB)

    monkeypatch.setattr("core.provisioning.drivers.get_driver", lambda connection: Driver())
    with clock.frozen_at(T0 + dt.timedelta(days=2)):
        assert alarms.compare_platform_counters() == 1


def test_period_usage_for_portal_and_api(usage_settings):
    service = make_service("203.0.113.10", quota_gb=100)
    with clock.frozen_at(T0 + dt.timedelta(days=2, hours=1)):
        for n in (0, 1, 24, 25):
            services.collect_window(T0 + n * H, source=ScriptedSource({"203.0.113.10": (GB, 5 * GB)}))
        services.refresh_totals({T0.date(), T0.date() + dt.timedelta(days=1)})
        usage = period_usage(service)
    assert (usage.period_start, usage.period_end) == (T0.date(), T0.date() + dt.timedelta(days=30))
    assert usage.used_bytes == 20 * GB and usage.quota_bytes == 100 * GB and usage.percent == 20
    assert [d["used"] for d in usage.daily] == [10 * GB, 10 * GB, 0]  # today (day 3) so far: nothing
    assert usage.projected_bytes == 20 * GB * 30 // 3


def test_period_usage_without_data_follows_the_subscription_period(usage_settings):
    service = make_service("203.0.113.10", quota_gb=None)
    with clock.frozen_at(T0 + dt.timedelta(days=45)):
        usage = period_usage(service)
    assert usage.period_start == T0.date() + dt.timedelta(days=30) and usage.quota_bytes is None
    assert usage.percent is None and usage.used_bytes == 0


def test_format_bytes_uses_decimal_units():
    assert format_bytes(100 * GB) == "100.00 GB"
    assert format_bytes(2 * 10**12) == "2.00 TB"
    assert format_bytes(999) == "999 B"


def test_sandbox_source_is_plausible_and_repeatable():
    source = SandboxFlowSource()
    a = source.hourly_bytes(T0, T0 + H, ["203.0.113.10", "2001:db8::/48"])
    b = source.hourly_bytes(T0, T0 + H, ["203.0.113.10", "2001:db8::/48"])
    assert a.bytes_out == b.bytes_out and set(a.bytes_out) == {"203.0.113.10", "2001:db8::"}
    assert all(0 < v < 20 * GB for v in a.bytes_out.values())


def test_schedules_are_ensured_once():
    from django_q.models import Schedule

    from core.usage.tasks import HOURLY_SCHEDULE, ensure_schedules

    ensure_schedules()
    ensure_schedules()
    schedule = Schedule.objects.get(name=HOURLY_SCHEDULE)
    assert schedule.func == "core.usage.tasks.collect_bandwidth" and schedule.cron == "15 * * * *"


def test_hourly_task_reports_errors_without_raising(usage_settings, discord, settings):
    from core.usage import tasks

    settings.FLOW_SOURCE_CLASS = "tests.usage.test_alarms_queries.DownSource"
    make_service("203.0.113.10")
    with clock.frozen_at(T0 + 3 * H + dt.timedelta(minutes=15)):
        result = tasks.collect_bandwidth()
    assert result.startswith("ERROR [auth]")


class DownSource:
    def hourly_bytes(self, *args, **kwargs):
        from core.usage.sources import FlowSourceError

        raise FlowSourceError("Elasticsearch refused our credentials (401)", kind="auth")


def test_collect_bandwidth_command(usage_settings, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.FLOW_SOURCE_CLASS = "core.usage.sandbox.SandboxFlowSource"
    make_service("203.0.113.10")
    out = StringIO()
    with clock.frozen_at(T0 + 3 * H + dt.timedelta(minutes=15)):
        call_command("collect_bandwidth", stdout=out)
        call_command("collect_bandwidth", "--window", "2026-11-01T01:00", stdout=out)
    assert "3 window(s) collected" in out.getvalue() and "Collected" in out.getvalue()


def test_demo_history_backfills_sandbox_days(usage_settings, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.FLOW_SOURCE_CLASS = "core.usage.sandbox.SandboxFlowSource"
    service = make_service("203.0.113.10", at=T0 + dt.timedelta(days=2))
    out = StringIO()
    with clock.frozen_at(T0 + dt.timedelta(days=2, minutes=30)):
        call_command("collect_bandwidth", "--demo-history", "1", stdout=out)
    assert "Collected 24 sandbox hours" in out.getvalue()
    assert service.bandwidth_hours.count() == 24 and service.bandwidth_days.exists()
