"""ElastiFlow client against recorded Elasticsearch responses (real composite aggregation shape:
buckets, after_key, doc_count) through the real elasticsearch-py 8.x client; only HTTP is faked."""

import datetime as dt
import ipaddress

import elastic_transport
import pytest

from core.usage.sources import FlowSourceError
from integrations.elastiflow.client import ElastiFlowSource, build_client, elastiflow_config
from tests.usage.fake_es import Recorder, fake_client, payload

START = dt.datetime(2026, 11, 3, 10, tzinfo=dt.UTC)
END = START + dt.timedelta(hours=1)
NETWORKS = ["198.51.100.0/24", "2001:db8:0:1::/64", "203.0.113.10", "203.0.113.20"]


def source(responses, **config):
    recorder = Recorder(responses)
    return ElastiFlowSource(fake_client(recorder), config=config), recorder


def test_codex_query_pages_through_after_key_and_sums_bytes_without_resampling():
    src, rec = source(
        [payload("codex_composite_page1.json"), payload("codex_composite_page2.json"), payload("codex_composite_out.json")],
        PAGE_SIZE=2, SCHEMA="codex",
    )  # fmt: skip
    rec.responses.append(payload("codex_composite_out_page2.json"))
    counts = src.hourly_bytes(START, END, NETWORKS)
    first = rec.requests[0]
    assert first["target"].startswith("/elastiflow-flow-codex-*/_search?")
    assert "allow_no_indices=false" in first["target"]
    body = first["body"]
    assert body["size"] == 0 and body["track_total_hits"] is False
    time_filter, ip_filter = body["query"]["bool"]["filter"]
    assert time_filter == {
        "range": {"@timestamp": {"gte": "2026-11-03T10:00:00.000Z", "lt": "2026-11-03T11:00:00.000Z",
                                 "format": "strict_date_optional_time"}}
    }  # fmt: skip
    assert ip_filter == {"terms": {"flow.dst.ip.addr": NETWORKS}}
    composite = body["aggs"]["ips"]["composite"]
    assert composite["sources"] == [{"ip": {"terms": {"field": "flow.dst.ip.addr"}}}]
    assert "after" not in composite
    assert body["aggs"]["ips"]["aggs"] == {"bytes": {"sum": {"field": "flow.bytes"}}}
    # Page 2 continues after page 1's after_key.
    assert rec.requests[1]["body"]["aggs"]["ips"]["composite"]["after"] == {"ip": "203.0.113.10"}
    assert rec.requests[3]["body"]["aggs"]["ips"]["composite"]["after"] == {"ip": "203.0.113.10"}
    # Outbound: the service address is the flow's source.
    assert rec.requests[2]["body"]["query"]["bool"]["filter"][1] == {"terms": {"flow.src.ip.addr": NETWORKS}}
    assert counts.bytes_in == {"203.0.113.10": 2_147_483_648, "203.0.113.20": 52_000, "198.51.100.77": 750_000_000}
    # Already scaled by ElastiFlow for sampling: summed as is (3.0000000005e9 rounds once).
    assert counts.bytes_out == {
        "198.51.100.77": 4_000_000_000,
        "2001:db8:0:1::5": 1_000_000_000,
        "203.0.113.10": 3_000_000_000,
    }
    assert counts.doc_count == 1843 + 12 + 406 + 388 + 95 + 2011
    assert counts.search_requests == len(rec.requests) == 4
    assert counts.index_pattern == "elastiflow-flow-codex-*" and len(counts.query_hash) == 64


def test_ecs_schema_uses_ecs_field_names_and_index():
    src, rec = source([payload("ecs_composite.json"), payload("empty_composite.json")], SCHEMA="ecs")
    counts = src.hourly_bytes(START, END, ["203.0.113.10"])
    body_in, body_out = rec.requests[0]["body"], rec.requests[1]["body"]
    assert rec.requests[0]["target"].startswith("/elastiflow-flow-ecs-*/_search")
    assert body_in["query"]["bool"]["filter"][1] == {"terms": {"destination.ip": ["203.0.113.10"]}}
    assert body_out["query"]["bool"]["filter"][1] == {"terms": {"source.ip": ["203.0.113.10"]}}
    assert body_in["aggs"]["ips"]["aggs"]["bytes"]["sum"]["field"] == "network.bytes"
    assert counts.bytes_in == {"203.0.113.10": 125_000_000} and counts.bytes_out == {}


