import datetime as dt
from typing import Literal

from ninja import Field, Schema

Scope = Literal["read", "write", "services", "billing"]


class TokenOut(Schema):
    """An API token (its secret is never shown again)."""

    id: int
    name: str
    prefix: str = Field(description="First characters of the secret, to recognise it.")
    scopes: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    is_active: bool


class TokenCreateIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1, description="At most the scopes of the token making the request.")
    expires_at: dt.datetime | None = None


class TokenCreatedOut(TokenOut):
    secret: str = Field(description="Shown once: store it now. Send it as 'Authorization: Bearer <secret>'.")
