"""Settings refuse what would be unsafe or incomplete, with a message that says what to do."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import Settings


@pytest.mark.parametrize("secret", ["changeme", "secret", "short-but-not-default"])
def test_weak_jwt_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValidationError, match="GATEWAY_JWT_SECRET is weak"):
        Settings(jwt_secret=secret)


def test_strong_jwt_secret_is_accepted() -> None:
    assert Settings(jwt_secret="k" * 48).jwt_secret.get_secret_value() == "k" * 48


def test_influx_url_needs_credentials() -> None:
    with pytest.raises(ValidationError, match="GATEWAY_INFLUX_TOKEN"):
        Settings(influx_url="http://127.0.0.1:8086")


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "9100")
    monkeypatch.setenv("GATEWAY_DATA_DIR", "/tmp/gw-data")
    settings = Settings()
    assert settings.port == 9100 and str(settings.data_dir) == "/tmp/gw-data"
