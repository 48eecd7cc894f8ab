"""WHMCS's reversible encryption of stored secrets (tblhosting.password and similar), decrypt side.

The key is `$cc_encryption_hash` from WHMCS's configuration.php. The algorithm, as WHMCS's own
`decrypt()` in includes/functions.php does it (read from several public copies of that file, from
the 5.x global-variable form to the later `DI::make("config")` form; the body is the same in all):

    key      = md5hex(md5hex(hash)) . md5hex(hash)            (a 64-character ASCII string)
    hash_key = sha1(key) as 20 raw bytes
    data     = base64_decode(stored)
    iv       = data[0:20] XOR hash_key;  body = data[20:]
    block 0 of the plaintext = body[0:20] XOR iv; then for each further 20-byte block i,
    the XOR key is sha1(previous key . plaintext block i-1) as raw bytes.

WHMCS's `_hash()` falls back to md5 when PHP lacks sha1, which no supported PHP does. Nothing here
is logged: neither the key nor any plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

BLOCK = 20  # bytes of a raw sha1 digest


class DecryptError(ValueError):
    """The stored value is not something WHMCS's encrypt() produced with this key."""


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data, usedforsecurity=False).digest()


def hash_key(cc_encryption_hash: str) -> bytes:
    """sha1 of md5hex(md5hex(hash)) . md5hex(hash), raw: the mask of the stored IV."""
    inner = hashlib.md5(cc_encryption_hash.encode(), usedforsecurity=False).hexdigest()
    outer = hashlib.md5(inner.encode(), usedforsecurity=False).hexdigest()
    return _sha1((outer + inner).encode())


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=False))


def decrypt_bytes(stored: str, mask: bytes) -> bytes:
    """The plaintext bytes of one stored value, given hash_key(cc_encryption_hash)."""
    try:
        # PHP's base64_decode (non-strict) skips characters outside the alphabet; so does this.
        data = base64.b64decode(stored.strip(), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DecryptError("not base64") from exc
    if len(data) < BLOCK:
        raise DecryptError("shorter than WHMCS's 20-byte IV")
    key = _xor(data[:BLOCK], mask)
    body = data[BLOCK:]
    out = bytearray()
    for start in range(0, len(body), BLOCK):
        if start:
            key = _sha1(key + bytes(out[start - BLOCK : start]))
        out += _xor(body[start : start + BLOCK], key)
    return bytes(out)


def decrypt(stored: str, cc_encryption_hash: str, *, mask: bytes | None = None) -> str:
    """The stored value as text. Raises DecryptError when it does not decrypt to clean UTF-8 text
    (a wrong key gives random bytes, which are almost never valid UTF-8 without control characters)."""
    plain = decrypt_bytes(stored, mask if mask is not None else hash_key(cc_encryption_hash))
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptError("does not decrypt to UTF-8 text (wrong key, or not encrypted by WHMCS)") from exc
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise DecryptError("decrypts to control characters (wrong key, or not encrypted by WHMCS)")
    return text
