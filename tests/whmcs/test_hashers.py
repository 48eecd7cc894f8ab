"""WHMCS password hashes verify once, then Django re-hashes with its default hasher."""

import hashlib

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher

from core.accounts.hashers import whmcs_encoded_password
from tests.whmcs.source_db import hmac_sha256, md5_salted, php_bcrypt

PASSWORDS = ['it\'s "quoted"', "Grüße ñ 密码 🔑", "back\\slash;DROP TABLE"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize(
    "make",
    [
        php_bcrypt,
        lambda p: md5_salted(p, "a:b!c"),  # a salt with ':' in it
        lambda p: hmac_sha256(p, "key'42"),
        lambda p: hashlib.md5(p.encode(), usedforsecurity=False).hexdigest(),
    ],
    ids=["bcrypt-2y", "md5-salted", "hmac-sha256", "md5-bare"],
)
def test_every_whmcs_format_verifies_the_right_password_only(password, make):
    encoded = whmcs_encoded_password(make(password))
    assert encoded.startswith("whmcs_")
    assert check_password(password, encoded)
    assert not check_password(password + "!", encoded)
    assert not check_password(password.upper() + "x", encoded)


def test_bcrypt_uses_only_the_first_72_bytes_like_php():
    password = "ä" * 36 + "tail"  # 72 bytes of 'ä', then more
    encoded = whmcs_encoded_password(php_bcrypt(password))
    assert check_password(password, encoded)
    assert check_password("ä" * 36 + "other tail", encoded)  # PHP ignores bytes after the 72nd
    assert not check_password("ä" * 35, encoded)


def test_successful_check_rehashes_with_the_default_hasher():
    encoded = whmcs_encoded_password(php_bcrypt("s3cret'"))
    saved = []
    assert check_password("s3cret'", encoded, setter=saved.append)
    assert saved == ["s3cret'"]  # Django calls the setter to store a default-hasher hash
    failed = []
    assert not check_password("wrong", encoded, setter=failed.append)
    assert failed == []


def test_unknown_formats_are_unusable():
    assert whmcs_encoded_password("") == "!whmcs-unknown-format"
    assert whmcs_encoded_password("plaintext") == "!whmcs-unknown-format"
    assert identify_hasher(whmcs_encoded_password(php_bcrypt("x"))).algorithm == "whmcs_bcrypt"
