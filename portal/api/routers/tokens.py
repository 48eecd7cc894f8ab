"""API tokens: list, create (the secret is in this one answer only), revoke (core.accounts.services)."""

from ninja import Path, Router, Status
from ninja.pagination import paginate

from core.accounts.models import ApiToken
from core.accounts.services import create_api_token, revoke_api_token

from .. import auth
from ..errors import ApiError, NotFound, responses
from ..idempotency import IdempotencyKeyHeader, idempotent
from ..pagination import Mapped, Page
from ..query import known_query
from ..schemas.tokens import TokenCreatedOut, TokenCreateIn, TokenOut

router = Router(tags=["tokens"])


def token_out(token: ApiToken) -> dict:
    return {name: getattr(token, name) for name in TokenOut.model_fields}


def _own_token(user, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("token")
    return token


@router.get("/tokens", response=responses({200: list[TokenOut]}), auth=auth.read, summary="Your API tokens")
@known_query()
@paginate(Page)
def list_tokens(request):
    return Mapped(ApiToken.objects.filter(user=auth.caller(request).user).order_by("-created_at", "-id"), token_out)


@router.post("/tokens", response=responses({201: TokenCreatedOut}, 409), auth=auth.write,
             summary="Create an API token")  # fmt: skip
@idempotent
def create_token(request, payload: TokenCreateIn, idempotency_key: str = IdempotencyKeyHeader):
    """The secret is in this answer only (a retry with the same Idempotency-Key repeats it); store it now.
    A token can only create tokens with at most its own scopes."""
    caller = auth.caller(request)
    beyond = sorted(set(payload.scopes) - set(caller.token.scopes))
    if beyond:  # a narrower token must not be able to mint a wider one
        raise ApiError(422, "insufficient_scope", f"This token cannot grant {', '.join(beyond)}.",
                       fields={"scopes": [f"At most this token's scopes: {', '.join(caller.token.scopes)}."]})  # fmt: skip
    token, secret = create_api_token(caller.user, name=payload.name, scopes=payload.scopes,
                                     expires_at=payload.expires_at, actor=caller.user)  # fmt: skip
    return Status(201, {**token_out(token), "secret": secret})


@router.delete("/tokens/{token_id}", response=responses({200: TokenOut}, 404), auth=auth.write,
               summary="Revoke an API token")  # fmt: skip
def revoke_token(request, token_id: int = Path(..., ge=1, le=2_147_483_647)):
    caller = auth.caller(request)
    return token_out(revoke_api_token(_own_token(caller.user, token_id), actor=caller.user))
