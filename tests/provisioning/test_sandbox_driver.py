import datetime as dt

import pytest

from core import clock
from core.provisioning import drivers
from core.provisioning.drivers import get_driver
from core.provisioning.models import PlatformConnection
from integrations.platforms.sandbox.driver import inject_fault
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def _request(service, **kw):
    return drivers.ProvisionRequest(
        external_id=str(service.uuid), customer_external_id="1", customer_email="a@example.com",
        customer_name="A", hostname="h.example.net", product_settings={}, features={"ram_mb": 2048, "disk_gb": 40},
        config={}, password="pw-1234567890", **kw,
    )  # fmt: skip


@pytest.fixture
def driver(sandbox):
    return get_driver(sandbox)


def test_build_takes_the_configured_time(sandbox):
    sandbox.defaults = {"build_seconds": 60}
    sandbox.save()
    driver = get_driver(sandbox)
    service = ServiceFactory(connection=sandbox, status="provisioning")
    result = driver.create(_request(service))
    assert result.state == "building"
    assert driver.build_status(service).state == "building"
    with clock.frozen_at(clock.now() + dt.timedelta(seconds=61)):
        assert driver.build_status(service).state == "ready"


def test_addresses_come_from_documentation_ranges(driver, sandbox):
    service = ServiceFactory(connection=sandbox)
    result = driver.create(_request(service))
    assert result.primary_ip.startswith("203.0.113.")
    assert any(a.startswith("2001:db8:") for a in result.ip_addresses)


def test_second_create_with_same_external_id_adopts(driver, sandbox):
    service = ServiceFactory(connection=sandbox)
    first = driver.create(_request(service))
    second = driver.create(_request(service))
    assert second.adopted and second.platform_service_id == first.platform_service_id


def test_usage_moves_over_time(driver, sandbox):
    service = ServiceFactory(connection=sandbox)
    driver.create(_request(service))
    now = clock.now()
    early = driver.usage(service)
    with clock.frozen_at(now + dt.timedelta(hours=2)):
        later = driver.usage(service)
    assert later.traffic_in_bytes > early.traffic_in_bytes
    assert later.memory_limit_bytes == 2048 * 1024 * 1024
    assert later.power_state == "running"


def test_capacity_limits_come_from_connection_defaults(sandbox):
    sandbox.defaults = {"build_seconds": 0, "max_ram_mb": 3000}
    sandbox.save()
    driver = get_driver(sandbox)
    driver.check_capacity({}, {"ram_mb": 2048})
    driver.create(_request(ServiceFactory(connection=sandbox)))
    with pytest.raises(drivers.CapacityError):
        driver.check_capacity({}, {"ram_mb": 2048})


def test_faults_fire_the_configured_number_of_times(driver, sandbox):
    inject_fault(sandbox, "suspend", "before", times=2)
    service = ServiceFactory(connection=sandbox)
    driver.create(_request(service))
    for _ in range(2):
        with pytest.raises(drivers.DriverError):
            get_driver(PlatformConnection.objects.get(pk=sandbox.pk)).suspend(service)
    get_driver(PlatformConnection.objects.get(pk=sandbox.pk)).suspend(service)
    assert driver.usage(service).power_state == "suspended"


def test_terminate_of_a_missing_server_succeeds_but_suspend_reports_not_found(driver, sandbox):
    service = ServiceFactory(connection=sandbox)
    driver.terminate(service)
    with pytest.raises(drivers.NotFound):
        driver.suspend(service)
