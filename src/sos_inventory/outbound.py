"""The alert webhook's requests, made with the standard library.

They follow no redirect: a 3xx surfaces as ``urllib.error.HTTPError``, so that
the alert (and the webhook URL's credential) never goes to an address nobody
configured. (``jenkins.py`` keeps Jenkins credentials to the build URL's origin.)
"""

from __future__ import annotations

import ipaddress
import urllib.request
from http.client import HTTPResponse
from typing import Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def open_url(request: urllib.request.Request, timeout: float) -> HTTPResponse:
    """``urlopen`` without redirects."""
    response: HTTPResponse = urllib.request.build_opener(_NoRedirect).open(request, timeout=timeout)
    return response


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` names this machine without a resolver (localhost, 127.0.0.0/8, ::1)."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False
