"""A fake Elasticsearch node for the official client: requests go through the real
elasticsearch-py 8.x client and transport (serialisation, headers, product check, error mapping);
only the HTTP exchange is replaced by a handler returning recorded or generated responses."""

from __future__ import annotations

import json
from pathlib import Path

from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
from elastic_transport._node._base import NodeApiResponse

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


class FakeNode(BaseNode):
    handler = None  # set on a subclass: handler(method, target, body: dict | None) -> (status, dict)

    def perform_request(self, method, target, body=None, headers=None, request_timeout=None):
        parsed = json.loads(body) if body else None
        status, data = type(self).handler(method, target, parsed, headers)
        meta = ApiResponseMeta(
            status=status, http_version="1.1", duration=0.001, node=self.config,
            headers=HttpHeaders({"content-type": "application/json", "x-elastic-product": "Elasticsearch"}),
        )  # fmt: skip
        return NodeApiResponse(meta, json.dumps(data).encode())


def fake_client(handler, **kwargs):
    from elasticsearch import Elasticsearch

    node = type("RecordedNode", (FakeNode,), {"handler": staticmethod(handler)})
    return Elasticsearch("http://es.test:9200", node_class=node, max_retries=0, **kwargs)


class Recorder:
    """Handler that answers from a list (one response per request) and keeps the requests."""

    def __init__(self, responses):
        self.responses = list(responses)
        self.requests: list[dict] = []

    def __call__(self, method, target, body, headers):
        self.requests.append({"method": method, "target": target, "body": body, "headers": dict(headers or {})})
        response = self.responses.pop(0)
        if isinstance(response, Exception):
            raise response
        if isinstance(response, tuple):
            return response
        return 200, response
