"""Builds the v1 API and its URLs (included from core/urls.py at api/v1/)."""

from django.urls import path
from ninja import NinjaAPI

from . import errors
from .routers import account, catalog, invoices, orders, payment_methods, services, tickets, tokens

# (prefix, router): every resource's routes are mounted here; see portal/api/__init__.py to add one.
ROUTERS = [
    ("", account.router),
    ("", catalog.router),
    ("", orders.router),
    ("", invoices.router),
    ("", services.router),
    ("", payment_methods.router),
    ("", tokens.router),
    ("", tickets.router),
]

DESCRIPTION = """The EZSCALE customer API: everything the customer portal does, for scripts and integrations.

**Authentication**: `Authorization: Bearer <token>` with a personal API token (portal, API tokens).
Each endpoint needs one scope: `read` for every GET; `write` for the profile and tokens;
`services` for power, plan changes and cancellation; `billing` for orders, payments and payment methods.

**Errors** are JSON `{"code", "message", "fields"}`; invalid input answers 422 with `fields`
(field path -> messages). An object that is not yours answers 404, exactly as a missing one.

**Rate limit**: per token; past it 429 with `Retry-After` (seconds).

**Idempotency**: send `Idempotency-Key` on POSTs that create or charge (orders, payments, plan
changes, cancellations, tokens). A retry with the same key and body gets the first answer
(header `Idempotent-Replayed: true`) and nothing happens twice; the same key with another body
answers 422. Keys are kept 24 hours.

**Lists** are paginated with `page` and `page_size` (1-100) and answer `{"items", "count"}`, newest
first with a stable order. Amounts are strings in the currency's decimals.
"""


class BackOfficeApi(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        return operation.view_func.__name__

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        retry_after = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                       "schema": {"type": "integer", "minimum": 1}}}  # fmt: skip
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, answer in operation.get("responses", {}).items():
                    code = int(status)
                    if code in errors.ERROR_DESCRIPTIONS:
                        answer["description"] = errors.ERROR_DESCRIPTIONS[code]
                    if code in (409, 429, 503):
                        answer["headers"] = retry_after
        return schema


api = BackOfficeApi(
    title="EZSCALE API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api_v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)
for prefix, router in ROUTERS:
    api.add_router(prefix, router)

urlpatterns = [path("", api.urls)]
