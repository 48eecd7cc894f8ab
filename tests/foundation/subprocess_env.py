"""Environment for settings tests that start a fresh Python process (settings are read once, at import)."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

# Only these pass from the outer test run: anything else (DATABASE_URL, REDIS_URL, or
# DJANGO_ALLOW_ASYNC_UNSAFE set by browser tests) would change what the child process checks.
_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYENV_VERSION")


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The variables README documents for production, with SQLite standing in for MySQL."""
    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "k3y-" + "x7Qa9Zp2Lm4Rt8Wv" * 4,
        "ALLOWED_HOSTS": "billing.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://billing.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        "FIELD_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
        "EMAIL_PROVIDER": "mailgun",
        "MAILGUN_API_KEY": "key-0123456789abcdef",
        "MAILGUN_SENDER_DOMAIN": "mg.example.com",
        "MAILGUN_WEBHOOK_SIGNING_KEY": "whsk-0123456789",
        "DEFAULT_FROM_EMAIL": "EZSCALE <billing@example.com>",
        "SITE_URL": "https://billing.example.com",
        "OTP_WEBAUTHN_RP_ID": "billing.example.com",
        "OTP_WEBAUTHN_ALLOWED_ORIGINS": "https://billing.example.com",
        **extra,
    }


def run_python(env: dict[str, str], *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k in _KEEP}
    clean.update(env)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=timeout, check=False
    )
