"""The whole exception tree of sos-inventory.

Library code raises only these; the CLI is the one place that turns them into
exit codes and messages. Retry and diagnosis decisions use the types and the
attributes, never the message text::

    SosInventoryError
    ├── ConfigError                 bad config, options or rule values    (exit 2)
    ├── InputError                  a devices file cannot be read at all,
    │                               or the report folder written          (exit 3)
    ├── LockHeld                    another run holds the state lock      (exit 5)
    ├── StateError                  the state store (lock, ledger, alert state) cannot
    │                               be written or read, or is newer than this tool (exit 3)
    ├── PlanFileError               a saved plan is unusable or too old   (exit 3)
    ├── UnreadableFile              a file given is missing, not a regular file or over
    │                               its cap (an item of the caller's own error)
    ├── UnsafePattern               a rule pattern that could run for ever (a ConfigError's item)
    ├── DiagnoseError               a console log cannot be read          (diagnose: exit 2)
    ├── RunStopped                  the run as a whole must stop          (exit 4, or 130/143)
    │   ├── CircuitOpen             N requests in a row failed: the inventory is down
    │   ├── DeadlineExceeded        the run's --deadline passed
    │   └── Interrupted             SIGINT / SIGTERM
    └── SosError                    talking to the SOS inventory          (context attrs)
        ├── SosTransportError       the request could not be made or completed
        │   ├── SosDnsError         the API host name did not resolve
        │   ├── SosConnectError     no TCP/TLS connection (refused, unreachable, timeout)
        │   └── SosTimeoutError     connected, but the answer did not come in time
        ├── SosTlsError             the server's certificate failed verification (no retry)
        ├── SosProtocolError        an answer that is not the API's shape, a redirect,
        │                           a body over the limit, a total that lies
        └── SosHttpError            the API answered with an error status
            ├── SosAuthError        401 / 403: credentials or role        (exit 4)
            ├── SosRateLimited      429
            ├── SosServerError      5xx
            └── SosRejected         any other 4xx (400, 404, 422, ...)

Messages never contain secrets: URLs are kept without credentials and the
Authorization header is never part of an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

Operation = Literal["query", "update"]


class SosInventoryError(Exception):
    """Base of every error this package raises on purpose.

    ``action`` says what fixes this very error, when the runbook's action for its category
    would be too general (a missing config file, a plan too old, an unknown run id).
    """

    action: str | None = None


class ConfigError(SosInventoryError):
    """The configuration, the command line or the environment is unusable.

    ``problems`` lists every problem found, so one run shows them all; ``action`` says
    what fixes them when the runbook's "fix the config" would not (a missing credential,
    an option out of range).
    """

    def __init__(
        self,
        problems: list[str] | str,
        *,
        action: str | None = None,
        headline: str = "configuration problem(s)",
    ) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.action = action
        self.headline = headline  # what the problems are about, for the one error line that lists them
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class FileProblem:
    """Why one devices file could not be read at all."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class InputError(SosInventoryError):
    """An input the run needs cannot be used (devices files that cannot be read, a report
    folder that cannot be written); nothing may be written."""

    def __init__(
        self,
        problems: list[FileProblem],
        *,
        headline: str = "devices file(s) cannot be read",
        action: str | None = None,
    ) -> None:
        self.problems = list(problems)
        self.headline = headline
        self.action = action
        super().__init__("; ".join(str(p) for p in self.problems))


class LockHeld(SosInventoryError):
    """Another run holds the lock of the state directory."""

    def __init__(self, path: str, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"another run holds {path}: {holder}")


class StateError(SosInventoryError):
    """The state store (the ledger: the evidence of every write) cannot be written or read, or was
    written by a newer version of the tool: no write without evidence."""

    def __init__(self, message: str, *, action: str | None = None) -> None:
        super().__init__(message)
        self.action = action


class PlanFileError(SosInventoryError):
    """A reviewed plan file cannot be read, is not a plan, or is older than allowed."""

    def __init__(self, message: str, *, action: str | None = None) -> None:
        super().__init__(message)
        self.action = action