def test_own_prefixes_excluded_on_the_other_end_and_edge_exporters_only():
    src, rec = source([payload("empty_composite.json")] * 2, EXPORTERS=["192.0.2.1"], INDEX_PATTERN="flows-*")
    src.hourly_bytes(START, END, ["203.0.113.10"], exclude_prefixes=["203.0.113.0/24"])
    body_in, body_out = rec.requests[0]["body"], rec.requests[1]["body"]
    assert rec.requests[0]["target"].startswith("/flows-*/_search")
    assert {"terms": {"flow.export.ip.addr": ["192.0.2.1"]}} in body_in["query"]["bool"]["filter"]
    assert body_in["query"]["bool"]["must_not"] == [{"terms": {"flow.src.ip.addr": ["203.0.113.0/24"]}}]
    assert body_out["query"]["bool"]["must_not"] == [{"terms": {"flow.dst.ip.addr": ["203.0.113.0/24"]}}]


def test_networks_are_batched_per_request():
    src, rec = source([payload("empty_composite.json")] * 6, BATCH_SIZE=5)
    src.hourly_bytes(START, END, [f"10.0.0.{n}" for n in range(12)])
    assert len(rec.requests) == 6  # 3 batches x 2 directions
    assert [len(r["body"]["query"]["bool"]["filter"][1]["terms"]["flow.dst.ip.addr"]) for r in rec.requests[::2]] == [
        5,
        5,
        2,
    ]


def generated_pages(method, target, body, headers):
    """A cluster answering for every requested address, in composite pages of the requested size."""
    field = body["aggs"]["ips"]["composite"]["sources"][0]["ip"]["terms"]["field"]
    wanted = next(f["terms"][field] for f in body["query"]["bool"]["filter"] if "terms" in f)
    ips = sorted(wanted, key=lambda ip: int(ipaddress.ip_address(ip)))
    after = body["aggs"]["ips"]["composite"].get("after")
    if after:
        ips = [ip for ip in ips if int(ipaddress.ip_address(ip)) > int(ipaddress.ip_address(after["ip"]))]
    page = ips[: body["aggs"]["ips"]["composite"]["size"]]
    buckets = [{"key": {"ip": ip}, "doc_count": 40, "bytes": {"value": 1.5e8}} for ip in page]
    agg = {"buckets": buckets}
    if page:
        agg["after_key"] = {"ip": page[-1]}
    return 200, {"took": 5, "timed_out": False, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                 "hits": {"hits": []}, "aggregations": {"ips": agg}}  # fmt: skip


def test_ten_thousand_services_take_at_most_ten_searches_per_window():
    calls = []

    def handler(*args):
        calls.append(1)
        return generated_pages(*args)

    src = ElastiFlowSource(fake_client(handler))
    networks = [str(ipaddress.ip_address("100.64.0.0") + n) for n in range(10_000)]
    counts = src.hourly_bytes(START, END, networks)
    assert counts.search_requests == len(calls) <= 10
    assert len(counts.bytes_in) == len(counts.bytes_out) == 10_000


def test_query_hash_identifies_the_query():
    a, _ = source([payload("empty_composite.json")] * 2)
    b, _ = source([payload("empty_composite.json")] * 2)
    c, _ = source([payload("empty_composite.json")] * 2)
    h1 = a.hourly_bytes(START, END, ["203.0.113.10"]).query_hash
    assert h1 == b.hourly_bytes(START, END, ["203.0.113.10"]).query_hash
    assert h1 != c.hourly_bytes(START, END, ["203.0.113.11"]).query_hash


def test_client_speaks_the_8x_compatibility_header():
    src, rec = source([payload("empty_composite.json")] * 2)
    src.hourly_bytes(START, END, ["203.0.113.10"])
    accept = {k.lower(): v for k, v in rec.requests[0]["headers"].items()}["accept"]
    assert "compatible-with=8" in accept  # a 9.x client would send compatible-with=9, refused by 8.x


