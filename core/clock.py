"""The one clock. Tests and `billing_run --date` move it; nothing else reads the time directly."""

import datetime as dt
from contextlib import contextmanager

from django.utils import timezone

_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    return _frozen if _frozen is not None else timezone.now()


def today() -> dt.date:
    return now().astimezone(dt.UTC).date()


@contextmanager
def frozen_at(moment: dt.datetime | dt.date):
    """Run the block as if it were `moment` (a date means 00:00 UTC that day)."""
    global _frozen
    if isinstance(moment, dt.date) and not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(), tzinfo=dt.UTC)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    previous, _frozen = _frozen, moment
    try:
        yield moment
    finally:
        _frozen = previous
