"""The reference server keeps its OpenAPI document, and the job's client sends what it declares."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema  # type: ignore[import-untyped]  # no stubs pinned; used in one assertion
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err

from tests.e2e.conftest import EMAIL, TOKEN, Fleet, running_fleet
from tests.serverutil import api_call

pytestmark = pytest.mark.e2e
BASIC = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()


@pytest.fixture(scope="module")
def contract_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("contract")) as fleet:
        yield fleet


def test_deeply_nested_json_is_a_400_not_a_500(contract_fleet: Fleet) -> None:
    url = f"{contract_fleet.server.url}/inventory.nsf/update.xsp?c_code=ALC&form=server&unid=A01"
    body = b"[" * 50_000 + b"]" * 50_000
    status, data, _ = api_call(url, "POST", body=body, authorization=BASIC)
    assert status in (400, 413), data
    body = b'{"status": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    status, data, _ = api_call(url, "POST", body=body, authorization=BASIC)
    assert status == 400, data


def test_a_body_over_the_bound_is_a_413(contract_fleet: Fleet) -> None:
    url = f"{contract_fleet.server.url}/inventory.nsf/update.xsp?c_code=ALC&form=server&unid=A01"
    status, data, _ = api_call(
        url, "POST", body=b'{"status": "' + b"x" * 100_000 + b'"}', authorization=BASIC
    )
    assert status == 413, data
    assert data["error"]["code"] == "payload_too_large"


_ACCESS = re.compile(r" 127\.0\.0\.1 (?P<method>GET|POST) (?P<target>/inventory\.nsf/\S+) (?P<status>\d{3}) ")


def test_every_request_of_the_job_is_one_the_document_declares(contract_fleet: Fleet) -> None:
    # The job's real requests, from the server's access log, checked against the same document.
    before = len(contract_fleet.server.stderr_text().splitlines())
    run = contract_fleet.cli("update", "-q")
    assert run.returncode == 1, run.stderr  # the fleet's ambiguous machine and invalid row
    status, document, _ = api_call(f"{contract_fleet.server.url}/openapi.json")
    assert status == 200
    seen = set()
    for line in contract_fleet.server.stderr_text().splitlines()[before:]:
        match = _ACCESS.search(line)
        if match is None:
            continue
        target = urlsplit(match["target"])
        operation = document["paths"][target.path][match["method"].lower()]
        declared = {p["name"]: p for p in operation["parameters"]}
        query = dict(parse_qsl(target.query))
        assert set(query) <= set(declared), (line, set(query) - set(declared))
        for name, parameter in declared.items():
            if parameter["required"]:
                assert name in query, (line, name)
            if name in query:
                value: Any = query[name]
                if parameter["schema"]["type"] == "integer":
                    value = int(value)
                jsonschema.validate(value, parameter["schema"])
        assert match["status"].startswith("2"), line
        seen.add(operation["operationId"])
    assert seen == {"query", "applications", "environments", "update"}


def test_the_client_update_body_has_the_declared_shape(contract_fleet: Fleet) -> None:
    from sos_inventory.model import WRITABLE_FIELDS

    _, document, _ = api_call(f"{contract_fleet.server.url}/openapi.json")
    update = document["components"]["schemas"]["Update"]
    assert set(update["properties"]) == set(WRITABLE_FIELDS)
    jsonschema.validate(dict.fromkeys(WRITABLE_FIELDS, "x"), update)


# Last in the file: its generated updates change the module's inventory.
def test_the_server_keeps_its_contract(contract_fleet: Fleet) -> None:
    # Every generated request, valid or not, gets an answer the document declares: never a 5xx.
    api = schemathesis.openapi.from_url(f"{contract_fleet.server.url}/openapi.json")
    results = list(api.get_all_operations())
    operations = [result.ok() for result in results if not isinstance(result, Err)]
    assert len(operations) == len(results), results
    assert len(operations) == 4
    for operation in operations:

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": BASIC})

        check()
    assert contract_fleet.server.stats()["requests"] >= 40  # the examples reached the server
