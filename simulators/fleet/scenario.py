"""Scenarios: how a fleet behaves, read from TOML files.

A scenario is a name (a file in ``simulators/fleet/scenarios/``) or a path.
Every table and key is optional; what is missing takes the default below.
Unknown keys and values out of range are refused with the file and key named,
so a typo never silently runs a different test.

Durations are seconds. A duration drawn at random is written as a number
(always that value) or a table: ``{ distribution = "uniform", min = 20, max = 90 }``
or ``{ distribution = "exponential", mean = 60, min = 5, max = 600 }``.
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SCENARIO_DIR",
    "Delivery",
    "Distribution",
    "Faults",
    "Heartbeats",
    "Reconnects",
    "Scenario",
    "ScenarioError",
    "Sessions",
    "builtin_scenarios",
    "load_scenario",
    "parse_scenario",
]

SCENARIO_DIR = Path(__file__).with_name("scenarios")

MEASURANDS = (
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
STOP_REASONS = ("Local", "EVDisconnected", "Remote", "Other", "PowerLoss", "EmergencyStop")


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Distribution:
    """A random duration in seconds."""

    kind: str = "fixed"
    """fixed, uniform or exponential."""
    value: float = 0.0
    minimum: float = 0.0
    maximum: float = math.inf
    mean: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.value
        if self.kind == "uniform":
            return rng.uniform(self.minimum, self.maximum)
        drawn = rng.expovariate(1.0 / self.mean) if self.mean > 0 else 0.0
        return min(self.maximum, max(self.minimum, drawn))

    @property
    def expected(self) -> float:
        """The mean, ignoring the clipping of an exponential (good enough for pacing)."""
        if self.kind == "fixed":
            return self.value
        if self.kind == "uniform":
            return (self.minimum + self.maximum) / 2
        return self.mean


@dataclass(frozen=True, slots=True)
class Heartbeats:
    scale: float = 1.0
    """Multiplies the interval the server gives in BootNotification."""
    min_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class Sessions:
    charging_fraction: float = 0.0
    """Share of connectors charging at any moment, on average."""
    duration: Distribution = Distribution("uniform", minimum=60, maximum=600)
    meter_interval_seconds: float = 60.0
    power_kw: tuple[float, ...] = (11.0,)
    measurands: tuple[str, ...] = (
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
    )
    stop_reasons: tuple[tuple[str, float], ...] = (("Local", 0.7), ("EVDisconnected", 0.3))
    authorize: bool = True
    """Send Authorize before StartTransaction (a charger with a local list may not)."""
    start_offline: bool = True
    """Start with an id tag authorised before while the socket is down (local cache)."""


@dataclass(frozen=True, slots=True)
class Faults:
    per_station_hour: float = 0.0
    duration: Distribution = Distribution("uniform", minimum=5, maximum=60)


@dataclass(frozen=True, slots=True)
class Reconnects:
    per_station_hour: float = 0.0
    offline: Distribution = Distribution("uniform", minimum=1, maximum=10)


@dataclass(frozen=True, slots=True)
class Delivery:
    response_timeout_seconds: float = 30.0
    transaction_message_attempts: int = 5
    retry_interval_seconds: float = 5.0
    drain_timeout_seconds: float = 30.0
    """At the end: time allowed to stop sessions and deliver what is queued."""
    reconnect_backoff: Distribution = Distribution("uniform", minimum=1, maximum=5)
    """Pause before connecting again after a refused or failed connection."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    ramp_per_second: float = 0.0
    """Default for --ramp; 0 starts every station at once (a boot storm)."""
    heartbeats: Heartbeats = field(default_factory=Heartbeats)
    sessions: Sessions = field(default_factory=Sessions)
    faults: Faults = field(default_factory=Faults)
    reconnects: Reconnects = field(default_factory=Reconnects)
    delivery: Delivery = field(default_factory=Delivery)


def builtin_scenarios() -> list[str]:
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a TOML file by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = SCENARIO_DIR / f"{name_or_path}.toml"
        if not path.exists():
            known = ", ".join(builtin_scenarios())
            raise ScenarioError(f"no scenario {name_or_path!r}; built in: {known}; or give a path")
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise ScenarioError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{path}: not valid TOML: {error}") from None
    return parse_scenario(data, name=path.stem, source=str(path))


