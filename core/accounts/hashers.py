"""Password hashers for logins imported from WHMCS, so customers keep their passwords.

The WHMCS hash is stored as it was, behind an algorithm prefix (`whmcs_bcrypt$`, `whmcs_md5$`,
`whmcs_hmac$`). These hashers come after Django's default in PASSWORD_HASHERS, so the first
successful login re-hashes the password with the default (Django's check_password does that
whenever the stored hasher is not the preferred one). They never create new hashes.

Formats (../shared/reference/services.md 7.4):
- WHMCS >= 6.3: PHP password_hash() bcrypt, `$2y$10$...`. PHP uses only the first 72 bytes of
  the password; Python's bcrypt refuses longer ones, so the candidate is cut to 72 bytes.
- 4.2.1 - 6.2: `md5(salt . password) . ':' . salt` (salt length varies; the digest is 32 hex).
- Old admin-style `hex(hmac_sha256(key=salt, msg=password)) . ':' . salt`, and bare `md5(password)`.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.translation import gettext_noop as _

_BCRYPT = re.compile(r"^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$")
_HEX64_SALT = re.compile(r"^[0-9a-fA-F]{64}:.+$", re.S)
_HEX32_SALT = re.compile(r"^[0-9a-fA-F]{32}:.+$", re.S)
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def whmcs_encoded_password(raw_hash: str) -> str:
    """A WHMCS password hash as a Django encoded password; unusable ('!') when the format is unknown."""
    value = (raw_hash or "").strip()
    if _BCRYPT.match(value):
        return f"whmcs_bcrypt${value}"
    if _HEX64_SALT.match(value):
        return f"whmcs_hmac${value}"
    if _HEX32_SALT.match(value) or _HEX32.match(value):
        return f"whmcs_md5${value}"
    return "!whmcs-unknown-format"


class _WhmcsHasher(BasePasswordHasher):
    """Verify-only: an imported hash is checked once, then replaced by Django's default."""

    def encode(self, password, salt):
        raise NotImplementedError("WHMCS hashes are only verified; new passwords use Django's default hasher.")

    def _stored(self, encoded: str) -> str:
        prefix = f"{self.algorithm}$"
        if not encoded.startswith(prefix):
            raise ValueError(f"Not a {self.algorithm} password")
        return encoded[len(prefix) :]

    def decode(self, encoded):
        return {"algorithm": self.algorithm, "hash": self._stored(encoded), "salt": ""}

    def safe_summary(self, encoded):
        return {_("algorithm"): self.algorithm, _("hash"): mask_hash(self._stored(encoded))}

    def must_update(self, encoded):
        return True

    def harden_runtime(self, password, encoded):
        pass


class WhmcsBcryptPasswordHasher(_WhmcsHasher):
    algorithm = "whmcs_bcrypt"
    library = ("bcrypt", "bcrypt")

    def verify(self, password, encoded):
        bcrypt = self._load_library()
        stored = self._stored(encoded).encode("ascii")
        # $2y$ is PHP's name for the fixed $2a$ variant; the bcrypt library reads $2b$ the same way.
        if stored[:4] in (b"$2y$", b"$2x$", b"$2a$"):
            stored = b"$2b$" + stored[4:]
        try:
            return bcrypt.checkpw(password.encode("utf-8")[:72], stored)
        except ValueError:
            return False


class WhmcsMD5PasswordHasher(_WhmcsHasher):
    """`md5(salt . password):salt` and bare `md5(password)`."""

    algorithm = "whmcs_md5"

    def verify(self, password, encoded):
        # The digest is always 32 hex characters; everything after the ':' that follows it is the
        # salt, whatever its length and even when it contains ':' itself.
        stored = self._stored(encoded)
        digest, salt = stored[:32], stored[33:]
        candidate = hashlib.md5((salt + password).encode("utf-8"), usedforsecurity=False).hexdigest()
        return hmac.compare_digest(candidate, digest.lower())


class WhmcsHMACPasswordHasher(_WhmcsHasher):
    """`hex(hmac_sha256(key=salt, msg=password)):salt` (old WHMCS admin passwords on old PHP)."""

    algorithm = "whmcs_hmac"

    def verify(self, password, encoded):
        stored = self._stored(encoded)
        digest, key = stored[:64], stored[65:]
        candidate = hmac.new(key.encode("utf-8"), password.encode("utf-8"), hashlib.sha256).hexdigest()
        return hmac.compare_digest(candidate, digest.lower())


WHMCS_PASSWORD_HASHERS = [
    "core.accounts.hashers.WhmcsBcryptPasswordHasher",
    "core.accounts.hashers.WhmcsMD5PasswordHasher",
    "core.accounts.hashers.WhmcsHMACPasswordHasher",
]
