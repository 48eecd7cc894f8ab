"""Two collectors on the same hour at once (MariaDB row locks): the ledger holds the hour once."""

import datetime as dt
import threading

import pytest
from django.db import connection

from core import clock
from core.usage import services
from core.usage.models import CollectionWindow, HourlyUsage

from .conftest import T0, ScriptedSource, make_service

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]
GB = 10**9
H = dt.timedelta(hours=1)


def test_concurrent_collection_of_one_window_writes_it_once(usage_settings):
    services_made = [make_service(f"203.0.113.{n}") for n in range(1, 41)]
    source = ScriptedSource(lambda start, ip: (GB, 2 * GB))
    barrier = threading.Barrier(2)
    errors = []

    def collect():
        try:
            barrier.wait()
            with clock.frozen_at(T0 + 3 * H):
                services.collect_window(T0 + H, source=source)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=collect) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert HourlyUsage.objects.count() == len(services_made)
    window = CollectionWindow.objects.get(start=T0 + H)
    assert window.status == "ok" and window.attempts == 2
