"""The OpenAPI document: versioned, every schema named, every error answer described; docs served."""

from portal.api.errors import ERROR_DESCRIPTIONS


def _walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from _walk(value, f"{path}/{n}")


def test_openapi_document_is_versioned_and_complete(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["version"] == "1"
    assert all(path.startswith("/api/v1/") for path in schema["paths"])
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation.get("operationId") and operation.get("summary"), where
            assert operation.get("security"), where
            for status in ("401", "403", "422", "429"):
                assert status in operation["responses"], (where, status)
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert answer["description"] == ERROR_DESCRIPTIONS[int(status)], (where, status)
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ApiErrorOut"), where
                if int(status) == 429:
                    assert "Retry-After" in answer["headers"]
            if "{" in path:
                assert "404" in operation["responses"] or path.endswith("{slug}"), where
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                assert "$ref" in body, f"{where}: request body schema must be named"
            for status, answer in operation["responses"].items():
                content = answer.get("content", {}).get("application/json", {}).get("schema")
                if content:
                    assert "$ref" in content, f"{where} {status}: response schema must be named"
    # Every object schema is a named component (no anonymous objects in request/response bodies).
    names = set(schema["components"]["schemas"])
    assert {"ApiErrorOut", "ServiceOut", "PagedServiceOut", "OrderIn", "TokenCreatedOut"} <= names
    scheme = schema["components"]["securitySchemes"]["TokenAuth"]
    assert scheme["scheme"] == "bearer" and "billing" in scheme["description"]


def test_idempotency_key_is_documented_on_posts_that_create_or_charge(client):
    schema = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/orders", "/api/v1/invoices/{invoice_id}/pay", "/api/v1/services/{service_id}/change-plan",
                 "/api/v1/tokens"):  # fmt: skip
        params = {p["name"] for p in schema["paths"][path]["post"].get("parameters", [])}
        assert "Idempotency-Key" in params, path


def test_docs_page_is_served(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content
