import datetime as dt

import pytest

from core import clock
from core.usage.sources import FlowCounts, FlowSourceError
from tests.factories import ProductFactory, ServiceFactory, SubscriptionFactory

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


class ScriptedSource:
    """Flow source for collection tests: bytes per IP per window from a dict or a function."""

    index_pattern = "elastiflow-flow-codex-*"

    def __init__(self, traffic=None, *, fail=None):
        self.traffic = traffic or {}  # {ip: (in, out)} or callable(start, ip) -> (in, out)
        self.fail = fail
        self.calls = []

    def hourly_bytes(self, start, end, networks, *, exclude_prefixes=()):
        self.calls.append((start, tuple(networks), tuple(exclude_prefixes)))
        if self.fail:
            raise FlowSourceError(self.fail, kind="unreachable")
        counts = FlowCounts(
            index_pattern=self.index_pattern, schema="codex", query_hash=f"h{start:%d%H}", search_requests=2
        )
        for network in networks:
            ip = network.split("/")[0]
            value = self.traffic(start, ip) if callable(self.traffic) else self.traffic.get(ip, (0, 0))
            if value is None:
                continue
            counts.bytes_in[ip], counts.bytes_out[ip] = value
            counts.docs[ip] = 10
            counts.doc_count += 10
        return counts


@pytest.fixture
def discord(settings):
    settings.DISCORD_WEBHOOK_URL = "https://discord.com/api/webhooks/1/test"
    settings.DISCORD_WEBHOOKS = {}
    return settings


@pytest.fixture
def usage_settings(settings):
    settings.USAGE = {"REREAD_WINDOWS": 2, "WINDOW_DELAY_MINUTES": 10, "OWN_PREFIXES": [], "INITIAL_BACKFILL_HOURS": 3}
    return settings


def make_service(ip="203.0.113.10", *, quota_gb=100, currency="USD", rate="0.0100", at=T0, **kwargs):
    """An active service with a monthly subscription starting at `at`, its address valid from `at`."""
    from decimal import Decimal

    from tests.factories import CurrencyFactory, CustomerFactory, PriceFactory

    with clock.frozen_at(at):
        cur = CurrencyFactory(code=currency)
        customer = CustomerFactory(currency=cur)
        product = ProductFactory(bandwidth_quota_gb=quota_gb)
        price = PriceFactory(product=product, currency=cur, overage_per_gb=Decimal(rate))
        sub = SubscriptionFactory(
            customer=customer, price=price, current_period_start=at, current_period_end=at + dt.timedelta(days=30)
        )
        return ServiceFactory(customer=customer, product=product, subscription=sub, primary_ip=ip, **kwargs)
