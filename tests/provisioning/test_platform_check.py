import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.provisioning.models import PlatformConnection, ProvisioningJob
from integrations.platforms.sandbox.driver import inject_fault
from tests.factories import PlatformConnectionFactory

pytestmark = pytest.mark.django_db


def test_platform_check_reports_each_connection_and_stores_the_result(capsys):
    conn = PlatformConnectionFactory(name="sandbox-eu")
    call_command("platform_check")
    out = capsys.readouterr().out
    assert "OK" in out and "sandbox-eu" in out and "sandbox/1.0" in out
    conn.refresh_from_db()
    assert conn.last_check_ok is True and conn.last_checked_at is not None
    assert ProvisioningJob.objects.filter(connection=conn, action="check", outcome="succeeded").exists()


def test_platform_check_exits_non_zero_when_a_platform_is_down(capsys):
    ok = PlatformConnectionFactory(name="sandbox-ok")
    down = PlatformConnectionFactory(name="sandbox-down")
    inject_fault(down, "check", "before")
    with pytest.raises(CommandError) as excinfo:
        call_command("platform_check")
    assert excinfo.value.returncode == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "sandbox-down" in out and "reachable=no" in out
    down.refresh_from_db()
    ok.refresh_from_db()
    assert down.last_check_ok is False and "injected failure" in down.last_check_message
    assert ok.last_check_ok is True


def test_platform_check_reports_bad_credentials():
    PlatformConnectionFactory(name="sandbox-nokey", api_key="")
    with pytest.raises(CommandError):
        call_command("platform_check", connection="sandbox-nokey")
    conn = PlatformConnection.objects.get(name="sandbox-nokey")
    assert conn.last_check_ok is False and "API key" in conn.last_check_message


def test_real_platform_is_refused_outside_production(capsys):
    PlatformConnectionFactory(name="vf", platform="virtfusion")
    with pytest.raises(CommandError):
        call_command("platform_check", connection="vf")
    assert "Refusing to call the real platform" in capsys.readouterr().out


def test_unknown_connection_name_is_an_error():
    with pytest.raises(CommandError, match="No platform connection"):
        call_command("platform_check", connection="nope")
