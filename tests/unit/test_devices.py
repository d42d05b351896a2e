from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sos_inventory.config import DevicesSpec
from sos_inventory.errors import InputError
from sos_inventory.model import COLUMNS, ORIGIN_FIELDS, RULE_FIELDS, Device
from sos_inventory.sync.devices import (
    REQUIRED,
    DeviceSet,
    DevicesFile,
    discover,
    load_devices,
    parse_timestamp,
)
from sos_inventory.sync.engine import rows_at_most
from tests.builders import HEADER, make_config, row, write_csv


def load(tmp_path: Path, rows: list[dict[str, str]], **config: object) -> DeviceSet:
    path = write_csv(tmp_path / "softlayer-data" / "Acct531277" / "devices.csv", rows)
    return load_devices([DevicesFile(path, "531277")], make_config(tmp_path, **config))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T14:03:11-06:00", datetime(2026, 11, 25, 20, 3, 11, tzinfo=UTC)),
        ("2026-11-25 14:03:11", datetime(2026, 11, 25, 14, 3, 11, tzinfo=UTC)),
        ("2026-11-25T14:03:11Z", datetime(2026, 11, 25, 14, 3, 11, tzinfo=UTC)),
        ("2026-11-25T14:03:11z", datetime(2026, 11, 25, 14, 3, 11, tzinfo=UTC)),
        ("2026-11-25T14:03:11.250-06:00", datetime(2026, 11, 25, 20, 3, 11, 250000, tzinfo=UTC)),
        ("2026-11-25", datetime(2026, 11, 25, tzinfo=UTC)),
        (" 2026-11-25T14:03:11+01:00 ", datetime(2026, 11, 25, 13, 3, 11, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_forms(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected
    assert parse_timestamp(text).tzinfo is UTC  # one tzinfo object: fast comparisons


@given(
    moment=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
    minutes=st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
    separator=st.sampled_from(["T", " "]),
    seconds_only=st.booleans(),
    naive=st.booleans(),
)
def test_parse_timestamp_applies_any_offset(
    moment: datetime, minutes: int, separator: str, seconds_only: bool, naive: bool
) -> None:
    """Whatever the form (the export's fast paths or any other), the same instant, in UTC."""
    moment = moment.replace(microsecond=0 if seconds_only else moment.microsecond)
    aware = moment.replace(tzinfo=UTC if naive else timezone(timedelta(minutes=minutes)))
    text = (moment if naive else aware).isoformat(sep=separator)
    parsed = parse_timestamp(text)
    assert parsed == aware
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["2026-13-45", "yesterday", "11/25/2026", "", "2026-11-25T14:03:11-25:00", "2026-11-25T14:03:61-06:00"],
)
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_timestamp(text)


def test_reads_rows_with_identity_from_first_label(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        [
            row("PROD-DAL10-CARRIER2-WORKER-1099.ALCHEMY.IBM.COM", private_ip="10.1.2.3", device_id="123"),
            row("stage-dal09-infra-vpn-01", public_ip="2001:db8::1"),
        ],
    )
    assert [d.hostname for d in result.devices] == [
        "prod-dal10-carrier2-worker-1099",
        "stage-dal09-infra-vpn-01",
    ]
    first = result.devices[0]
    assert (first.fqdn, first.c_code, first.account, first.line) == (
        "prod-dal10-carrier2-worker-1099.alchemy.ibm.com",
        "ALC",
        "531277",
        2,
    )
    assert first.private_ip == "10.1.2.3"
    assert first.device_id == "123"
    assert result.invalid == []


def test_header_is_case_insensitive_order_free_with_extra_columns_and_bom(tmp_path: Path) -> None:
    header = [
        "  provision date ",
        "EXTRA",
        "device name",
        "DEVICE TYPE",
        "location",
        "public ip",
        "private ip",
        "management ip",
    ]
    path = tmp_path / "Acct531277" / "devices.csv"
    path.parent.mkdir()
    path.write_bytes(
        (
            "\ufeff"
            + ",".join(header)
            + "\r\n"
            + "2026-11-25,x,prod-dal10-a-01,Virtual Server,Dallas 10,,,\r\n"
        ).encode()
    )
    result = load_devices([DevicesFile(path, "531277")], make_config(tmp_path))
    assert [d.hostname for d in result.devices] == ["prod-dal10-a-01"]
    assert result.devices[0].provision_date == datetime(2026, 11, 25, tzinfo=UTC)


def test_column_mapping_reads_other_exports(tmp_path: Path) -> None:
    header = ["Hostname", "Type", "Location", "Public IP", "Private IP", "Management IP", "Provisioned"]
    path = tmp_path / "Acct531277" / "devices.csv"
    path.parent.mkdir()
    path.write_text(
        ",".join(header) + "\nprod-dal10-a-01,Virtual Server,Dallas 10,,,,2026-01-01\n", encoding="utf-8"
    )
    config = make_config(
        tmp_path, columns={"Device Name": "Hostname", "device type": "Type", "Provision Date": "Provisioned"}
    )
    result = load_devices([DevicesFile(path, "531277")], config)
    assert [d.hostname for d in result.devices] == ["prod-dal10-a-01"]


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("10.0.0.1", True),
        ("0.0.0.0", True),
        ("255.255.255.255", True),
        ("2001:db8::1", True),
        ("fe80::1%eth0", True),
        ("10.0.0.256", False),
        ("10.0.0", False),
        ("10.0.0.01", False),  # a leading zero: octal to some tools, so refused
        ("10.0.0.1.5", False),
        ("10.0.0.x", False),
        ("2001:db8:::1", False),
        ("host.example.com", False),
    ],
)
def test_addresses_are_ipv4_dotted_quads_or_ipv6(tmp_path: Path, address: str, valid: bool) -> None:
    for column in ("public_ip", "private_ip", "management_ip"):
        result = load(tmp_path, [row("prod-dal10-a-01", **{column: address})])
        assert len(result.devices) == int(valid)
        assert [e.value for e in result.invalid] == ([] if valid else [address])


