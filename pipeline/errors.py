"""One error hierarchy, carrying data; rendered to text in one place (cli.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a file something is: 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One user-facing problem in a manifest: where, which field, what is wrong."""

    location: Location
    path: str  # readable field path, e.g. assets.hero.sizes[2]
    message: str

    def __str__(self) -> str:
        field = f" {self.path}:" if self.path else ""
        return f"{self.location}:{field} {self.message}"

    def sort_key(self) -> tuple:
        return (self.location.file, self.location.line, self.location.column, self.path)


class BrandkitError(Exception):
    """Base of every error a user can cause; exit code 1 unless a subclass says otherwise."""

    exit_code = 1


class ManifestError(BrandkitError):
    """The manifest is invalid; carries every problem found, sorted by position."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=Problem.sort_key)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(BrandkitError):
    """The command line's mistake (an unknown provider, a version that does not exist, a
    --keep below 1, --only matching nothing): exit 2, one line."""

    exit_code = 2


class MissingKeyError(BrandkitError):
    """A provider needs a secret that is not in the environment."""

    def __init__(self, provider: str, variables: tuple[str, ...]):
        self.provider = provider
        self.variables = variables
        names = " and ".join(variables)
        super().__init__(
            f"provider {provider!r} needs {names} in the environment "
            f"(for example: export {variables[0]}=...); keys are never read from files"
        )


class ProviderError(BrandkitError):
    """A provider refused or failed a job; `message` is the provider's own words."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        retryable: bool = False,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ):
        self.provider = provider
        self.message = message
        self.retryable = retryable
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.body = body  # the error response's JSON, if any: a batch's per-item errors
        super().__init__(f"{provider}: {message}")


class Interrupted(BrandkitError):
    exit_code = 130