def parse_scenario(data: Mapping[str, Any], *, name: str, source: str = "<scenario>") -> Scenario:
    reader = _Reader(source)
    top = reader.table(data, "", ("description", "ramp_per_second", *_SECTIONS))
    sessions_data = reader.section(top, "sessions", _SESSION_KEYS)
    sessions = Sessions(
        charging_fraction=reader.number(sessions_data, "sessions.charging_fraction", 0.0, 0, 1),
        duration=reader.distribution(
            sessions_data, "sessions.duration", _DEFAULT_SESSIONS.duration
        ),
        meter_interval_seconds=reader.number(
            sessions_data, "sessions.meter_interval_seconds", 60.0, 0.1, None
        ),
        power_kw=reader.power(sessions_data, "sessions.power_kw"),
        measurands=reader.measurands(sessions_data, "sessions.measurands"),
        stop_reasons=reader.weights(sessions_data, "sessions.stop_reasons"),
        authorize=reader.flag(sessions_data, "sessions.authorize", True),
        start_offline=reader.flag(sessions_data, "sessions.start_offline", True),
    )
    if sessions.charging_fraction > 0 and sessions.duration.expected <= 0:
        raise ScenarioError(f"{source}: sessions.duration must be positive when anyone charges")
    heartbeats_data = reader.section(top, "heartbeats", ("scale", "min_seconds"))
    faults_data = reader.section(top, "faults", ("per_station_hour", "duration"))
    reconnects_data = reader.section(top, "reconnects", ("per_station_hour", "offline"))
    delivery_data = reader.section(top, "delivery", _DELIVERY_KEYS)
    return Scenario(
        name=name,
        description=reader.text(top, "description"),
        ramp_per_second=reader.number(top, "ramp_per_second", 0.0, 0, None),
        heartbeats=Heartbeats(
            scale=reader.number(heartbeats_data, "heartbeats.scale", 1.0, 0.001, None),
            min_seconds=reader.number(heartbeats_data, "heartbeats.min_seconds", 1.0, 0.1, None),
        ),
        sessions=sessions,
        faults=Faults(
            per_station_hour=reader.number(faults_data, "faults.per_station_hour", 0.0, 0, None),
            duration=reader.distribution(faults_data, "faults.duration", _DEFAULT_FAULTS.duration),
        ),
        reconnects=Reconnects(
            per_station_hour=reader.number(
                reconnects_data, "reconnects.per_station_hour", 0.0, 0, None
            ),
            offline=reader.distribution(
                reconnects_data, "reconnects.offline", _DEFAULT_RECONNECTS.offline
            ),
        ),
        delivery=Delivery(
            response_timeout_seconds=reader.number(
                delivery_data, "delivery.response_timeout_seconds", 30.0, 0.1, None
            ),
            transaction_message_attempts=int(
                reader.number(delivery_data, "delivery.transaction_message_attempts", 5, 1, None)
            ),
            retry_interval_seconds=reader.number(
                delivery_data, "delivery.retry_interval_seconds", 5.0, 0, None
            ),
            drain_timeout_seconds=reader.number(
                delivery_data, "delivery.drain_timeout_seconds", 30.0, 0, None
            ),
            reconnect_backoff=reader.distribution(
                delivery_data, "delivery.reconnect_backoff", _DEFAULT_DELIVERY.reconnect_backoff
            ),
        ),
    )


_DEFAULT_SESSIONS = Sessions()
_DEFAULT_FAULTS = Faults()
_DEFAULT_RECONNECTS = Reconnects()
_DEFAULT_DELIVERY = Delivery()
_SECTIONS = ("heartbeats", "sessions", "faults", "reconnects", "delivery")
_SESSION_KEYS = (
    "charging_fraction",
    "duration",
    "meter_interval_seconds",
    "power_kw",
    "measurands",
    "stop_reasons",
    "authorize",
    "start_offline",
)
_DELIVERY_KEYS = (
    "response_timeout_seconds",
    "transaction_message_attempts",
    "retry_interval_seconds",
    "drain_timeout_seconds",
    "reconnect_backoff",
)


