"""What a test compares to say "nothing was written": row counts and the latest change of every table.

The billing run's own audit entry (action billing.run) is left out: every run records itself.
"""

from django.apps import apps
from django.db import connection
from django.db.models import Max

RUN_AUDIT_ACTIONS = ("billing.run",)


def database_state() -> dict:
    from core.audit.models import AuditLog

    state = {}
    tables = set(connection.introspection.table_names())
    for model in apps.get_models():
        if model._meta.db_table not in tables:  # a model whose migration is not written yet
            continue
        rows = model._default_manager.all()
        if model is AuditLog:
            rows = rows.exclude(action__in=RUN_AUDIT_ACTIONS)
        state[model._meta.label] = rows.count()
        names = {f.name for f in model._meta.concrete_fields}
        for stamp in ("updated_at", "modified_at", "history_date"):
            if stamp in names:
                state[f"{model._meta.label}.{stamp}"] = rows.aggregate(latest=Max(stamp))["latest"]
    return state


def changed(before: dict, after: dict) -> dict:
    return {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