class UnreadableFile(SosInventoryError):
    """A file the run is given cannot be read safely (config/files.py): missing, unreadable, not a
    regular file (a FIFO, a device, a folder) or over its kind's cap. The message names the file
    and the reason; each reader turns it into its own error (a config problem, a plan refused)."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


class UnsafePattern(SosInventoryError, ValueError):
    """A rule pattern could take super-linear time and the linear-time engine cannot run it
    (config/patterns.py); the config loader reports it as a config problem."""


class DiagnoseError(SosInventoryError):
    """A console log could not be read (a missing file, an unreachable build URL, ...)."""


class OutboundError(SosInventoryError):
    """A send outside the SOS client (webhook, pushgateway, Jenkins) was refused or failed.

    The message is a predicate of the sink ("answered HTTP 500", "did not answer within 5s"),
    shown after the sink's name; it holds no URL, so it is safe wherever the sink is secret.
    """


class RunStopped(SosInventoryError):
    """The run as a whole stops; ``cause`` is the inventory error behind it, if any."""

    def __init__(self, message: str, cause: SosError | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause


class CircuitOpen(RunStopped):
    """Several requests in a row failed for transient reasons: the inventory looks down."""


class DeadlineExceeded(RunStopped):
    """The run's deadline passed."""


class RateOutlastsDeadline(DeadlineExceeded):
    """The rate limit (``--max-rps``) leaves the next request no turn before the run's deadline:
    the two options cannot both hold, whatever the inventory does."""


class Interrupted(RunStopped):
    """A signal asked the run to stop."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.signal_number = signal_number


class SosError(SosInventoryError):
    """A request to the SOS inventory failed.

    Attributes carry the context a diagnosis needs: the operation, the C_Code,
    the URL (without credentials), and the hostname/unid for updates.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: Operation,
        c_code: str | None = None,
        url: str | None = None,
        hostname: str | None = None,
        unid: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason  # what a transport error was, when it says more (refused)
        # When it happened (UTC, to the second): the time a ticket gives the SOS API team.
        self.time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.operation: Operation = operation
        self.c_code = c_code
        self.url = url
        self.hostname = hostname
        self.unid = unid


class SosTransportError(SosError):
    """The request could not be made or completed (network, DNS, timeout)."""


class SosDnsError(SosTransportError):
    """The API host name could not be resolved."""


class SosConnectError(SosTransportError):
    """No connection could be opened, or it was dropped before an answer."""


class SosTimeoutError(SosTransportError):
    """The answer did not arrive in time."""


class SosTlsError(SosError):
    """The TLS handshake failed (the certificate did not verify): retrying cannot help."""


class SosProtocolError(SosError):
    """The API answered, but not in the shape of its contract."""


class SosHttpError(SosError):
    """The API answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        retry_after: float | None = None,
        operation: Operation,
        c_code: str | None = None,
        url: str | None = None,
        hostname: str | None = None,
        unid: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation, c_code=c_code, url=url, hostname=hostname, unid=unid)
        self.status = status
        self.code = code
        self.retry_after = retry_after


class SosAuthError(SosHttpError):
    """401 (bad or expired credentials) or 403 (role missing for the C_Code)."""


class SosRateLimited(SosHttpError):
    """429: too many requests."""


class SosServerError(SosHttpError):
    """5xx: the service failed."""


class SosRejected(SosHttpError):
    """Another 4xx: the request itself was refused (400, 404, 422, ...)."""


def http_error_class(status: int) -> type[SosHttpError]:
    """The error type for an HTTP error status."""
    if status in (401, 403):
        return SosAuthError
    if status == 429:
        return SosRateLimited
    if status >= 500:
        return SosServerError
    return SosRejected


#: 5xx statuses worth a retry: the service or a proxy in front of it failed for now.
RETRYABLE_5XX = frozenset({500, 502, 503, 504})


E = TypeVar("E", bound=BaseException)


def detached(error: E) -> E:
    """``error`` without its traceback and its chain (cause, context): the frames and the
    exceptions it would keep alive (an answer's body among their locals, a JSONDecodeError's
    document) are let go; its message and fields say all a report needs. Raised again, it
    carries the frames from there up only. For errors that are kept (a failed change's)."""
    error.__traceback__ = None
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error


def is_transient(error: SosError) -> bool:
    """True when a later attempt may succeed."""
    if isinstance(error, SosTransportError | SosRateLimited):
        return True
    return isinstance(error, SosServerError) and error.status in RETRYABLE_5XX
