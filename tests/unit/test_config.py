from __future__ import annotations

from pathlib import Path

import pytest

from sos_inventory.config import config_from_mapping, credentials_from_env, load_config
from sos_inventory.errors import ConfigError
from tests.builders import config_data, make_config, write_config


def test_a_valid_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "c.yaml"))
    assert config.accounts == {"531277": "ALC", "2051458": "ALC_FR2"}
    assert config.c_codes == ["ALC", "ALC_FR2"]
    assert config.devices[0].path == tmp_path / "softlayer-data"
    assert config.retry.attempts == 4
    assert config.safety.min_export_ratio == 0.5
    assert len(config.application_rules) == 2


def test_every_problem_is_reported_at_once_with_its_place(tmp_path: Path) -> None:
    data = config_data(
        accounts={"abc": "ALC", "531277": "bad code!"},
        inventory={"url": "ftp://x", "page_size": 5000, "retry": {"attempts": 0, "bogus": 1}},
        lifecycle={"build_window": "forever"},
        ownership={
            "application": [
                {"when": {"hostname": "("}, "value": "x"},
                {"when": {"color": "red"}, "value": ""},
            ]
        },
        safety={"max_change_ratio": 2, "typo": 1},
        extra=1,
    )
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(data, base=tmp_path, origin="c.yaml")
    text = "\n".join(caught.value.problems)
    for expected in (
        "accounts.abc: account must be digits",
        "accounts.531277: C_Code must be a word",
        "inventory.url: must be an http(s) URL",
        "inventory.page_size: must be a int between 1 and 1000",
        "inventory.retry.attempts",
        "inventory.retry.bogus: unknown key",
        "lifecycle.build_window: not a duration",
        "ownership.application[1].when.hostname: invalid regular expression",
        "ownership.application[2].when: unknown field 'color'",
        "ownership.application[2].value: must be a non-empty string",
        "safety.max_change_ratio: must be a float between 0.0 and 1.0",
        "safety.typo: unknown key",
        "extra: unknown key",
    ):
        assert expected in text, expected


def test_credentials_in_the_url_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must not contain credentials"):
        make_config(tmp_path, inventory={"url": "https://me:secret@sos.example.com"})


def test_credentials_come_from_the_environment_and_never_show() -> None:
    credentials = credentials_from_env({"SOS_API_EMAIL": "a@b.c", "SOS_API_TOKEN": "t0ps3cret"})
    assert "t0ps3cret" not in repr(credentials) + str(credentials)
    with pytest.raises(ConfigError, match="SOS_API_TOKEN not set"):
        credentials_from_env({"SOS_API_EMAIL": "a@b.c"})


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
