"""Lists refuse query parameters they do not know (422), so a typo such as `?stauts=paid` is reported
instead of silently returning the unfiltered list."""

import json
from functools import wraps

from django.http import HttpResponse
from ninja.decorators import decorate_view

PAGING = ("page", "page_size")


def known_query(*names: str):
    """Apply under the route decorator of a list: `names` are its filters (paging is always allowed)."""
    allowed = frozenset(names) | frozenset(PAGING)

    def wrap(run):
        @wraps(run)
        def wrapper(request, *args, **kwargs):
            unknown = sorted(set(request.GET) - allowed)
            if unknown:
                fields = {name or "(empty name)": ["Unknown query parameter."] for name in unknown}
                body = {"code": "invalid_request", "message": f"Unknown query parameter: {', '.join(fields)}.",
                        "fields": fields}  # fmt: skip
                return HttpResponse(json.dumps(body), status=422, content_type="application/json")
            return run(request, *args, **kwargs)

        return wrapper

    return decorate_view(wrap)
