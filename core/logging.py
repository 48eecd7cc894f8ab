"""Logging filter that removes secrets before a record is written anywhere."""

import logging
import re

_PATTERNS = [
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer\s+|basic\s+)?[^\s\"',}]+"),
    re.compile(r"(?i)((?:api[_-]?key|secret|password|token|client_secret|key)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
    re.compile(r"\b(sk|rk|pk|whsec)_(live|test)_[A-Za-z0-9]+"),
    re.compile(r"\bptl[ac]_[A-Za-z0-9]+"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        if pattern.groups >= 2 and pattern.pattern.startswith("(?i)("):
            text = pattern.sub(lambda m: m.group(1) + "[REDACTED]", text)
        else:
            text = pattern.sub("[REDACTED]", text)
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
        return True
