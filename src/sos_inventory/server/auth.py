"""Users of the reference SOS server and their roles per C_Code.

Users come from a YAML file (``--users users.yaml``) or, failing that, from the
``SOS_SERVER_USERS`` environment variable holding the same YAML::

    users:
      - email: deploy@example.com
        token: s3cret
        roles: {ALC: editor, ALC_FR2: reader}
      - email: auditor@example.com
        token: an0ther
        roles: {"*": reader}          # "*": every C_Code

A role for a named C_Code wins over the ``"*"`` role. Editor implies reader.
With neither source, the only user is the demo user (:data:`DEMO_EMAIL`,
:data:`DEMO_TOKEN`), editor on every C_Code.

Tokens are compared in constant time and never appear in a message, a log
line or a ``repr``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import yaml

__all__ = [
    "DEMO_EMAIL",
    "DEMO_TOKEN",
    "USERS_ENV",
    "Role",
    "User",
    "Users",
    "UsersError",
    "demo_users",
    "load_users",
    "parse_users",
]

USERS_ENV = "SOS_SERVER_USERS"
DEMO_EMAIL = "demo@sos.example"
DEMO_TOKEN = "demo-token"  # documented on purpose: the demo user is for rehearsals only
_ANY_C_CODE = "*"
_USER_KEYS = frozenset({"email", "token", "roles"})


class Role(Enum):
    """What a user may do in one C_Code."""

    READER = "reader"
    EDITOR = "editor"


class UsersError(ValueError):
    """The users file or variable is unusable; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class User:
    """One API user: Basic-auth user name (email), token, and roles by C_Code."""

    email: str
    token: str = field(repr=False)
    roles: Mapping[str, Role]

    def role(self, c_code: str) -> Role | None:
        """The user's role in ``c_code``: its own entry, else the ``"*"`` one."""
        return self.roles.get(c_code, self.roles.get(_ANY_C_CODE))

    def may_read(self, c_code: str) -> bool:
        """Whether the user holds Reader or Editor in ``c_code``."""
        return self.role(c_code) is not None

    def may_edit(self, c_code: str) -> bool:
        """Whether the user holds Editor in ``c_code``."""
        return self.role(c_code) is Role.EDITOR


@dataclass(frozen=True, slots=True)
class Users:
    """All users the server accepts; ``source`` says where they came from."""

    users: tuple[User, ...]
    source: str
    demo: bool = False

    def authenticate(self, email: str, token: str) -> User | None:
        """The user with this email and token, or None.

        Emails compare case-insensitively; tokens in constant time. Every user
        is checked, so the time taken does not tell whether the email exists.
        """
        found: User | None = None
        for user in self.users:
            same_token = hmac.compare_digest(user.token.encode(), token.encode())
            if same_token and user.email.lower() == email.lower():
                found = user
        return found


def demo_users() -> Users:
    """The single demo user, editor on every C_Code."""
    demo = User(DEMO_EMAIL, DEMO_TOKEN, {_ANY_C_CODE: Role.EDITOR})
    return Users((demo,), source="built-in demo user", demo=True)


def load_users(path: str | Path | None, environ: Mapping[str, str] = os.environ) -> Users:
    """Users from ``path`` if given, else from ``$SOS_SERVER_USERS``, else the demo user.

    Raises :class:`UsersError` naming the source and every bad entry.
    """
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsersError(f"cannot read users file {path}: {exc}") from None
        return parse_users(text, source=str(path))
    if environ.get(USERS_ENV, "").strip():
        return parse_users(environ[USERS_ENV], source=f"${USERS_ENV}")
    return demo_users()


def parse_users(text: str, source: str) -> Users:
    """Users from YAML text; ``source`` names it in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The YAML error quotes the offending line, which may hold a token:
        # keep only its position.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsersError(f"{source}: not valid YAML{where}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("users"), list) or not data["users"]:
        raise UsersError(f"{source}: must hold a top-level 'users:' list with at least one user")
    problems: list[str] = []
    users: list[User] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["users"]):
        user = _parse_user(entry, f"users[{index}]", problems)
        if user is None:
            continue
        if user.email.lower() in seen:
            problems.append(f"users[{index}]: email {user.email} appears more than once")
        seen.add(user.email.lower())
        users.append(user)
    if problems:
        raise UsersError(f"{source}: " + "; ".join(problems))
    return Users(tuple(users), source=source)


def _parse_user(entry: object, where: str, problems: list[str]) -> User | None:
    if not isinstance(entry, Mapping):
        problems.append(f"{where}: must be a mapping with email, token and roles")
        return None
    found = [f"{where}: unknown key {key!r}" for key in sorted(map(str, entry)) if key not in _USER_KEYS]
    email, token, roles = entry.get("email"), entry.get("token"), entry.get("roles")
    # Basic auth splits "user:password" at the first colon, so an email
    # holding one could never log in.
    if not isinstance(email, str) or not email.strip() or ":" in email:
        found.append(f"{where}.email: must be a non-empty string without ':'")
    if not isinstance(token, str) or not token:
        found.append(f"{where}.token: must be a non-empty string")  # never echo the value
    parsed: dict[str, Role] = {}
    if not isinstance(roles, Mapping):
        found.append(f"{where}.roles: must map C_Code (or '*') to editor or reader")
    else:
        for c_code, role in roles.items():
            if role not in ("editor", "reader"):
                found.append(f"{where}.roles.{c_code}: {role!r} is not editor or reader")
            else:
                parsed[str(c_code)] = Role(role)
    if found:
        problems += found
        return None
    return User(str(email).strip(), str(token), parsed)
