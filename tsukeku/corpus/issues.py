"""Problems found while reading a source: each names the file and line and says why.

A bad record is reported, counted and skipped; in strict mode the first one stops the run with a
`DataError`. Warnings (a verse off its form, a poem that is not a tanka) never stop a run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tsukeku.errors import DataError


@dataclass(frozen=True)
class Issue:
    path: str
    line: int | None
    reason: str
    severity: str = "error"  # "error": the record was skipped; "warning": kept or not a record

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "line": self.line,
            "reason": self.reason,
            "severity": self.severity,
        }


@dataclass
class IssueLog:
    """Collects the issues of one or more sources."""

    strict: bool = False
    issues: list[Issue] = field(default_factory=list)

    def bad(self, path: str | os.PathLike, line: int | None, reason: str) -> None:
        """A bad record: skipped, or fatal in strict mode."""
        issue = Issue(str(path), line, reason, "error")
        if self.strict:
            raise DataError(
                f"{issue} (strict mode: fix the record, or run without --strict to skip it)"
            )
        self.issues.append(issue)

    def warn(self, path: str | os.PathLike, line: int | None, reason: str) -> None:
        self.issues.append(Issue(str(path), line, reason, "warning"))

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]
