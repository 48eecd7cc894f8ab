"""The customer REST API, /api/v1/ (django-ninja). OpenAPI: /api/v1/openapi.json, docs: /api/v1/docs.

Layout:
    urls.py          builds the NinjaAPI (`api`) and mounts every router listed in ROUTERS
    auth.py          bearer tokens (core.accounts.services), per-token rate limit, scope per endpoint
    errors.py        one JSON error shape (code, message, fields) and the status of each error
    idempotency.py   Idempotency-Key on POSTs that create or charge (models.IdempotencyKey)
    pagination.py    ?page=&page_size= on every list, stable ordering
    schemas/         request/response schemas per resource (every one named in the OpenAPI document)
    routers/         one Router per resource; endpoints stay thin and call core services

Adding a resource (e.g. support tickets):
    1. schemas/tickets.py: the In/Out schemas (amounts as strings, ids as UUIDs where the model has one).
    2. routers/tickets.py: `router = Router(tags=["tickets"])`; each operation declares
       `auth=auth.read` (GET) or the scope that changes things, `response=responses({200: X}, 404, ...)`
       with every error status it can answer, looks objects up with routers.common.own(...) (404 for
       another customer's object, never 403), and calls the owning core services module.
       POSTs that create or charge get `@idempotent` under the route decorator and an
       `idempotency_key: str = IdempotencyKeyHeader` parameter.
    3. Add `("", tickets.router)` to ROUTERS in urls.py.
    4. Add the new routes to the sweep in tests/api/test_no_idor.py (it fails until you do).
"""
