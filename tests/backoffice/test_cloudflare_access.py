"""Cloudflare Access in front of the admin: assertions verified against the team's public keys
(keys made here), audience and issuer checked, expired or foreign tokens refused, key rotation."""

import datetime as dt
import json

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import rsa
from django.urls import reverse

from core.audit.models import AuditLog

pytestmark = pytest.mark.django_db
TEAM = "ezscale.cloudflareaccess.com"
AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"
CERTS = f"https://{TEAM}/cdn-cgi/access/certs"


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(*pairs):
    keys = []
    for kid, private in pairs:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
    return {"keys": keys, "public_cert": {"kid": pairs[0][0], "cert": "-----BEGIN CERTIFICATE-----..."}}


def _token(private, kid="k1", *, aud=AUD, iss=f"https://{TEAM}", minutes=10):
    now = dt.datetime.now(dt.UTC)
    claims = {"aud": [aud], "email": "ops@ezscale.example", "exp": now + dt.timedelta(minutes=minutes),
              "iat": now, "nbf": now, "iss": iss, "type": "app", "sub": "7335d417-61da-459d-899c-0a01c76a2f94"}  # fmt: skip
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def access(settings):
    settings.CF_ACCESS_TEAM_DOMAIN = TEAM
    settings.CF_ACCESS_AUDIENCE = AUD
    key = _key()
    with respx.mock(assert_all_called=False) as router:
        route = router.get(CERTS).mock(return_value=httpx.Response(200, json=_jwks(("k1", key))))
        yield key, route, router


def _admin(client, token=None):
    headers = {"HTTP_CF_ACCESS_JWT_ASSERTION": token} if token else {}
    return client.get(reverse("admin:index"), **headers)


def test_without_an_assertion_the_admin_is_refused_and_audited(client, access):
    assert _admin(client).status_code == 403
    assert AuditLog.objects.filter(action="auth.cf_access_refused").exists()


def test_a_valid_assertion_passes_on_to_the_login(client, access):
    key, route, _ = access
    response = _admin(client, _token(key))
    assert response.status_code == 302  # on to Django's own login and second factor
    assert route.call_count == 1
    _admin(client, _token(key))
    assert route.call_count == 1  # keys cached


@pytest.mark.parametrize(
    "bad",
    [
        lambda key: _token(key, aud="another-application"),
        lambda key: _token(key, iss="https://evil.cloudflareaccess.com"),
        lambda key: _token(key, minutes=-5),
        lambda key: _token(_key()),  # right kid, wrong key
        lambda key: "not.a.jwt",
    ],
    ids=["audience", "issuer", "expired", "foreign-key", "garbage"],
)
def test_bad_assertions_are_refused(client, access, bad):
    key, _, _ = access
    assert _admin(client, bad(key)).status_code == 403


def test_a_rotated_key_is_fetched_once(client, access):
    old, route, router = access
    new = _key()
    _admin(client, _token(old))
    route.mock(return_value=httpx.Response(200, json=_jwks(("k1", old), ("k2", new))))
    assert _admin(client, _token(new, kid="k2")).status_code == 302
    assert route.call_count == 2


def test_portal_pages_are_not_behind_access(client, access):
    assert client.get(reverse("portal:login")).status_code == 200


def test_off_when_not_configured(client, settings):
    settings.CF_ACCESS_TEAM_DOMAIN = ""
    assert _admin(client).status_code == 302
