"""setup_schedules calls every domain's ensure_schedules() and is safe to run again."""

import io
import sys
import types

import pytest
from django.core.management import call_command
from django_q.models import Schedule

pytestmark = pytest.mark.django_db


def _fake_domain_tasks(monkeypatch, module_path: str):
    module = types.ModuleType(module_path)

    def ensure_schedules():
        schedule, _ = Schedule.objects.update_or_create(
            name="support-sync-tickets",
            defaults={"func": "core.support.tasks.sync_tickets", "schedule_type": Schedule.HOURLY, "repeats": -1},
        )
        return [schedule]

    module.ensure_schedules = ensure_schedules
    monkeypatch.setitem(sys.modules, module_path, module)


def test_setup_schedules_runs_each_domain_and_is_idempotent(monkeypatch):
    _fake_domain_tasks(monkeypatch, "core.support.tasks")
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    call_command("setup_schedules", stdout=out)
    assert Schedule.objects.filter(name="support-sync-tickets").count() == 1
    assert "core.support.tasks.ensure_schedules(): support-sync-tickets" in out.getvalue()


def test_setup_schedules_includes_every_real_provider():
    from core.accounts.management.commands.setup_schedules import schedule_providers

    for module_path, ensure in schedule_providers():
        assert module_path.endswith(".tasks") and callable(ensure)
    call_command("setup_schedules", stdout=io.StringIO())


def test_every_recurring_job_of_the_system_is_scheduled():
    """What production relies on running by itself: billing, bandwidth, notifications retries, the ticket
    mirror, the MRR snapshot and the API's idempotency purge."""
    call_command("setup_schedules", stdout=io.StringIO())
    funcs = set(Schedule.objects.values_list("func", flat=True))
    for func in ("core.support.tasks.refresh_all_mirrors", "portal.api.tasks.purge_idempotency_keys"):
        assert func in funcs
    assert any(f.startswith("core.billing.") for f in funcs)
    assert any(f.startswith("core.usage.") for f in funcs)
    assert any(f.startswith("core.notifications.") for f in funcs)
    assert any(f.startswith("core.analytics.") for f in funcs)
