"""The reference SOS inventory server (SPEC section 6).

It serves the API of SPEC section 4 from a SQLite file, so the whole job can
be rehearsed and tested on one machine with no SOS access::

    sos-inventory server seed --db inventory.db SEED.json
    sos-inventory server run --db inventory.db --port 8742 --users users.yaml

Modules: ``store`` (SQLite), ``auth`` (users and roles), ``app`` (HTTP routes,
statistics, runner) and ``cli`` (the ``server`` command).

Reference-server-only endpoints, without auth: ``GET /_ref/stats`` returns::

    {"requests": 12,
     "by_kind": {"query": 5, "query_hostname": 2, "applications": 1,
                 "environments": 1, "update": 3},
     "by_c_code": {"ALC": 12},
     "by_status": {"200": 11, "422": 1}}

and ``POST /_ref/stats/reset`` zeroes them.
"""

from __future__ import annotations

from sos_inventory.server.app import ApiError, RequestStats, create_app, run
from sos_inventory.server.auth import DEMO_EMAIL, DEMO_TOKEN, Role, User, Users, UsersError, load_users
from sos_inventory.server.store import InvalidValue, RecordNotFound, Store, StoreError

__all__ = [
    "DEMO_EMAIL",
    "DEMO_TOKEN",
    "ApiError",
    "InvalidValue",
    "RecordNotFound",
    "RequestStats",
    "Role",
    "Store",
    "StoreError",
    "User",
    "Users",
    "UsersError",
    "create_app",
    "load_users",
    "run",
]
