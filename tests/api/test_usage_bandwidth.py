"""GET /services/{id}/usage: this period's bandwidth as the portal shows it (core.usage.queries.period_usage):
what counts, the quota fixed for the period, the projection to the period's end and a daily series."""

import datetime as dt

import pytest

from core import clock
from core.usage.models import BandwidthPeriod, BandwidthUsage

pytestmark = pytest.mark.django_db
V1 = "/api/v1"
GB = 10**9


def test_usage_reports_the_period_against_quota_with_projection_and_days(world):
    today = clock.today()
    start = today - dt.timedelta(days=4)
    BandwidthPeriod.objects.create(service=world.service, period_start=start, period_end=start + dt.timedelta(days=30),
                                   bytes_in=300 * GB, bytes_out=100 * GB, counted_bytes=300 * GB,
                                   quota_bytes=1000 * GB)  # fmt: skip
    for n in range(5):
        BandwidthUsage.objects.create(service=world.service, day=start + dt.timedelta(days=n), bytes_in=60 * GB,
                                      bytes_out=20 * GB)  # fmt: skip
    body = world.api.get(f"{V1}/services/{world.service.uuid}/usage").json()["bandwidth"]
    assert body["used_bytes"] == 300 * GB and body["quota_bytes"] == 1000 * GB and body["percent"] == 30
    assert body["projected_bytes"] == 300 * GB * 30 // 5
    assert [d["used"] for d in body["daily"]] == [60 * GB] * 5
    assert body["period_start"] == start.isoformat()
