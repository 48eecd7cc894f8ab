"""Fast writes for the big WHMCS tables (invoices, their lines, transactions): one batch of source
rows, read by primary-key range, becomes a few multi-row statements.

- `sync_range` is `core.imports.services.sync_rows` for a batch whose keys are one source id range:
  it looks the stored rows up by that range (one indexed range scan, no IN list of thousands of
  parameters), compares before it writes (equal rows are not written at all, so a rerun on unchanged
  data writes nothing) and inserts the new rows with `insert_rows`.
- `insert_rows` renders each value straight to its SQL literal with one small encoder per column
  (the field's own database preparation where it does more than quoting: datetimes, JSON).
- `BatchWriter` runs each batch's writes on a second thread with its own connection, so MariaDB
  stores batch N while this thread reads and maps batch N+1 (two cores: Python and the database
  work at once). At most one batch is in flight; its result is applied on the calling thread.
  Inside a transaction (dry run, tests) the writes run inline, in that transaction.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from decimal import Decimal
from functools import partial
from itertools import repeat
from operator import attrgetter, itemgetter
from types import NoneType

from django.db import connection, connections, models, router, transaction

from core import clock
from core.imports.services import SyncResult, sync_rows
from core.imports.services import insert_rows as orm_insert_rows

ROWS_PER_STATEMENT = 1000
THREADED = True  # False: every batch is written inline (profiling sees all the work on one thread)


def sync_range(
    model: type[models.Model],
    rows: dict,
    first: int,
    last: int,
    *,
    key: str = "whmcs_id",
    allowed_update_fields: set[str] | None = None,
) -> SyncResult:
    """core.imports' sync_rows for `rows` keyed by source ids all within first..last: stored rows are
    looked up by that range and new ones written by this module's insert_rows."""
    return sync_rows(
        model, rows, key=key, allowed_update_fields=allowed_update_fields, key_range=(first, last), insert=insert_rows
    )


def insert_rows(model: type[models.Model], rows: list[dict]) -> None:
    """INSERT rows (dicts of field attnames, all with the same keys) in multi-row statements.

    Fields a row leaves out get their default as Model() would give it (callable defaults per row,
    auto_now(_add) the current time). Off MySQL/MariaDB this is core.imports' insert_rows."""
    if not rows:
        return
    conn = connections[router.db_for_write(model)]
    if conn.vendor != "mysql":
        orm_insert_rows(model, rows)
        return
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for given, group in groups.items():
        _insert_group(conn, model, list(given), group)


