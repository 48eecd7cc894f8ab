"""/healthz: database, cache and queue, each checked for real. 200 when all are ok, else 503."""

import time

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


def _check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _check_cache() -> dict:
    key = "healthz:probe"
    token = str(time.time())
    cache.set(key, token, 10)
    if cache.get(key) != token:
        raise RuntimeError("cache did not return the value just written")
    return {"backend": cache.__class__.__name__}


def _check_queue() -> dict:
    from django_q.brokers import get_broker
    from django_q.models import Failure, OrmQ

    broker = get_broker()
    if not broker.ping():
        raise RuntimeError("broker did not answer ping")
    info = {"broker": broker.__class__.__name__, "failed_tasks": Failure.objects.count()}
    if broker.__class__.__name__ == "ORM":
        info["queued"] = OrmQ.objects.count()
    else:
        info["queued"] = broker.queue_size()
    return info


@never_cache
def healthz(request):
    checks, ok = {}, True
    for name, check in (("database", _check_database), ("cache", _check_cache), ("queue", _check_queue)):
        started = time.monotonic()
        try:
            checks[name] = {"ok": True, **check()}
        except Exception as exc:  # report every failure instead of stopping at the first
            ok = False
            checks[name] = {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"[:300]}
        checks[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    return JsonResponse({"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503)
