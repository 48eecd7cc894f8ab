"""Cloudflare Access: the team's signing keys and the check of a `Cf-Access-Jwt-Assertion`.

Facts (Cloudflare docs, "Validate JWTs"): Access signs an RS256 JWT per request and sends it in the
`Cf-Access-Jwt-Assertion` header (and the CF_Authorization cookie); the team's public keys are a JWKS
at https://<team>.cloudflareaccess.com/cdn-cgi/access/certs (rotated every 6 weeks, old and new both
listed); `aud` holds the application's AUD tag and `iss` is https://<team>.cloudflareaccess.com.
Keys are cached for an hour; an unknown `kid` refetches them once (a rotation).
"""

from __future__ import annotations

import jwt
from django.core.cache import cache

from integrations.http import ApiError, JsonApiClient

CACHE_SECONDS = 3600


class AccessDenied(Exception):
    """The assertion is missing, malformed, expired, or not for this team/application."""


class CertsClient(JsonApiClient):
    service_name = "cloudflare-access"


def _cache_key(team_domain: str) -> str:
    return f"cf-access-certs:{team_domain}"


def fetch_keys(team_domain: str, *, refresh: bool = False, transport=None) -> dict:
    key = _cache_key(team_domain)
    if not refresh:
        cached = cache.get(key)
        if cached:
            return cached
    client = CertsClient(f"https://{team_domain}", timeout=5.0, transport=transport)
    try:
        jwks = client.get("/cdn-cgi/access/certs")
    except ApiError as exc:
        raise AccessDenied(f"Cloudflare Access keys could not be fetched: {exc}") from exc
    finally:
        client.close()
    if not isinstance(jwks, dict) or not jwks.get("keys"):
        raise AccessDenied("Cloudflare Access returned no signing keys.")
    cache.set(key, jwks, CACHE_SECONDS)
    return jwks


def _signing_key(jwks: dict, kid: str | None):
    for entry in jwt.PyJWKSet.from_dict(jwks).keys:
        if kid is None or entry.key_id == kid:
            return entry.key
    return None


def verify_assertion(token: str, *, team_domain: str, audience: str, transport=None) -> dict:
    """The verified claims of a Cf-Access-Jwt-Assertion, or AccessDenied."""
    if not token:
        raise AccessDenied("No Cloudflare Access assertion on the request.")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise AccessDenied(f"Malformed Cloudflare Access assertion: {exc}") from exc
    key = _signing_key(fetch_keys(team_domain, transport=transport), kid)
    if key is None:
        key = _signing_key(fetch_keys(team_domain, refresh=True, transport=transport), kid)
    if key is None:
        raise AccessDenied("The assertion was signed by a key this team does not publish.")
    try:
        return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=f"https://{team_domain}",
                          options={"require": ["exp", "iat", "aud", "iss"]}, leeway=30)  # fmt: skip
    except jwt.PyJWTError as exc:
        raise AccessDenied(f"Cloudflare Access assertion refused: {exc}") from exc
