"""Bandwidth metering settings: `settings.USAGE` (a dict) over these defaults, read at call time
so tests can override them with pytest-django's `settings` fixture."""

from django.conf import settings

DEFAULTS = {
    # The last N closed hourly windows are read again on every run: flows exported late (long
    # flows at the active timeout, a collector catching up) land in hours already collected.
    "REREAD_WINDOWS": 3,
    # A window [h, h+1) counts as closed only this long after h+1 (never the hour still filling).
    "WINDOW_DELAY_MINUTES": 10,
    # On the very first run (no window collected yet) go back this many hours.
    "INITIAL_BACKFILL_HOURS": 24,
    # Gaps older than this are not back-filled automatically (staff can re-run a window).
    "GAP_LOOKBACK_HOURS": 24 * 35,
    # At most this many windows per run, oldest first, so a long outage is caught up over runs.
    "MAX_WINDOWS_PER_RUN": 48,
    # Our own prefixes (CIDR). With EXCLUDE_OWN_TRAFFIC, traffic whose other end is in one of
    # them (server to server inside our network) is not counted.
    "OWN_PREFIXES": [],
    "EXCLUDE_OWN_TRAFFIC": True,
    # Networks per search request (ES index.max_terms_count defaults to 65,536).
    "BATCH_SIZE": 5000,
    # A window whose total is below this share of the median of recent good windows (or zero)
    # is marked suspect and not written: ElastiFlow down or a mapping change, not a quiet hour.
    "SUSPECT_DROP_SHARE": "0.2",
    "SUSPECT_BASELINE_WINDOWS": 24,
    # Platform counters vs ledger: alert when they differ by more than this share.
    "PLATFORM_DIVERGENCE_SHARE": "0.10",
    # Below this many bytes on both sides a divergence is noise (1 GB).
    "PLATFORM_DIVERGENCE_MIN_BYTES": 10**9,
}


def setting(name: str):
    return {**DEFAULTS, **getattr(settings, "USAGE", {})}[name]
