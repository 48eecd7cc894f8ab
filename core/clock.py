"""The one clock. Tests and `billing_run --date` move it; nothing else reads the time directly."""

import datetime as dt
import itertools
import threading
from contextlib import contextmanager

from django.utils import timezone

# Active frozen moments, newest last, each under its own token. The clock is process-wide on
# purpose (a test freezes it, then starts worker threads that must see the same time), so
# threads may enter and leave `frozen_at` in any order: each exit removes only its own entry,
# and the clock is real again once no entry is left.
_frozen: list[tuple[int, dt.datetime]] = []
_lock = threading.Lock()
_tokens = itertools.count()


def now() -> dt.datetime:
    frozen = _frozen  # a read of the last entry needs no lock: list.append/remove are atomic
    return frozen[-1][1] if frozen else timezone.now()


def today() -> dt.date:
    return now().astimezone(dt.UTC).date()


@contextmanager
def frozen_at(moment: dt.datetime | dt.date):
    """Run the block as if it were `moment` (a date means 00:00 UTC that day)."""
    if isinstance(moment, dt.date) and not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(), tzinfo=dt.UTC)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    entry = (next(_tokens), moment)
    with _lock:
        _frozen.append(entry)
    try:
        yield moment
    finally:
        with _lock:
            _frozen.remove(entry)
