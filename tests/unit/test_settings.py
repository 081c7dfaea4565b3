"""Settings from CSMS_* variables."""

from __future__ import annotations

import pytest

from csms.settings import DEFAULT_DATABASE_URL, Settings, SettingsError


def test_defaults_need_nothing_installed() -> None:
    """Without variables: SQLite, no Redis, unknown stations refused."""
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.redis_url is None
    assert settings.redis_prefix == "csms:"
    assert settings.unknown_stations == "reject"
    assert settings.offline_after == 2 * settings.heartbeat_interval + settings.offline_grace


def test_variables_override_defaults() -> None:
    """Each CSMS_* variable sets its setting, parsed to its type."""
    settings = Settings.from_env(
        {
            "CSMS_DATABASE_URL": "postgresql://127.0.0.1/csms",
            "CSMS_REDIS_URL": "redis://127.0.0.1:6379/0",
            "CSMS_OCPP_PORT": "9100",
            "CSMS_HEARTBEAT_INTERVAL": "60",
            "CSMS_UNKNOWN_STATIONS": "Pending",
            "CSMS_LOG_LEVEL": "debug",
            "CSMS_PING_INTERVAL": "12.5",
            "CSMS_OCPP_REUSE_PORT": "yes",
        }
    )
    assert settings.database_url == "postgresql://127.0.0.1/csms"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.ocpp_port == 9100
    assert settings.heartbeat_interval == 60
    assert settings.unknown_stations == "pending"
    assert settings.log_level == "DEBUG"
    assert settings.ping_interval == 12.5
    assert settings.ocpp_reuse_port is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CSMS_UNKNOWN_STATIONS", "maybe"),
        ("CSMS_OCPP_PORT", "ninety"),
        ("CSMS_OCPP_PORT", "70000"),
        ("CSMS_DATABASE_URL", "mysql://x/y"),
        ("CSMS_HEARTBEAT_INTERVAL", "0"),
        ("CSMS_OCPP_REUSE_PORT", "perhaps"),
        ("CSMS_REDIS_PREFIX", "csms staging:"),
        ("CSMS_REDIS_PREFIX", "csms*:"),
        ("CSMS_WRITE_BATCHES_IN_FLIGHT", "0"),
        ("CSMS_WRITE_BATCHES_IN_FLIGHT", "two"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(name: str, value: str) -> None:
    """A value the product cannot use is an error that names the variable."""
    with pytest.raises(SettingsError, match=name.removeprefix("CSMS_")):
        Settings.from_env({name: value})
