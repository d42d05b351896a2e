"""Each HTTP error status maps to one error class, and that class decides retry and exit code."""

from __future__ import annotations

import pytest

from sos_inventory.errors import (
    ConfigError,
    SosAuthError,
    SosHttpError,
    SosRateLimited,
    SosRejected,
    SosServerError,
    http_error_class,
    is_transient,
)

CLASSES: dict[int, type[SosHttpError]] = {
    400: SosRejected,
    401: SosAuthError,
    403: SosAuthError,
    404: SosRejected,
    409: SosRejected,
    422: SosRejected,
    429: SosRateLimited,
    499: SosRejected,
    500: SosServerError,
    501: SosServerError,
    502: SosServerError,
    503: SosServerError,
    504: SosServerError,
    599: SosServerError,
}
# Worth another try: the service was busy or broken for a moment. A 501 says the
# call itself is not supported, which no retry changes.
TRANSIENT = {429, 500, 502, 503, 504}


def test_a_config_error_keeps_one_problem_or_each_of_many() -> None:
    assert ConfigError("bad key").problems == ["bad key"]
    assert ConfigError(["one", "two"]).problems == ["one", "two"]
    assert str(ConfigError(["one", "two"])) == "one; two"


@pytest.mark.parametrize("status", sorted(CLASSES))
def test_each_status_has_its_class(status: int) -> None:
    assert http_error_class(status) is CLASSES[status]


@pytest.mark.parametrize("status", sorted(CLASSES))
def test_only_a_busy_or_failing_service_is_retried(status: int) -> None:
    error = http_error_class(status)(f"HTTP {status}", status=status, operation="update", c_code="ALC")
    assert is_transient(error) is (status in TRANSIENT)