class _Reader:
    """Reads values of a parsed TOML document, refusing what does not fit."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {key}: {problem}")

    def table(self, data: Any, key: str, known: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(key or "(top level)", f"expected a table, got {_kind(data)}")
        unknown = sorted(set(data) - set(known))
        if unknown:
            where = f"[{key}]" if key else "top level"
            raise ScenarioError(
                f"{self.source}: {where}: unknown key(s) {', '.join(unknown)}; "
                f"known: {', '.join(known)}"
            )
        return data

    def section(
        self, top: Mapping[str, Any], key: str, known: tuple[str, ...]
    ) -> Mapping[str, Any]:
        return self.table(top.get(key, {}), key, known)

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        default: float,
        low: float | None,
        high: float | None,
    ) -> float:
        value = data.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {_kind(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise self.fail(key, "must be finite")
        if low is not None and value < low:
            raise self.fail(key, f"must be at least {low:g}, got {value:g}")
        if high is not None and value > high:
            raise self.fail(key, f"must be at most {high:g}, got {value:g}")
        return value

    def flag(self, data: Mapping[str, Any], key: str, default: bool) -> bool:
        value = data.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_kind(value)}")
        return value

    def text(self, data: Mapping[str, Any], key: str) -> str:
        value = data.get(key, "")
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {_kind(value)}")
        return value

    def distribution(
        self, data: Mapping[str, Any], key: str, default: Distribution
    ) -> Distribution:
        value = data.get(key.rsplit(".", 1)[-1])
        if value is None:
            return default
        if isinstance(value, int | float) and not isinstance(value, bool):
            return Distribution("fixed", value=self.number(data, key, 0, 0, None))
        table = self.table(value, key, ("distribution", "value", "min", "max", "mean"))
        kind = table.get("distribution", "uniform")
        if kind == "fixed":
            return Distribution("fixed", value=self.number(table, f"{key}.value", 0, 0, None))
        if kind == "uniform":
            low = self.number(table, f"{key}.min", 0, 0, None)
            high = self.number(table, f"{key}.max", low, 0, None)
            if high < low:
                raise self.fail(key, f"max ({high:g}) is less than min ({low:g})")
            return Distribution("uniform", minimum=low, maximum=high)
        if kind == "exponential":
            if "mean" not in table:
                raise self.fail(key, "an exponential distribution needs a mean")
            mean = self.number(table, f"{key}.mean", 0, 0, None)
            low = self.number(table, f"{key}.min", 0, 0, None)
            high = (
                self.number(table, f"{key}.max", math.inf, 0, None) if "max" in table else math.inf
            )
            if high < low:
                raise self.fail(key, f"max ({high:g}) is less than min ({low:g})")
            return Distribution("exponential", mean=mean, minimum=low, maximum=high)
        raise self.fail(
            f"{key}.distribution", f"expected fixed, uniform or exponential, got {kind!r}"
        )

    def power(self, data: Mapping[str, Any], key: str) -> tuple[float, ...]:
        value = data.get("power_kw", list(_DEFAULT_SESSIONS.power_kw))
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(key, "expected a number or a non-empty list of numbers (kW)")
        powers = tuple(self.number({"power_kw": item}, f"{key}", 0, 0.1, 1000.0) for item in value)
        return powers

    def measurands(self, data: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = data.get("measurands", list(_DEFAULT_SESSIONS.measurands))
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a non-empty list of measurand names")
        unknown = [v for v in value if v not in MEASURANDS]
        if unknown:
            raise self.fail(
                key, f"unknown measurand(s) {', '.join(unknown)}; known: {', '.join(MEASURANDS)}"
            )
        return tuple(value)

    def weights(self, data: Mapping[str, Any], key: str) -> tuple[tuple[str, float], ...]:
        value = data.get("stop_reasons")
        if value is None:
            return _DEFAULT_SESSIONS.stop_reasons
        table = self.table(value, key, STOP_REASONS)
        weights = tuple(
            (reason, self.number(table, f"{key}.{reason}", 0, 0, None)) for reason in table
        )
        if not weights or sum(w for _, w in weights) <= 0:
            raise self.fail(key, "give at least one reason a positive weight")
        return weights


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} ({value!r})"
