"""The layered configuration (defaults < config.json) on CPython: the same module the board runs."""

from __future__ import annotations

import json

import pytest

from tests.firmware.runner import FIRMWARE


@pytest.mark.usefixtures("firmware_on_cpython")
class TestConfig:
    def test_example_config_loads(self) -> None:
        from iotfw import config

        cfg = config.load(str(FIRMWARE / "config.example.json"))
        assert cfg["device_id"] == "esp32-kitchen"
        assert cfg["batch_bytes"] == config.DEFAULTS["batch_bytes"]  # not in the file: the default
        assert cfg["sensors"][0]["type"] == "bme280"

    def test_overrides_win_and_defaults_fill_in(self) -> None:
        from iotfw import config

        cfg = config.loads(json.dumps({"device_id": "d", "secret": "s", "batch_size": 5, "sample_interval_s": 0.5}))
        assert cfg["batch_size"] == 5 and cfg["sample_interval_s"] == 0.5
        assert cfg["transport"] == "http" and cfg["spool_dir"] == "/spool"

    @pytest.mark.parametrize(
        ("doc", "message"),
        [
            ({"device_id": "d", "secret": "s", "wifi_pasword": "x"}, "unknown key 'wifi_pasword'"),
            ({"device_id": "d", "secret": "s", "batch_size": "20"}, "batch_size must be int"),
            ({"device_id": "d", "secret": "s", "mqtt_port": 1883.5}, "mqtt_port must be int"),
            ({"device_id": "d"}, "secret is required"),
            ({"device_id": "d", "secret": "s", "transport": "coap"}, "transport must be http or mqtt"),
            ({"device_id": "d", "secret": "s", "gateway_url": "gw:8000"}, "gateway_url must start with"),
            ({"device_id": "d", "secret": "s", "sensors": [{"type": "dht22", "prefix": "Out-"}]}, "prefix"),
        ],
    )
    def test_mistakes_are_reported(self, doc: dict[str, object], message: str) -> None:
        from iotfw import config

        with pytest.raises(config.ConfigError, match=message):
            config.loads(json.dumps(doc))

    def test_missing_file_says_what_to_do(self, tmp_path: object) -> None:
        from iotfw import config

        with pytest.raises(config.ConfigError, match=r"copy config\.example\.json"):
            config.load("/nonexistent/config.json")