def test_every_invalid_row_is_reported_with_file_line_column_value_reason(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        [
            row("prod-dal10-a-01"),
            row("prod-dal10-a-02", provision="2026-13-45"),
            row("prod-dal10-a-03", private_ip="10.0.0.300"),
            row("", device_type=""),
            row("prod-dal10-a-05", provision=""),
            row("prod-dal10-a-06", provision="", cancellation="2026-11-01"),
        ],
    )
    assert [d.hostname for d in result.devices] == ["prod-dal10-a-01", "prod-dal10-a-06"]
    found = {(e.line, e.column, e.value) for e in result.invalid}
    assert found == {
        (3, "Provision Date", "2026-13-45"),
        (4, "Private IP", "10.0.0.300"),
        (5, "Device Name", ""),
        (5, "Device Type", ""),
        (6, "Provision Date", ""),
    }
    assert all(e.path.endswith("devices.csv") and e.reason for e in result.invalid)
    assert result.rows == 6


def test_line_numbers_count_physical_lines_of_quoted_multiline_fields(tmp_path: Path) -> None:
    result = load(tmp_path, [row("prod-dal10-a-01", tags="a\nb"), row("prod-dal10-a-02", provision="bad")])
    assert result.devices[0].tags == "a b"
    assert [e.line for e in result.invalid] == [4]


def test_excluded_rows_are_not_machines_and_never_invalid_for_their_dates(tmp_path: Path) -> None:
    result = load(
        tmp_path, [row("prod-dal10-vip-01", device_type="Portable", provision="junk"), row("prod-dal10-a-01")]
    )
    assert [d.hostname for d in result.excluded] == ["prod-dal10-vip-01"]
    assert [d.hostname for d in result.devices] == ["prod-dal10-a-01"]
    assert result.invalid == []


