"""Logging filter that removes secrets before a record is written anywhere.

Attach it to loggers (not only handlers): a logger-level filter rewrites the record
before any handler sees it, including handlers added later (Sentry, pytest's caplog).
"""

import logging
import re

REDACTED = "[REDACTED]"

# A pattern's `keep` group (the label, e.g. "api_key=") survives; the rest of the match is replaced.
_PATTERNS = [
    re.compile(r"(?i)(?P<keep>authorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+|token\s+)?)[^\s\"',}]+"),
    re.compile(
        r"(?i)(?P<keep>\b(?:api[_-]?key|api[_-]?secret|secret|password|passwd|token|access_token|refresh_token"
        r"|client_secret|key)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
    ),
    re.compile(r"\b(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]+"),
    re.compile(r"\bptl[ac]_[A-Za-z0-9]+"),
    re.compile(r"\bezs_[A-Za-z0-9_-]{20,}"),
    # A Discord webhook URL is a credential (anyone holding it can post); httpx logs request URLs.
    re.compile(r"(?i)(?P<keep>discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d+/)[\w-]+"),
]


def _replace(match: re.Match) -> str:
    keep = match.groupdict().get("keep")
    return (keep or "") + REDACTED


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(_replace, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logged as-is rather than lost
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Exception text (e.g. an httpx error quoting a URL) is formatted later; redact it now.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
