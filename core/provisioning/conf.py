"""Provisioning settings: `settings.PROVISIONING` (a dict) over these defaults, read at call time
so tests can override them with pytest-django's `settings` fixture."""

from django.conf import settings

DEFAULTS = {
    # Queued platform calls: attempts before the service is marked failed, and the backoff
    # (base * 2**(attempt-1), capped) between attempts.
    "MAX_ATTEMPTS": 5,
    "RETRY_BASE_SECONDS": 30,
    "RETRY_MAX_SECONDS": 3600,
    # Build polling: how often and for how long before a build counts as failed.
    "POLL_INTERVAL_SECONDS": 15,
    "BUILD_TIMEOUT_SECONDS": 3 * 3600,
    # A job claimed by a worker that died is taken over after this long.
    "STALE_JOB_SECONDS": 900,
    # When the platform cannot be asked about capacity (network, auth), refuse the order
    # ("refuse") or accept it and let provisioning sort it out ("accept").
    "CAPACITY_UNVERIFIED": "refuse",
    # Dedicated servers with no stock: accept the order into awaiting_stock (True) or refuse (False).
    "DEDICATED_BACKORDER": True,
    # Portal: credentials are shown for this many minutes after the customer re-enters their password.
    "REAUTH_MINUTES": 5,
    # Usage figures are cached this long so portal page views do not hammer the platform.
    "USAGE_CACHE_SECONDS": 60,
}


def setting(name: str):
    return {**DEFAULTS, **getattr(settings, "PROVISIONING", {})}[name]