def test_row_with_wrong_field_count_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "Acct531277" / "devices.csv"
    path.parent.mkdir()
    path.write_text(",".join(HEADER) + "\nprod-dal10-a-01,Virtual Server\n", encoding="utf-8")
    result = load_devices([DevicesFile(path, "531277")], make_config(tmp_path))
    assert result.devices == []
    assert [(e.line, e.column) for e in result.invalid] == [(2, "*")]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"Device Name,Location\nx,y\n", "missing required column"),
        (b"\xff\xfeD\x00e\x00", "not UTF-8"),
        (("Device Name," + ",".join(HEADER[1:]) + '\n"unterminated,\n').encode(), "not a valid CSV"),
    ],
)
def test_unreadable_files_stop_the_run(tmp_path: Path, content: bytes, reason: str) -> None:
    bad = tmp_path / "Acct531277" / "devices.csv"
    bad.parent.mkdir()
    bad.write_bytes(content)
    good = write_csv(tmp_path / "Acct2051458" / "devices.csv", [row("prodfr2-par04-a-01")])
    with pytest.raises(InputError) as caught:
        load_devices([DevicesFile(bad, "531277"), DevicesFile(good, "2051458")], make_config(tmp_path))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].path == str(bad)
    assert reason in caught.value.problems[0].reason


def test_discover_finds_account_folders_in_numeric_order(tmp_path: Path) -> None:
    for account in ("2051458", "531277"):
        write_csv(tmp_path / "data" / f"Acct{account}" / "devices.csv", [row("prod-dal10-a-01")])
    (tmp_path / "data" / "notes").mkdir()
    files = discover([DevicesSpec(tmp_path / "data")])
    assert [f.account for f in files] == ["531277", "2051458"]


def test_discover_reports_missing_paths_and_unknown_accounts(tmp_path: Path) -> None:
    loose = write_csv(tmp_path / "export.csv", [row("prod-dal10-a-01")])
    with pytest.raises(InputError) as caught:
        discover([DevicesSpec(tmp_path / "nope"), DevicesSpec(loose), DevicesSpec(tmp_path / "empty")])
    reasons = [p.reason for p in caught.value.problems]
    assert len(reasons) == 3
    assert "no such file" in reasons[0]
    assert "account" in reasons[1]
    assert "no such file" in reasons[2]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no Acct<N>/devices\.csv"):
        discover([DevicesSpec(tmp_path / "empty")])
    assert discover([DevicesSpec(loose, account="531277")]) == [DevicesFile(loose, "531277")]


def test_unmapped_account_file_is_skipped_and_counted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "Acct999" / "devices.csv", [row("prod-dal10-a-01"), row("prod-dal10-a-02")])
    result = load_devices([DevicesFile(path, "999")], make_config(tmp_path))
    assert result.devices == []
    assert [(s.account, s.rows) for s in result.skipped_files] == [("999", 2)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=12), max_size=8))
def test_parsing_never_crashes_on_arbitrary_rows(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]]
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "Acct531277" / "devices.csv"
    path.parent.mkdir()
    import csv

    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)
    try:
        result = load_devices([DevicesFile(path, "531277")], make_config(folder))
    except InputError:
        return
    for device in result.devices:
        assert device.hostname == device.hostname.lower()
        assert device.provision_date is None or device.provision_date.utcoffset() is not None
    assert len(result.devices) + len(result.excluded) <= len(rows)


def test_timezone_offsets_are_kept_exactly(tmp_path: Path) -> None:
    result = load(tmp_path, [row("prod-dal10-a-01", provision="2026-11-25T14:03:11-06:00")])
    assert result.devices[0].provision_date == datetime(
        2026, 11, 25, 14, 3, 11, tzinfo=timezone(timedelta(hours=-6))
    )


def test_rows_at_most_bounds_the_rows_from_above(tmp_path: Path) -> None:
    """auto chooses its query strategy on this bound before parsing: it must never be below the rows."""
    rows = [row(f"prod-dal10-a-{n:02d}", tags="a\nb" if n == 1 else "x") for n in range(5)]
    path = write_csv(tmp_path / "softlayer-data" / "Acct531277" / "devices.csv", rows)
    parsed = load_devices([DevicesFile(path, "531277")], make_config(tmp_path)).rows
    bound = rows_at_most([DevicesFile(path, "531277")])
    assert parsed == 5
    assert bound == 6  # the quoted line break counts as a line
    unterminated = tmp_path / "no-final-newline.csv"
    unterminated.write_bytes(path.read_bytes().rstrip(b"\r\n"))
    assert rows_at_most([DevicesFile(unterminated, "531277")]) == 6
    assert rows_at_most([DevicesFile(tmp_path / "missing.csv", "531277")]) == 0


