"""A flow source for the local demo and tests: plausible, repeatable traffic without Elasticsearch.

Each address gets a steady profile from its own hash (some quiet, a few heavy) and a daily curve
peaking in the evening UTC, so charts look like a network's and re-running a window gives the
same numbers (as a real store would for closed hours).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
from collections.abc import Sequence

from .sources import FlowCounts

GB = 10**9


def _unit(*parts) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class SandboxFlowSource:
    index_pattern = "sandbox-flows"

    def hourly_bytes(self, start: dt.datetime, end: dt.datetime, networks: Sequence[str], *, exclude_prefixes=()):
        counts = FlowCounts(index_pattern=self.index_pattern, schema="sandbox", search_requests=1)
        hour = start.astimezone(dt.UTC)
        curve = 0.6 + 0.4 * math.sin((hour.hour - 14) / 24 * 2 * math.pi)
        for network in networks:
            ip = str(ipaddress.ip_network(network, strict=False).network_address)
            profile = _unit("profile", ip)
            # Mostly 10-200 MB an hour, one address in ten pushes several GB.
            base = (0.01 + 0.19 * profile) * GB if profile < 0.9 else (1 + 4 * profile) * GB
            jitter = 0.7 + 0.6 * _unit(ip, hour.isoformat())
            out_bytes = int(base * curve * jitter)
            in_bytes = int(out_bytes * (0.15 + 0.5 * _unit("ratio", ip)))
            counts.bytes_out[ip] = out_bytes
            counts.bytes_in[ip] = in_bytes
            docs = 50 + int(900 * _unit("docs", ip, hour.isoformat()))
            counts.docs[ip] = docs
            counts.doc_count += docs
        counts.query_hash = hashlib.sha256(f"sandbox|{hour.isoformat()}|{len(networks)}".encode()).hexdigest()
        return counts
