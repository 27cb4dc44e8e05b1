"""Checks: each family module returns Findings and never prints."""

from __future__ import annotations

import enum
from typing import NamedTuple


class Severity(enum.IntEnum):
    INFO = 10
    WARNING = 20
    ERROR = 30

    def __str__(self) -> str:
        return self.name.lower()


class Finding(NamedTuple):
    """One finding of a check: code, severity, message, hint, location."""

    code: str  # "DS101": stable, documented in the README, never reused
    severity: Severity
    message: str
    hint: str | None = None
    location: str | None = None  # "docker-compose.yml:12" or "service web"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "hint": self.hint,
            "location": self.location,
        }


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity >= Severity.ERROR for f in findings)
