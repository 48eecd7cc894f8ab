"""Create or update every django-q2 Schedule the system needs (idempotent, by schedule name).

Each domain owns its schedules in `<app>.tasks.ensure_schedules()`; this command calls
every one it finds, so deploys (and the demo) run a single command.
"""

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand


def schedule_providers() -> list[tuple[str, object]]:
    """(module path, ensure_schedules) for every installed project app whose tasks module defines it."""
    found = []
    for config in apps.get_app_configs():
        if not config.name.startswith(("core.", "integrations.", "backoffice", "portal")):
            continue
        module_path = f"{config.name}.tasks"
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name == module_path:  # the app simply has no tasks module
                continue
            raise
        ensure = getattr(module, "ensure_schedules", None)
        if callable(ensure):
            found.append((module_path, ensure))
    return found


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules of every domain (calls each <app>.tasks.ensure_schedules)."

    def handle(self, *args, **options):
        from django_q.models import Schedule

        providers = schedule_providers()
        if not providers:
            self.stdout.write(self.style.WARNING("No app defines tasks.ensure_schedules() yet; nothing scheduled."))
        for module_path, ensure in providers:
            result = ensure()
            self.stdout.write(f"{module_path}.ensure_schedules(): {_describe(result)}")
        for schedule in Schedule.objects.order_by("name"):
            self.stdout.write(f"  {schedule.name}: {schedule.func} ({_kind(schedule)}), next run {schedule.next_run}")
        self.stdout.write(self.style.SUCCESS(f"{Schedule.objects.count()} schedule(s) in place."))


def _describe(result) -> str:
    if result is None:
        return "done"
    if isinstance(result, list | tuple | set):
        return ", ".join(str(getattr(item, "name", item)) for item in result) or "nothing"
    return str(result)


def _kind(schedule) -> str:
    return f"cron {schedule.cron}" if schedule.cron else schedule.get_schedule_type_display()
