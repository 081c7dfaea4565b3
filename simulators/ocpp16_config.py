"""The configuration keys of a simulated OCPP 1.6 charge point.

A realistic subset of the keys of OCPP 1.6 chapter 9 (Core, Local Auth List,
Reservation, Smart Charging) and of the 1.6 Security whitepaper, with their
types, read-only flags and the checks a real charger applies before it accepts
a ChangeConfiguration.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "SUPPORTED_MEASURANDS",
    "ConfigKey",
    "ConfigurationStore16",
    "KeyKind",
]

# Measurands the simulated meter can produce (see simulators.ocpp16.sampled_values).
SUPPORTED_MEASURANDS: tuple[str, ...] = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Power.Offered",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "SoC",
    "Frequency",
    "Temperature",
)

FEATURE_PROFILES = (
    "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
)


class KeyKind(enum.Enum):
    INTEGER = "integer"
    BOOLEAN = "boolean"
    STRING = "string"
    MEASURANDS = "measurands"
    """A comma-separated list of measurands the meter supports."""
    CSL = "csl"
    """Any comma-separated list."""


@dataclass
class ConfigKey:
    name: str
    value: str
    kind: KeyKind
    readonly: bool = False
    write_only: bool = False
    """Never reported by GetConfiguration (AuthorizationKey)."""
    reboot_required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    max_items_key: str | None = None
    """Name of the key holding the maximum number of items of a list."""
    check: Callable[[str, str], bool] | None = None
    """Extra check: (old value, new value) -> acceptable."""


def _security_profile_check(old: str, new: str) -> bool:
    # The whitepaper forbids lowering the security profile.
    return int(new) >= int(old)


def _authorization_key_check(old: str, new: str) -> bool:
    return 1 <= len(new) <= 40 and all(32 < ord(c) < 127 for c in new)


def _default_keys(connectors: int) -> list[ConfigKey]:
    i, b, s = KeyKind.INTEGER, KeyKind.BOOLEAN, KeyKind.STRING
    m, csl = KeyKind.MEASURANDS, KeyKind.CSL
    rotation = ",".join(f"{n}.RST" for n in range(connectors + 1))
    return [
        # Core profile
        ConfigKey("AllowOfflineTxForUnknownId", "false", b),
        ConfigKey("AuthorizationCacheEnabled", "true", b),
        ConfigKey("AuthorizeRemoteTxRequests", "true", b),
        ConfigKey("BlinkRepeat", "3", i, minimum=0),
        ConfigKey("ClockAlignedDataInterval", "0", i, minimum=0),
        ConfigKey("ConnectionTimeOut", "60", i, minimum=0),
        ConfigKey(
            "ConnectorPhaseRotation", rotation, csl, max_items_key="ConnectorPhaseRotationMaxLength"
        ),
        ConfigKey("ConnectorPhaseRotationMaxLength", str(connectors + 1), i, readonly=True),
        ConfigKey("GetConfigurationMaxKeys", "100", i, readonly=True),
        ConfigKey("HeartbeatInterval", "300", i, minimum=0),
        ConfigKey("LightIntensity", "50", i, minimum=0, maximum=100),
        ConfigKey("LocalAuthorizeOffline", "true", b),
        ConfigKey("LocalPreAuthorize", "false", b),
        ConfigKey("MaxEnergyOnInvalidId", "0", i, minimum=0),
        ConfigKey(
            "MeterValuesAlignedData",
            "Energy.Active.Import.Register",
            m,
            max_items_key="MeterValuesAlignedDataMaxLength",
        ),
        ConfigKey("MeterValuesAlignedDataMaxLength", "9", i, readonly=True),
        ConfigKey(
            "MeterValuesSampledData",
            "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
            m,
            max_items_key="MeterValuesSampledDataMaxLength",
        ),
        ConfigKey("MeterValuesSampledDataMaxLength", "9", i, readonly=True),
        ConfigKey("MeterValueSampleInterval", "60", i, minimum=0),
        ConfigKey("MinimumStatusDuration", "0", i, minimum=0),
        ConfigKey("NumberOfConnectors", str(connectors), i, readonly=True),
        ConfigKey("ResetRetries", "3", i, minimum=0),
        ConfigKey("StopTransactionOnEVSideDisconnect", "true", b),
        ConfigKey("StopTransactionOnInvalidId", "true", b),
        ConfigKey("StopTxnAlignedData", "", m, max_items_key="StopTxnAlignedDataMaxLength"),
        ConfigKey("StopTxnAlignedDataMaxLength", "9", i, readonly=True),
        ConfigKey(
            "StopTxnSampledData",
            "Energy.Active.Import.Register",
            m,
            max_items_key="StopTxnSampledDataMaxLength",
        ),
        ConfigKey("StopTxnSampledDataMaxLength", "9", i, readonly=True),
        ConfigKey("SupportedFeatureProfiles", FEATURE_PROFILES, csl, readonly=True),
        ConfigKey("SupportedFeatureProfilesMaxLength", "6", i, readonly=True),
        ConfigKey("TransactionMessageAttempts", "3", i, minimum=0),
        ConfigKey("TransactionMessageRetryInterval", "60", i, minimum=0),
        ConfigKey("UnlockConnectorOnEVSideDisconnect", "true", b),
        ConfigKey("WebSocketPingInterval", "20", i, minimum=0),
        # Local Auth List Management profile
        ConfigKey("LocalAuthListEnabled", "true", b),
        ConfigKey("LocalAuthListMaxLength", "1000", i, readonly=True),
        ConfigKey("SendLocalListMaxLength", "100", i, readonly=True),
        # Reservation profile
        ConfigKey("ReserveConnectorZeroSupported", "false", b, readonly=True),
        # Smart Charging profile
        ConfigKey("ChargeProfileMaxStackLevel", "8", i, readonly=True),
        ConfigKey("ChargingScheduleAllowedChargingRateUnit", "Current,Power", csl, readonly=True),
        ConfigKey("ChargingScheduleMaxPeriods", "24", i, readonly=True),
        ConfigKey("ConnectorSwitch3to1PhaseSupported", "false", b, readonly=True),
        ConfigKey("MaxChargingProfilesInstalled", "16", i, readonly=True),
        # Security whitepaper
        ConfigKey("AuthorizationKey", "", s, write_only=True, check=_authorization_key_check),
        ConfigKey("SecurityProfile", "0", i, minimum=0, maximum=3, check=_security_profile_check),
        ConfigKey("CpoName", "", s),
    ]


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class ConfigurationStore16:
    """Configuration keys with GetConfiguration / ChangeConfiguration semantics.

    ``overrides`` sets initial values (read-only keys included: that is how a
    simulated charger is "built"); a key unknown to the store is added as a
    writable string key.
    """

    def __init__(self, connectors: int = 1, overrides: Mapping[str, str] | None = None) -> None:
        self._keys: dict[str, ConfigKey] = {k.name: k for k in _default_keys(connectors)}
        for name, value in (overrides or {}).items():
            if name in self._keys:
                self._keys[name].value = str(value)
            else:
                self._keys[name] = ConfigKey(name, str(value), KeyKind.STRING)

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def keys(self) -> list[str]:
        return list(self._keys)

    def get(self, name: str) -> str | None:
        key = self._keys.get(name)
        return None if key is None else key.value

    def get_int(self, name: str, default: int = 0) -> int:
        try:
            return int(self.get(name) or default)
        except ValueError:
            return default

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        return default if value is None else value.strip().lower() == "true"

    def get_list(self, name: str) -> list[str]:
        return _split(self.get(name) or "")

    def set(self, name: str, value: str) -> None:
        """Set a value without any check (the charge point's own bookkeeping)."""
        if name in self._keys:
            self._keys[name].value = value
        else:
            self._keys[name] = ConfigKey(name, value, KeyKind.STRING)

    def report(
        self, names: Iterable[str] | None = None
    ) -> tuple[list[dict[str, object]], list[str]]:
        """GetConfiguration: (configuration_key entries, unknown_key names).

        A write-only key is listed without its value.
        """
        wanted = list(self._keys) if not names else list(dict.fromkeys(names))
        known: list[dict[str, object]] = []
        unknown: list[str] = []
        for name in wanted:
            key = self._keys.get(name)
            if key is None:
                unknown.append(name)
                continue
            entry: dict[str, object] = {"key": key.name, "readonly": key.readonly}
            if not key.write_only:
                entry["value"] = key.value
            known.append(entry)
        return known, unknown

    def change(self, name: str, value: str) -> str:
        """ChangeConfiguration: returns Accepted, Rejected, RebootRequired or NotSupported."""
        key = self._keys.get(name)
        if key is None:
            return "NotSupported"
        if key.readonly or not self._valid(key, value):
            return "Rejected"
        key.value = self._normalise(key, value)
        return "RebootRequired" if key.reboot_required else "Accepted"

    def _valid(self, key: ConfigKey, value: str) -> bool:
        if key.kind is KeyKind.INTEGER:
            try:
                number = int(value.strip())
            except ValueError:
                return False
            if key.minimum is not None and number < key.minimum:
                return False
            if key.maximum is not None and number > key.maximum:
                return False
        elif key.kind is KeyKind.BOOLEAN:
            if value.strip().lower() not in ("true", "false"):
                return False
        elif key.kind in (KeyKind.MEASURANDS, KeyKind.CSL):
            items = _split(value)
            if key.kind is KeyKind.MEASURANDS and any(m not in SUPPORTED_MEASURANDS for m in items):
                return False
            if key.max_items_key is not None and len(items) > self.get_int(key.max_items_key, 0):
                return False
        return key.check is None or key.check(key.value, value.strip())

    @staticmethod
    def _normalise(key: ConfigKey, value: str) -> str:
        if key.kind is KeyKind.INTEGER:
            return str(int(value.strip()))
        if key.kind is KeyKind.BOOLEAN:
            return value.strip().lower()
        if key.kind in (KeyKind.MEASURANDS, KeyKind.CSL):
            return ",".join(_split(value))
        return value
