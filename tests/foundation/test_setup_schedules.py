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
