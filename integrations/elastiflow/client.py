"""ElastiFlow flow records in Elasticsearch: bytes per service address per hourly window.

Facts (../shared/reference/services.md section 4):
- Index patterns `elastiflow-flow-codex-*` / `elastiflow-flow-ecs-*`, time field `@timestamp`;
  always the wildcard, never a concrete (rollover/TSDS) index name.
- CODEX fields `flow.src.ip.addr`, `flow.dst.ip.addr`, `flow.bytes`, exporter `flow.export.ip.addr`;
  ECS fields `source.ip`, `destination.ip`, `network.bytes` (ECS exporter `observer.ip`: UNCONFIRMED).
- ElastiFlow already scales bytes by the sampling rate: `flow.bytes` is summed as is, never
  multiplied again; ES sums in double and we round once per address.
- The client's major version must match the cluster's (a 9.x client sends
  `compatible-with=9`, refused by an 8.x cluster): requirements pin elasticsearch 8.x.

One search per direction and batch of networks: a `terms` filter on the address field (exact IPs
and CIDR prefixes alike, which ES `ip` fields accept) and a composite aggregation over that field
with a `sum` of bytes, paged through `after_key`. 10,000 single-address services make 2 batches x
2 directions = 4 requests per window.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence

from django.conf import settings

from core.usage.sources import FlowCounts, FlowSourceError

log = logging.getLogger(__name__)

FIELDS = {
    "codex": {
        "src": "flow.src.ip.addr",
        "dst": "flow.dst.ip.addr",
        "bytes": "flow.bytes",
        "exporter": "flow.export.ip.addr",
    },
    "ecs": {
        "src": "source.ip",
        "dst": "destination.ip",
        "bytes": "network.bytes",
        "exporter": "observer.ip",  # UNCONFIRMED (ECS dashboards show only observer.*.interface)
    },
}
TIME_FIELD = "@timestamp"

DEFAULTS = {
    "HOSTS": ["https://127.0.0.1:9200"],
    "SCHEMA": "codex",
    "INDEX_PATTERN": "",
    "API_KEY": "",
    "USERNAME": "",
    "PASSWORD": "",
    "CA_CERTS": "",
    "VERIFY_CERTS": True,
    "EXPORTERS": [],
    "TIMEOUT_SECONDS": 60,
    "BATCH_SIZE": 5000,
    "PAGE_SIZE": 10000,
}


def elastiflow_config(overrides: dict | None = None) -> dict:
    config = {**DEFAULTS, **getattr(settings, "ELASTIFLOW", {}), **(overrides or {})}
    if config["SCHEMA"] not in FIELDS:
        raise FlowSourceError(
            f"ELASTIFLOW['SCHEMA'] must be 'codex' or 'ecs', not {config['SCHEMA']!r}.", kind="config"
        )
    if not config["INDEX_PATTERN"]:
        config["INDEX_PATTERN"] = f"elastiflow-flow-{config['SCHEMA']}-*"
    return config


def build_client(config: dict, **extra):
    from elasticsearch import Elasticsearch

    kwargs = {
        "request_timeout": config["TIMEOUT_SECONDS"],
        # Searches only read: retrying a timed-out one is safe.
        "max_retries": 2,
        "retry_on_timeout": True,
        "verify_certs": config["VERIFY_CERTS"],
    }
    if config["API_KEY"]:
        kwargs["api_key"] = config["API_KEY"]
    elif config["USERNAME"]:
        kwargs["basic_auth"] = (config["USERNAME"], config["PASSWORD"])
    if config["CA_CERTS"]:
        kwargs["ca_certs"] = config["CA_CERTS"]
    return Elasticsearch(config["HOSTS"], **kwargs, **extra)


def search_body(config: dict, field: str, other_field: str, start, end, networks, exclude_prefixes) -> dict:
    fields = FIELDS[config["SCHEMA"]]
    filters = [
        {"range": {TIME_FIELD: {"gte": _iso(start), "lt": _iso(end), "format": "strict_date_optional_time"}}},
        {"terms": {field: list(networks)}},
    ]
    if config["EXPORTERS"]:
        # Count each flow once: only the edge exporters (reference 4.3).
        filters.append({"terms": {fields["exporter"]: list(config["EXPORTERS"])}})
    query = {"bool": {"filter": filters}}
    if exclude_prefixes:
        query["bool"]["must_not"] = [{"terms": {other_field: list(exclude_prefixes)}}]
    return {
        "size": 0,
        "track_total_hits": False,
        "query": query,
        "aggs": {
            "ips": {
                "composite": {"size": config["PAGE_SIZE"], "sources": [{"ip": {"terms": {"field": field}}}]},
                "aggs": {"bytes": {"sum": {"field": fields["bytes"]}}},
            }
        },
    }


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ElastiFlowSource:
    """core.usage.sources.FlowSource over ElastiFlow indices."""

    def __init__(self, es=None, *, config: dict | None = None):
        self.config = elastiflow_config(config)
        self.es = es if es is not None else build_client(self.config)

    @property
    def index_pattern(self) -> str:
        return self.config["INDEX_PATTERN"]

    def hourly_bytes(self, start, end, networks: Sequence[str], *, exclude_prefixes: Sequence[str] = ()) -> FlowCounts:
        fields = FIELDS[self.config["SCHEMA"]]
        counts = FlowCounts(index_pattern=self.index_pattern, schema=self.config["SCHEMA"])
        digest = hashlib.sha256()
        batch_size = max(1, int(self.config["BATCH_SIZE"]))
        networks = list(networks)
        for offset in range(0, len(networks), batch_size):
            batch = networks[offset : offset + batch_size]
            for direction, field, other in (
                ("in", fields["dst"], fields["src"]),
                ("out", fields["src"], fields["dst"]),
            ):
                body = search_body(self.config, field, other, start, end, batch, exclude_prefixes)
                digest.update(json.dumps(body, sort_keys=True).encode())
                target = counts.bytes_in if direction == "in" else counts.bytes_out
                self._collect(body, target, counts)
        counts.query_hash = digest.hexdigest()
        return counts

    def _collect(self, body: dict, target: dict, counts: FlowCounts) -> None:
        after = None
        page_size = body["aggs"]["ips"]["composite"]["size"]
        while True:
            if after is not None:
                body = {**body, "aggs": {"ips": {**body["aggs"]["ips"]}}}
                body["aggs"]["ips"]["composite"] = {**body["aggs"]["ips"]["composite"], "after": after}
            response = self._search(body)
            counts.search_requests += 1
            try:
                agg = response["aggregations"]["ips"]
                buckets = agg["buckets"]
                for bucket in buckets:
                    ip = bucket["key"]["ip"]
                    value = bucket["bytes"]["value"] or 0
                    target[ip] = target.get(ip, 0) + int(round(value))
                    counts.docs[ip] = counts.docs.get(ip, 0) + int(bucket["doc_count"])
                    counts.doc_count += int(bucket["doc_count"])
            except (KeyError, TypeError) as exc:
                raise FlowSourceError(
                    f"Unexpected Elasticsearch response shape (missing {exc}).", kind="bad_response"
                ) from exc
            after = agg.get("after_key")
            # A page shorter than the page size is the last one: no extra empty request.
            if not buckets or not after or len(buckets) < page_size:
                return

    def _search(self, body: dict) -> dict:
        import elastic_transport
        from elasticsearch import ApiError, AuthenticationException, AuthorizationException, NotFoundError

        pattern = self.index_pattern
        try:
            response = self.es.search(index=pattern, allow_no_indices=False, ignore_unavailable=False, **body)
        except (AuthenticationException, AuthorizationException) as exc:
            raise FlowSourceError(
                f"Elasticsearch refused our credentials ({exc.meta.status}): check ELASTIFLOW_API_KEY or "
                "ELASTIFLOW_USERNAME/PASSWORD and the role's read access to the flow indices.",
                kind="auth",
            ) from exc
        except NotFoundError as exc:
            raise FlowSourceError(
                f"No index matches {pattern!r} ({_error_type(exc)}): check ELASTIFLOW_INDEX_PATTERN and that "
                "ElastiFlow is writing flows.",
                kind="missing_index",
            ) from exc
        except ApiError as exc:
            raise FlowSourceError(
                f"Elasticsearch rejected the usage query ({exc.meta.status} {_error_type(exc)}).", kind="bad_response"
            ) from exc
        except elastic_transport.TransportError as exc:
            raise FlowSourceError(
                f"Elasticsearch is unreachable at {', '.join(map(str, self.config['HOSTS']))}: {exc.message}",
                kind="unreachable",
            ) from exc
        data = response.body if hasattr(response, "body") else response
        shards = data.get("_shards") or {}
        if data.get("timed_out") or shards.get("failed"):
            raise FlowSourceError(
                f"Elasticsearch answered with partial results (timed_out={data.get('timed_out')}, "
                f"failed shards={shards.get('failed', 0)} of {shards.get('total', '?')}); the window is not written.",
                kind="bad_response",
            )
        return data


def _error_type(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("type") or error.get("reason") or "")
    return str(getattr(exc, "message", "") or "")
