"""Writing imported rows: compare with what is stored, then insert or update in bulk.

The importer (integrations/whmcs) maps source rows to plain dicts of model field values keyed by
the source's id; `sync_rows` is the one place that turns them into database writes. A row whose
values equal the stored ones is not written at all, so a rerun on unchanged data writes nothing
(no UPDATE, no history row). Bulk writes skip model.save(): callers pass only values that are
already valid, and issued invoices are only ever updated through `allowed_update_fields`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import models

from core import clock
from core.billing.services.bulk_invoices import _RowWriter as RowWriter


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    pks: dict = field(default_factory=dict)  # source key -> our pk
    refused: dict = field(default_factory=dict)  # source key -> sorted field names that may not change


def _same(a, b) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        try:
            return a is not None and b is not None and Decimal(a) == Decimal(b)
        except (ArithmeticError, TypeError, ValueError):
            return False
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a == b
    return a == b


def sync_rows(
    model: type[models.Model],
    rows: dict,
    *,
    key: str = "whmcs_id",
    allowed_update_fields: set[str] | None = None,
    scope: dict | None = None,
    key_range: tuple | None = None,
    insert=None,
) -> SyncResult:
    """Insert rows whose key is new, update changed ones, leave equal ones alone.

    `rows` maps the key value to {field attname: value}. When `allowed_update_fields` is given, a
    difference in any other field is not written and is returned in `refused` (issued invoices).
    `scope` narrows the lookup and is written on new rows, for keys unique only within it
    (e.g. AuditLog rows of one object_type keyed by object_id). `key_range` (first, last): every key
    lies in it, so stored rows are looked up by one range scan instead of an IN list of the keys.
    `insert(model, rows)` writes the new rows (default: insert_rows below).
    """
    result = SyncResult()
    if not rows:
        return result
    manager = model._default_manager

    def lookup(keys) -> models.QuerySet:
        where = {f"{key}__range": key_range} if key_range is not None else {f"{key}__in": list(keys)}
        return manager.filter(**(scope or {}), **where)

    fields = sorted({name for values in rows.values() for name in values})
    existing = {found[key]: found for found in lookup(rows).values("pk", key, *fields)}
    to_create, to_update, changed_fields = [], [], set()
    for source_key, values in rows.items():
        stored = existing.get(source_key)
        if stored is None:
            to_create.append({**(scope or {}), key: source_key, **values})
            continue
        result.pks[source_key] = stored["pk"]
        diff = {name for name, value in values.items() if not _same(value, stored[name])}
        if allowed_update_fields is not None and diff - allowed_update_fields:
            result.refused[source_key] = sorted(diff - allowed_update_fields)
            diff &= allowed_update_fields
        if not diff:
            result.unchanged += 1
            continue
        obj = model(pk=stored["pk"], **{key: source_key, **{name: values[name] for name in values}})
        to_update.append(obj)
        changed_fields |= diff
    if to_create:
        (insert or insert_rows)(model, to_create)
        created = {row[key] for row in to_create}
        result.pks.update((k, pk) for k, pk in lookup(created).values_list(key, "pk") if k in created)
        result.created = len(to_create)
    if to_update:
        manager.bulk_update(to_update, sorted(changed_fields), batch_size=500)
        result.updated = len(to_update)
    return result


def insert_rows(model: type[models.Model], rows: list[dict]) -> None:
    """INSERT rows (dicts of field attnames) in multi-row statements, without a model instance per row.

    Fields a row leaves out get their default as Model() would give it: callable defaults (uuid4,
    clock.now) are called per row, auto_now(_add) fields get the current time. Rows are grouped by
    the fields they give, so each group is one shape of statement (billing.services.bulk_invoices'
    writer, which prepares every value through its model field).
    """
    if not rows:
        return
    now = clock.now()
    per_row, constants = [], {}
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key:
            continue
        if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            constants[model_field.attname] = now
        elif model_field.has_default() and callable(model_field.default):
            per_row.append(model_field)
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for given, group in groups.items():
        fresh = [f for f in per_row if f.attname not in given]
        columns = [*given, *(f.attname for f in fresh)]
        writer = RowWriter(model, columns, {k: v for k, v in constants.items() if k not in given})
        prepared = [writer.prepare((*(row[c] for c in given), *(f.get_default() for f in fresh))) for row in group]
        writer.insert(prepared)