def _insert_group(conn, model, given: list[str], rows: list[dict]) -> None:
    conn.ensure_connection()
    now = clock.now()
    fields = {f.attname: f for f in model._meta.concrete_fields}
    per_row_defaults, constants = [], []
    for f in model._meta.concrete_fields:
        if (f.primary_key and isinstance(f, models.AutoField)) or f.attname in given:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            constants.append((f, now))
        elif f.has_default() and callable(f.default):
            per_row_defaults.append(f)
        else:
            constants.append((f, f.get_default()))
    # Column by column: each column's values are encoded by one map over the column (C loops where the
    # types allow), then rows are joined; the same bytes as quoting each value one by one.
    count = len(rows)
    encoded = [_encode_column(fields[name], list(map(itemgetter(name), rows)), conn) for name in given]
    encoded += [_default_column(f, count, conn) for f in per_row_defaults]
    if constants:
        encoded.append(repeat(b",".join(_encode_column(f, [value], conn)[0] for f, value in constants), count))
    quote = conn.ops.quote_name
    names = ", ".join(
        quote(f.column) for f in [*(fields[n] for n in given), *per_row_defaults, *(c for c, _ in constants)]
    )
    # Table and column names come from the model's _meta; every value is an encoded literal.
    head = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES (".encode()  # noqa: S608
    values = list(map(b",".join, zip(*encoded, strict=True)))
    with conn.cursor() as cursor:
        for start in range(0, count, ROWS_PER_STATEMENT):
            # No parameters: mysqlclient sends the statement as it is (no %-interpolation).
            cursor.execute(head + b"),(".join(values[start : start + ROWS_PER_STATEMENT]) + b")")


_UUID4_MASK = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_BITS = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant: as uuid.uuid4() sets them


def _default_column(field, count: int, conn) -> list[bytes]:
    """A callable default per row; uuid4 keys (every invoice and payment has one) straight from the random bytes."""
    if isinstance(field, models.UUIDField) and field.default is uuid.uuid4:
        random = os.urandom(16 * count)
        return [
            b"'%032x'" % ((int.from_bytes(random[i : i + 16]) & _UUID4_MASK) | _UUID4_BITS)
            for i in range(0, 16 * count, 16)
        ]
    return _encode_column(field, [field.get_default() for _ in range(count)], conn)


def _encode_column(field, values: list, conn) -> list[bytes]:
    """Each value as the SQL literal the field's database preparation and mysqlclient's quoting give."""
    string_literal = conn.connection.string_literal
    literal = conn.connection.literal
    if not type(field).__module__.startswith("django."):  # a field of ours (encrypted...) prepares its own values
        return [b"NULL" if (p := field.get_db_prep_save(v, conn)) is None else literal(p) for v in values]
    types = set(map(type, values))
    if isinstance(field, models.BooleanField):
        return list(map({True: b"1", False: b"0", None: b"NULL"}.__getitem__, values))
    if types <= {int} and (
        isinstance(field, models.IntegerField | models.AutoField)
        or (field.is_relation and isinstance(field.target_field, models.IntegerField | models.AutoField))
    ):
        return list(map(b"%d".__mod__, values))
    if types <= {int, NoneType} and (
        isinstance(field, models.IntegerField | models.AutoField)
        or (field.is_relation and isinstance(field.target_field, models.IntegerField | models.AutoField))
    ):
        return [b"NULL" if v is None else b"%d" % v for v in values]
    if types <= {Decimal, int} and isinstance(field, models.DecimalField):
        text = list(map(str, values))
        if any("E" in t for t in text):  # exponent notation: written out in full
            text = [format(Decimal(v), "f") for v in values]
        return list(map(str.encode, text))
    if types <= {str} and (
        isinstance(field, models.CharField | models.TextField)
        or (field.is_relation and isinstance(field.target_field, models.CharField))
    ):
        return list(map(string_literal, map(str.encode, values)))
    if types <= {uuid.UUID} and isinstance(field, models.UUIDField):
        return list(map(b"'%s'".__mod__, map(str.encode, map(attrgetter("hex"), values))))
    if isinstance(field, models.DateField | models.DateTimeField):  # few distinct values: prepared once each
        memo = {}
        for value in set(values):
            prepared = field.get_db_prep_save(value, conn)
            memo[value] = b"NULL" if prepared is None else literal(prepared)
        return list(map(memo.__getitem__, values))
    if isinstance(field, models.JSONField):
        dumps = partial(json.dumps, cls=field.encoder)
        return [b"NULL" if v is None else string_literal(dumps(v).encode()) for v in values]
    out = []
    for value in values:
        prepared = field.get_db_prep_save(value, conn)
        out.append(b"NULL" if prepared is None else literal(prepared))
    return out


class BatchWriter:
    """Runs `write(*args)` for each batch on a writer thread, each in its own transaction, while the
    caller maps the next batch; `then(result)` runs on the caller's thread, in submission order, once
    the batch is written (report counts). With `writers=2` two batches are written at once, on two
    threads and connections (MariaDB then works on both cores); the caller must not depend on a batch
    still in flight (at most `writers` are). Inline when the caller is inside a transaction or not on MySQL."""

    def __init__(self, *, threaded: bool | None = None, writers: int = 1):
        if threaded is None:
            threaded = THREADED and connection.vendor == "mysql" and not connection.in_atomic_block
        self.threaded = threaded
        self.writers = writers
        self.wrappers = list(connection.execute_wrappers)  # the caller's (e.g. a test counting writes) apply too
        # One single-thread pool per writer, batches handed out in turn: each thread keeps its connection.
        self.pools = (
            [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"whmcs-writer-{n}") for n in range(writers)]
            if threaded
            else []
        )
        self.pending: deque[tuple[Future, Callable | None]] = deque()
        self.submitted = 0

    def submit(self, write: Callable, *args, then: Callable | None = None) -> None:
        if not self.pools:
            with transaction.atomic():
                result = write(*args)
            if then:
                then(result)
            return
        while len(self.pending) >= self.writers:
            self._finish_oldest()
        pool = self.pools[self.submitted % self.writers]
        self.submitted += 1
        self.pending.append((pool.submit(_atomic, self.wrappers, write, *args), then))

    def _finish_oldest(self) -> None:
        future, then = self.pending.popleft()
        result = future.result()
        if then:
            then(result)

    def wait(self) -> None:
        """Wait until every batch in flight is written (results applied in order); re-raises an error."""
        while self.pending:
            self._finish_oldest()

    def close(self) -> None:
        if not self.pools:
            return
        try:
            self.wait()
        finally:
            for pool in self.pools:
                pool.submit(connections.close_all).result()
                pool.shutdown()
            self.pools = []

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            for future, _ in self.pending:
                future.exception()  # let the batches in flight finish (or fail) before leaving
            self.pending.clear()
        self.close()


def _atomic(wrappers: list, write: Callable, *args):
    with ExitStack() as stack:
        for wrapper in wrappers:
            stack.enter_context(connection.execute_wrapper(wrapper))
        with transaction.atomic():
            return write(*args)
