"""Mosquitto password hashes: PBKDF2-HMAC-SHA512 in mosquitto 2's ``$7$`` format.

A line of a mosquitto password file is ``username:$7$<iterations>$<salt b64>$<hash b64>``
with a 12-byte random salt and a 64-byte derived key, both in standard base64 (what
``mosquitto_passwd`` writes). Mosquitto reads any iteration count; we use more than its
default 101, so a stolen password file is slower to attack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["ITERATIONS", "hash_password", "new_password", "verify_password"]

ITERATIONS = 10_000
_SALT_LEN = 12
_KEY_LEN = 64


def new_password() -> str:
    """A random password: 32 URL-safe characters (192 bits)."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """The ``$7$`` hash of ``password`` (a fresh random salt unless one is given)."""
    if iterations < 1:
        raise ValueError("iterations must be >= 1")
    salt = secrets.token_bytes(_SALT_LEN) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _KEY_LEN)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (constant-time comparison)."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
        want = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]), len(want))
    return hmac.compare_digest(got, want)
