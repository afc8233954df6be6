# One layered configuration: DEFAULTS < config.json. Unknown keys and wrong types are errors, so a typo
# in config.json is reported at boot instead of being silently ignored.
import json

DEFAULTS = {
    "device_id": "",
    "secret": "",
    "wifi_ssid": "",
    "wifi_password": "",
    "gateway_url": "http://192.168.1.10:8000",
    "transport": "http",
    "mqtt_host": "",
    "mqtt_port": 1883,
    "mqtt_keepalive_s": 60,
    "ntp_host": "pool.ntp.org",
    "ntp_resync_s": 3600,
    "sample_interval_s": 10,
    "batch_size": 20,
    "batch_max_age_s": 60,
    "batch_bytes": 2048,
    "spool_dir": "/spool",
    "spool_max_kb": 1024,
    "backoff_base_ms": 1000,
    "backoff_max_ms": 120000,
    "secret_rejected_backoff_s": 900,
    "request_timeout_s": 15,
    "ack_timeout_s": 15,
    "token_renew_margin_s": 300,
    "wdt_timeout_ms": 60000,
    "log_level": "info",
    "sensors": [{"type": "simulated"}],
}

REQUIRED = ("device_id", "secret")
NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


class ConfigError(ValueError):
    pass


def merge(defaults: dict, overrides: dict) -> dict:
    """defaults < overrides, checking every key and its type."""
    cfg = dict(defaults)
    for key in overrides:
        if key not in defaults:
            raise ConfigError("unknown key %r" % key)
        value = overrides[key]
        want = type(defaults[key])
        if want is int and type(value) is float and key.endswith("_s"):
            pass  # durations in seconds may be fractional: "sample_interval_s": 0.5
        elif type(value) is not want:
            raise ConfigError("%s must be %s" % (key, want.__name__))
        cfg[key] = value
    return cfg


def validate(cfg: dict) -> dict:
    for key in REQUIRED:
        if not cfg[key]:
            raise ConfigError("%s is required" % key)
    if cfg["transport"] not in ("http", "mqtt"):
        raise ConfigError("transport must be http or mqtt")
    if not (cfg["gateway_url"].startswith("http://") or cfg["gateway_url"].startswith("https://")):
        raise ConfigError("gateway_url must start with http:// or https://")
    if cfg["batch_size"] < 1 or cfg["batch_bytes"] < 512:
        raise ConfigError("batch_size >= 1 and batch_bytes >= 512 required")
    if cfg["sample_interval_s"] <= 0:
        raise ConfigError("sample_interval_s must be positive")
    for spec in cfg["sensors"]:
        if type(spec) is not dict or "type" not in spec:
            raise ConfigError("each sensor needs a type")
        for ch in spec.get("prefix", ""):
            if ch not in NAME_CHARS:
                raise ConfigError("sensor prefix may hold only a-z, 0-9 and _")
    return cfg


def loads(text: str, defaults: dict = DEFAULTS) -> dict:
    try:
        overrides = json.loads(text)
    except ValueError:
        raise ConfigError("config is not valid JSON")
    if type(overrides) is not dict:
        raise ConfigError("config must be a JSON object")
    return validate(merge(defaults, overrides))


def load(path: str = "config.json", defaults: dict = DEFAULTS) -> dict:
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("cannot read %s: copy config.example.json there and edit it" % path)
    return loads(text, defaults)
