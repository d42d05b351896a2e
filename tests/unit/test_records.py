"""Records as the client builds them from the API's items (docs/sos-api.md)."""

from __future__ import annotations

import pytest

from sos_inventory.inventory.sos.client import record_from_item
from sos_inventory.model import ServerRecord
from sos_inventory.server.store import RECORD_KEYS


def test_every_item_key_lands_in_the_record_field_of_its_name() -> None:
    item = {key: f"value of {key}" for key in RECORD_KEYS} | {"hostname": "prod-dal10-a-01"}
    record = record_from_item(item, "ALC")
    assert ServerRecord._fields == RECORD_KEYS
    assert record._asdict() == item


def test_missing_and_non_text_values_become_text() -> None:
    record = record_from_item(
        {"unid": "U1", "hostname": "PROD-DAL10-A-01", "device_id": 123, "status": None}, "ALC"
    )
    assert (record.c_code, record.hostname, record.device_id, record.status, record.fqdn) == (
        "ALC",
        "prod-dal10-a-01",
        "123",
        "",
        "",
    )


@pytest.mark.parametrize("item", [None, [], {"unid": "U1"}, {"hostname": "h"}, {"unid": "", "hostname": "h"}])
def test_items_without_unid_or_hostname_are_refused(item: object) -> None:
    with pytest.raises(ValueError, match="item"):
        record_from_item(item, "ALC")
