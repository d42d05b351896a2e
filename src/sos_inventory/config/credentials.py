"""The job's SOS API credentials, from the environment only (never the config file).

``SOS_API_EMAIL`` and ``SOS_API_TOKEN``, or ``SOS_API_TOKEN_FILE`` naming a file
that holds the token (a Jenkins secret file, a Kubernetes secret). The token and
the Basic credentials made of it are registered with :mod:`sos_inventory.redact`
the moment they are read, so that no output of the run can show them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sos_inventory.config.files import TOKEN, read_file
from sos_inventory.errors import ConfigError, UnreadableFile
from sos_inventory.outbound import is_loopback
from sos_inventory.redact import SHORT_SECRET, register_credentials, untrusted

#: The line that introduces a credential's problems.
CREDENTIALS = "credential problem(s)"
#: A token file is a few dozen bytes; anything much larger is the wrong file.
MAX_TOKEN_FILE = TOKEN.cap


@dataclass(frozen=True, slots=True)
class Credentials:
    """SOS API credentials; the token never shows in a repr or a message."""

    email: str
    token: str = field(repr=False)

    def __str__(self) -> str:
        return f"{self.email} (token hidden)"

    def check_for(self, url: str) -> None:
        """Refuse (ConfigError) a token too short to be a real one against an inventory that is not on
        this machine: it is a placeholder or a typo, and it could not be masked safely in the output."""
        host = urlsplit(url).hostname or ""
        if len(self.token) < SHORT_SECRET and not is_loopback(host):
            raise ConfigError(
                f"the SOS API token is {len(self.token)} character(s) long, too short for a real access "
                f"token (at least {SHORT_SECRET}), and {untrusted(host, 80)} is not this machine",
                action="Set SOS_API_TOKEN (or SOS_API_TOKEN_FILE) to the job's real SOS API access token; "
                "short demo tokens are accepted only by an inventory on loopback.",
                headline=CREDENTIALS,
            )


def credentials_from_env(environ: Mapping[str, str] | None = None) -> Credentials:
    """Read ``SOS_API_EMAIL`` and ``SOS_API_TOKEN`` (or ``SOS_API_TOKEN_FILE``, a file holding it).

    Raises ConfigError naming what is missing or unusable, never quoting the token. The
    token and the Basic credentials made of it are registered with :mod:`redact`, so
    that no output of the run can show them.
    """
    env = os.environ if environ is None else environ
    email = env.get("SOS_API_EMAIL", "").strip()
    token = env.get("SOS_API_TOKEN", "").strip()
    token_file = env.get("SOS_API_TOKEN_FILE", "").strip()
    if token and token_file:
        raise ConfigError("both SOS_API_TOKEN and SOS_API_TOKEN_FILE are set: keep one", headline=CREDENTIALS)
    if token_file:
        token = _token_from_file(token_file)
    missing = [name for name, value in (("SOS_API_EMAIL", email), ("SOS_API_TOKEN", token)) if not value]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} not set",
            action="Export the SOS API user's e-mail as SOS_API_EMAIL and its access token as "
            "SOS_API_TOKEN (or the path of a file holding it as SOS_API_TOKEN_FILE); in Jenkins, bind "
            "the sos-api credential with withCredentials; never put "
            "them in the config file.",
            headline=CREDENTIALS,
        )
    register_credentials(email, token)
    problems = []
    # Basic auth sends "email:token" in Latin-1 in a header: anything else cannot be sent as is.
    if ":" in email or not _sendable(email):
        problems.append("SOS_API_EMAIL must be Latin-1 text without ':' or control characters")
    if not _sendable(token):
        problems.append(
            "the SOS API token holds characters that cannot be sent in an HTTP header "
            "(only Latin-1 text without control characters): check the credential"
        )
    if problems:
        raise ConfigError(problems, headline=CREDENTIALS)
    return Credentials(email=email, token=token)


def _sendable(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return not any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in text)


def _token_from_file(name: str) -> str:
    try:
        data = read_file(name, TOKEN)
    except UnreadableFile as exc:
        raise ConfigError(f"SOS_API_TOKEN_FILE {exc}", headline=CREDENTIALS) from None
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(
            f"SOS_API_TOKEN_FILE {untrusted(name, 200)}: not UTF-8 text", headline=CREDENTIALS
        ) from None