@pytest.mark.parametrize("word", ["", "N/A", "n/a", "NA", "none", "None", "NULL", "null", "-", " - "])
def test_cancellation_null_words_mean_not_marked(tmp_path: Path, word: str) -> None:
    result = load(tmp_path, [row("prod-dal10-a-01", cancellation=word)])
    assert result.invalid == []
    assert [d.cancellation_date for d in result.devices] == [None]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
        ("2026-11-30 08:00:00", datetime(2026, 11, 30, 8, tzinfo=UTC)),
        ("2026-11-30T02:00:00-06:00", datetime(2026, 11, 30, 8, tzinfo=UTC)),
    ],
)
def test_a_cancellation_date_marks_the_machine(tmp_path: Path, text: str, expected: datetime) -> None:
    result = load(tmp_path, [row("prod-dal10-a-01", cancellation=text)])
    assert [d.cancellation_date for d in result.devices] == [expected]


@pytest.mark.parametrize("typo", ["yes", "2026-11-3O", "cancelled", "n.a.", "31/11/2026", "0"])
def test_a_cancellation_typo_makes_the_row_invalid_never_available(tmp_path: Path, typo: str) -> None:
    result = load(tmp_path, [row("prod-dal10-a-01", cancellation=typo), row("prod-dal10-a-02")])
    assert [d.hostname for d in result.devices] == ["prod-dal10-a-02"]
    [error] = result.invalid
    assert (error.line, error.column, error.value, error.hostname) == (
        2,
        "Cancellation Date",
        typo,
        "prod-dal10-a-01",
    )
    assert "neither a date" in error.reason


@pytest.mark.parametrize(
    "text", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00", "99999-01-01", "2026-02-30"]
)
def test_dates_out_of_range_are_invalid_rows_not_crashes(tmp_path: Path, text: str) -> None:
    result = load(
        tmp_path, [row("prod-dal10-a-01", provision=text), row("prod-dal10-a-02", cancellation=text)]
    )
    assert result.devices == []
    assert {(e.line, e.column) for e in result.invalid} == {(2, "Provision Date"), (3, "Cancellation Date")}


def test_each_declared_column_fills_its_device_field(tmp_path: Path) -> None:
    """model.COLUMNS drives the header mapping: a distinct value per column lands in its field."""
    values = {
        "Device Name": "Prod-DAL10-a-01.Example.com",
        "Device Type": "Bare Metal Server",
        "Location": "Dallas 10",
        "Public IP": "169.46.30.142",
        "Private IP": "10.171.78.122",
        "Management IP": "10.0.0.9",
        "Device ID": "62603497",
        "Provision Date": "2026-11-25",
        "Cancellation Date": "2026-11-26",
        "Tags": "a, b",
    }
    assert set(values) == {column.header for column in COLUMNS}
    path = write_csv(tmp_path / "Acct531277" / "devices.csv", [values], header=list(reversed(HEADER)))
    [device] = load_devices([DevicesFile(path, "531277")], make_config(tmp_path)).devices
    expected = {
        "fqdn": "prod-dal10-a-01.example.com",
        "provision_date": datetime(2026, 11, 25, tzinfo=UTC),
        "cancellation_date": datetime(2026, 11, 26, tzinfo=UTC),
        "tags": "a b",
    }
    for column in COLUMNS:
        assert getattr(device, column.field) == expected.get(column.field, values[column.header])
    assert Device._fields == (*ORIGIN_FIELDS, *(column.field for column in COLUMNS))
    assert device.hostname == "prod-dal10-a-01"


def test_required_columns_and_rule_fields_derive_from_the_declaration() -> None:
    assert {c.header for c in COLUMNS if c.required} == set(REQUIRED)
    assert set(RULE_FIELDS) == {
        "hostname", "fqdn", "device_type", "location", "account", "c_code", "tags", "public_ip", "private_ip"
    }  # fmt: skip
