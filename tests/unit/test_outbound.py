"""The one outbound policy (outbound.py), against real sockets on loopback."""

from __future__ import annotations

import ssl
import time
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest
import trustme

from sos_inventory.errors import OutboundError
from sos_inventory.outbound import Deadline, send, shown, target
from tests.httputil import LocalServer, send_text


class Recorder(BaseHTTPRequestHandler):
    """Answers POST /ok with 200, POST /moved with a 302 to /ok; records every request."""

    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_POST(self) -> None:
        Recorder.seen.append((self.path, self.headers.get("Authorization")))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        send_text(self, "ok" * 100_000)  # more than MAX_ANSWER: read up to it and dropped

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> LocalServer:
    Recorder.seen = []
    return LocalServer(Recorder)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "is not an http(s) URL (file:)"),
        ("ftp://example.com/x", "is not an http(s) URL (ftp:)"),
        ("http:///no-host", "is not an http(s) URL"),
        ("http://127.0.0.1:notaport/", "is not a valid URL"),
    ],
)
def test_only_http_urls_are_sent_to(url: str, reason: str) -> None:
    with pytest.raises(OutboundError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        target(url)


def test_credentials_never_travel_in_clear_off_loopback() -> None:
    for url in ("http://hooks.example.com/T/B/x", "http://0.0.0.0:9/x", "http://10.1.2.3/x"):
        with pytest.raises(OutboundError, match="plain http off loopback: the token would travel in clear"):
            target(url, credentials="the token")
    with pytest.raises(OutboundError, match="the URL's user:password would travel in clear"):
        target("http://u:p@gw.example.com/")
    # https anywhere, http on loopback, and http without credentials pass.
    for url in ("https://hooks.example.com/x", "http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]/"):
        target(url, credentials="the token")
    assert target("http://gw.example.com/").authorization is None


def test_a_url_user_password_becomes_basic_credentials_and_is_masked_when_shown() -> None:
    where = target("https://metrics:s3cret%21@gw.example.com:9091/x?token=1")
    assert where.authorization == "Basic bWV0cmljczpzM2NyZXQh"  # metrics:s3cret!
    assert where.path == "/x?token=1"
    assert shown(where.url) == "https://metrics:***@gw.example.com:9091/x?token=***"


def test_a_send_answered_2xx(server: LocalServer) -> None:
    with server:
        assert send("POST", f"{server.url}/ok", deadline=Deadline.after(5), body=b"{}") == 200
    assert Recorder.seen == [("/ok", None)]


def test_no_redirect_is_followed_not_even_on_the_same_origin(server: LocalServer) -> None:
    with server, pytest.raises(OutboundError) as caught:
        send("POST", f"{server.url}/moved", deadline=Deadline.after(5), credentials="the token")
    assert str(caught.value) == (
        "answered HTTP 302, a redirect to the same origin: not followed, so the token stay where they belong"
    )
    assert Recorder.seen == [("/moved", None)]


def test_user_password_of_the_url_is_sent_as_basic_auth_on_loopback(server: LocalServer) -> None:
    with server:
        url = server.url.replace("http://", "http://u:p@") + "/ok"
        send("POST", url, deadline=Deadline.after(5))
    assert Recorder.seen == [("/ok", "Basic dTpw")]


def test_one_deadline_for_every_send(server: LocalServer) -> None:
    spent = Deadline(10.0, time.monotonic() - 1)
    with server, pytest.raises(OutboundError, match="was not tried: the run's sends had 10s in all"):
        send("POST", f"{server.url}/ok", deadline=spent)
    assert Recorder.seen == []


def test_a_send_never_outlasts_its_deadline() -> None:
    import socket

    with socket.socket() as silent:  # accepts connections (the backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        # The socket's own timeout and the thread's join end at the same moment: either may say it.
        with pytest.raises(OutboundError, match=r"did not answer (within 0\.5s|in time)"):
            send("POST", f"http://127.0.0.1:{silent.getsockname()[1]}/", deadline=Deadline.after(0.5))
        assert time.monotonic() - started < 3


def test_tls_is_verified() -> None:
    authority = trustme.CA()
    server = LocalServer(Recorder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    with server, pytest.raises(OutboundError, match="TLS certificate did not verify"):
        send("POST", server.url.replace("http:", "https:") + "/ok", deadline=Deadline.after(5))
