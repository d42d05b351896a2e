"""The runbook's vocabulary: failure categories, their actions and messages (SPEC 8).

Kept as data so the console, the reports and diagnosis all say the same thing.
"""

from __future__ import annotations

from enum import StrEnum

from sos_inventory.errors import (
    SosAuthError,
    SosDnsError,
    SosError,
    SosHttpError,
    SosRateLimited,
    SosTransportError,
)


class Category(StrEnum):
    """Diagnosis categories (SPEC 8)."""

    DNS_LOOKUP_FAILURE = "dns_lookup_failure"
    NETWORK_TIMEOUT = "network_timeout"
    SOS_API_ERROR = "sos_api_error"
    AUTH_FAILURE = "auth_failure"
    RATE_LIMITED = "rate_limited"
    DUPLICATE_HOSTNAME = "duplicate_hostname"
    INPUT_ERROR = "input_error"
    SAFETY_GUARD = "safety_guard"
    CODE_DEFECT = "code_defect"


#: What the on-call SRE should do, per category.
ACTIONS: dict[Category, str] = {
    Category.DNS_LOOKUP_FAILURE: (
        "DNS problem on the resolver named in the error: rerun the job; if it persists ask in "
        "#sos-api and raise an SOS ticket if needed."
    ),
    Category.NETWORK_TIMEOUT: (
        "Connectivity problem between Jenkins and SOS: rerun the job; if it persists ask TaaS in "
        "#taas-jenkins-help to check VPN and network connectivity, and raise a TaaS ticket with the "
        "error, its time and the IP addresses involved."
    ),
    Category.SOS_API_ERROR: (
        "Unexpected result from the SOS API: rerun the job; if it persists ask in #sos-api and raise "
        "an SOS ticket (Assignment Group 'SOS API', Severity 2, the C_Code from the error or ALC, "
        "the API's error and its time)."
    ),
    Category.AUTH_FAILURE: (
        "The SOS API refused the credentials: renew the access token in the job's credentials "
        "(401) or request the Editor role for the C_Code (403). Rerunning will not help."
    ),
    Category.RATE_LIMITED: "The SOS API is rate limiting the job: wait, then rerun with a lower --concurrency.",
    Category.DUPLICATE_HOSTNAME: (
        "Two machines share a hostname: check for duplicates of this hostname in the SoftLayer "
        "portal; one must be renamed (renaming usually needs a reload and re-bootstrap)."
    ),
    Category.INPUT_ERROR: "Fix the devices.csv export or the config named in the message, then rerun.",
    Category.SAFETY_GUARD: (
        "Review the plan (sos-inventory plan); if the change is real, rerun with an explicit override."
    ),
    Category.CODE_DEFECT: (
        "Likely a defect in the automation: open an issue against sos-inventory with the console "
        "output and contact the Compliance Focal."
    ),
}

#: Categories a rerun may fix.
TRANSIENT: frozenset[Category] = frozenset(
    {
        Category.DNS_LOOKUP_FAILURE,
        Category.NETWORK_TIMEOUT,
        Category.SOS_API_ERROR,
        Category.RATE_LIMITED,
    }
)

QUERY_FAILED = "Failed to query SOS inventory"
QUERY_ERROR = "SOS inventory returned an error when querying"
UPDATE_FAILED = "Failed to update SOS inventory"
UPDATE_ERROR = "SOS inventory returned an error when updating"
UNEXPECTED_SERVERS = "SOS inventory returned an unexpected number of servers when querying"


def category_of(error: SosError) -> Category:
    """The runbook category of an inventory error, from its type."""
    if isinstance(error, SosDnsError):
        return Category.DNS_LOOKUP_FAILURE
    if isinstance(error, SosTransportError):
        return Category.NETWORK_TIMEOUT
    if isinstance(error, SosAuthError):
        return Category.AUTH_FAILURE
    if isinstance(error, SosRateLimited):
        return Category.RATE_LIMITED
    return Category.SOS_API_ERROR


def message_of(error: SosError) -> str:
    """The runbook message for an inventory error: its exact prefix, then the detail."""
    if isinstance(error, SosHttpError):
        prefix = QUERY_ERROR if error.operation == "query" else UPDATE_ERROR
    else:
        prefix = QUERY_FAILED if error.operation == "query" else UPDATE_FAILED
    where = f" (C_Code {error.c_code})" if error.c_code else ""
    return f"{prefix}{where}: {error.message}"