@pytest.mark.parametrize(
    ("response", "kind", "text"),
    [
        ((401, payload("error_401.json")), "auth", "refused our credentials (401)"),
        (
            (
                403,
                {
                    "error": {
                        "type": "security_exception",
                        "reason": "action [indices:data/read/search] is unauthorized",
                    },
                    "status": 403,
                },
            ),
            "auth",
            "403",
        ),
        ((404, payload("error_404_index.json")), "missing_index", "index_not_found_exception"),
        (
            (
                400,
                {"error": {"type": "search_phase_execution_exception", "reason": "all shards failed"}, "status": 400},
            ),
            "bad_response",
            "search_phase_execution_exception",
        ),
        ((200, payload("shard_failure.json")), "bad_response", "failed shards=1 of 6"),
        (elastic_transport.ConnectionError("Connection refused"), "unreachable", "unreachable at http://es.test:9200"),
        (elastic_transport.ConnectionTimeout("Read timed out"), "unreachable", "Read timed out"),
    ],
)
def test_errors_become_flow_source_errors_with_a_clear_message(response, kind, text):
    src, _ = source([response], HOSTS=["http://es.test:9200"])
    with pytest.raises(FlowSourceError) as exc:
        src.hourly_bytes(START, END, ["203.0.113.10"])
    assert exc.value.kind == kind
    assert text in str(exc.value)


def test_unexpected_response_shape_is_an_error():
    src, _ = source([{"took": 1, "timed_out": False, "_shards": {"total": 1, "failed": 0}, "hits": {"hits": []}}])
    with pytest.raises(FlowSourceError, match="Unexpected Elasticsearch response shape"):
        src.hourly_bytes(START, END, ["203.0.113.10"])


def test_client_settings_api_key_basic_auth_and_ca(settings, tmp_path):
    settings.ELASTIFLOW = {"HOSTS": ["https://es1:9200"], "API_KEY": "a2V5OnNlY3JldA==", "SCHEMA": "ecs"}
    config = elastiflow_config()
    assert config["INDEX_PATTERN"] == "elastiflow-flow-ecs-*"
    es = build_client(config)
    assert es._headers["authorization"] == "ApiKey a2V5OnNlY3JldA=="
    basic = build_client(elastiflow_config({"API_KEY": "", "USERNAME": "collector", "PASSWORD": "pw"}))
    assert basic._headers["authorization"].startswith("Basic ")
    with pytest.raises(FlowSourceError, match="codex"):
        elastiflow_config({"SCHEMA": "netflow"})


def test_end_to_end_collection_through_the_elastiflow_source(db, settings):
    """The collector with the ElastiFlow source: recorded pages become ledger rows per service."""
    from core import clock
    from core.usage import services
    from core.usage.models import HourlyUsage
    from tests.usage.conftest import make_service

    settings.USAGE = {"REREAD_WINDOWS": 1, "OWN_PREFIXES": []}
    a = make_service("203.0.113.10", at=START - dt.timedelta(days=1))
    b = make_service("198.51.100.77", at=START - dt.timedelta(days=1))
    src, rec = source([payload("codex_composite_page1.json"), payload("codex_composite_page2.json"),
                       payload("codex_composite_out.json"), payload("codex_composite_out_page2.json")], PAGE_SIZE=2)  # fmt: skip
    with clock.frozen_at(END + dt.timedelta(minutes=20)):
        window = services.collect_window(START, source=src)
    assert window.status == "ok" and window.search_requests == 4 and window.query_hash
    row_a = HourlyUsage.objects.get(service=a)
    assert (row_a.bytes_in, row_a.bytes_out, row_a.doc_count) == (2_147_483_648, 3_000_000_000, 1843 + 2011)
    row_b = HourlyUsage.objects.get(service=b)
    assert (row_b.bytes_in, row_b.bytes_out) == (750_000_000, 4_000_000_000)
    assert rec.requests[0]["body"]["query"]["bool"]["filter"][1]["terms"]["flow.dst.ip.addr"] == [
        "198.51.100.77",
        "203.0.113.10",
    ]
