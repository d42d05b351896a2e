"""The reference SOS inventory server (README, The reference SOS server).

It serves the API of docs/sos-api.md from a SQLite file, so the whole job can
be rehearsed and tested on one machine with no SOS access::

    sos-inventory server seed --db inventory.db SEED.json
    sos-inventory server run --db inventory.db --port 8742 --users users.yaml

Modules: ``store`` (SQLite), ``auth`` (users and roles), ``app`` (HTTP routes
and statistics), ``faults`` (fault injection), ``runner`` (serve until
stopped) and ``cli`` (the ``server`` command).

Reference-server-only endpoints, without auth and never faulted:
``GET /_ref/stats`` returns::

    {"requests": 12,
     "by_kind": {"query": 5, "query_hostname": 2, "applications": 1,
                 "environments": 1, "update": 3},
     "by_c_code": {"ALC": 12},
     "by_status": {"200": 9, "422": 1, "503": 1, "drop-after": 1},
     "faults": {"drop-after": 1, "error-503": 1}}

(``by_status`` shows ``drop-before``/``drop-after`` for connections closed with
no answer; ``faults``, present once a fault was injected, counts them by name:
``error-<status>``, ``drop-before``, ``drop-after``, ``outage-503``,
``outage-drop``), and
``POST /_ref/stats/reset`` zeroes them. ``GET /_ref/faults`` returns the faults
in force and ``POST /_ref/faults`` replaces them (missing keys take defaults)::

    {"error_rates": {"503": 0.1}, "retry_after": "mix:2",
     "drop_before": 0.0, "drop_after": 0.05, "outage": [5.0, 10.0],
     "outage_mode": "503", "kinds": ["query", "update"], "seed": 7}
"""

from __future__ import annotations

from sos_inventory.server.app import ApiError, RequestStats, create_app
from sos_inventory.server.auth import DEMO_EMAIL, DEMO_TOKEN, Role, User, Users, UsersError, load_users
from sos_inventory.server.faults import FaultInjector, Faults
from sos_inventory.server.runner import run
from sos_inventory.server.store import InvalidValue, RecordNotFound, Store, StoreError

__all__ = [
    "DEMO_EMAIL",
    "DEMO_TOKEN",
    "ApiError",
    "FaultInjector",
    "Faults",
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
