"""Where flow data comes from: the FlowSource protocol the collector calls, found through
settings.FLOW_SOURCE_CLASS (integrations.elastiflow in production, the sandbox locally), the way
payment gateways and platform drivers are found. core never imports integrations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass
class FlowCounts:
    """Bytes per address seen in one hourly window. "in" means the address was the destination
    (traffic to the customer), "out" the source. Keys are the IPs as the flow store returns them."""

    bytes_in: dict[str, int] = field(default_factory=dict)
    bytes_out: dict[str, int] = field(default_factory=dict)
    docs: dict[str, int] = field(default_factory=dict)
    doc_count: int = 0
    search_requests: int = 0
    index_pattern: str = ""
    schema: str = ""
    query_hash: str = ""


class FlowSourceError(Exception):
    """The flow store could not answer for a whole window; nothing of the window may be written.

    kind: "unreachable" (network, timeout), "auth" (401/403), "missing_index" (no index matches
    the pattern), "bad_response" (shard failures, timeouts, an unexpected shape)."""

    def __init__(self, message: str, *, kind: str):
        super().__init__(message)
        self.kind = kind


class FlowSource(Protocol):
    def hourly_bytes(
        self, start: dt.datetime, end: dt.datetime, networks: Sequence[str], *, exclude_prefixes: Sequence[str] = ()
    ) -> FlowCounts:
        """Bytes in and out per address inside `networks` (addresses or CIDR prefixes) for flows with
        a timestamp in [start, end); flows whose other end is in `exclude_prefixes` are not counted.
        Raises FlowSourceError when any part of the answer is missing."""
        ...


def get_flow_source() -> FlowSource:
    return import_string(settings.FLOW_SOURCE_CLASS)()
