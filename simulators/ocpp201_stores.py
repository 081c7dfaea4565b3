"""Pure parts of the OCPP 2.0.1 station: meter values, the local list, charging profiles.

Keys are snake_case, as the ``ocpp`` library hands payloads to handlers and takes
them for requests. Free of I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulators.common import format_timestamp
from simulators.meter import MeterSample

__all__ = [
    "ChargingProfiles201",
    "LocalList201",
    "meter_value201",
    "sampled_values201",
]


# --- meter values ----------------------------------------------------------------------------


def _sv(value: float, context: str, measurand: str, unit: str, **extra: Any) -> dict[str, Any]:
    return {
        "value": value,
        "context": context,
        "measurand": measurand,
        "unit_of_measure": {"unit": unit},
        **extra,
    }


def sampled_values201(
    sample: MeterSample, measurands: Sequence[str], context: str
) -> list[dict[str, Any]]:
    """2.0.1 ``sampledValue`` entries: numbers, ``unitOfMeasure``; energy in Wh."""
    out: list[dict[str, Any]] = []
    phases = len(sample.current_a)
    volts = sample.voltage_v[0] if sample.voltage_v else 230.0
    for m in measurands:
        if m == "Energy.Active.Import.Register":
            out.append(_sv(float(sample.energy_wh), context, m, "Wh", location="Outlet"))
        elif m == "Power.Active.Import":
            out.append(_sv(round(sample.power_w, 1), context, m, "W", location="Outlet"))
        elif m == "Power.Offered":
            out.append(_sv(round(sample.offered_w, 1), context, m, "W", location="Outlet"))
        elif m == "Current.Import":
            for n, amps in enumerate(sample.current_a, start=1):
                out.append(_sv(round(amps, 2), context, m, "A", phase=f"L{n}", location="Outlet"))
        elif m == "Current.Offered":
            amps = sample.offered_w / (volts * phases) if phases else 0.0
            out.append(_sv(round(amps, 2), context, m, "A", location="Outlet"))
        elif m == "Voltage":
            for n, volt in enumerate(sample.voltage_v, start=1):
                out.append(_sv(round(volt, 1), context, m, "V", phase=f"L{n}-N", location="Outlet"))
        elif m == "SoC" and sample.soc_percent is not None:
            out.append(_sv(round(sample.soc_percent, 1), context, m, "Percent", location="EV"))
        elif m == "Frequency":
            out.append(_sv(round(sample.frequency_hz, 2), context, m, "Hz"))
        elif m == "Temperature":
            out.append(_sv(round(sample.temperature_c, 1), context, m, "Celsius", location="Body"))
    return out


def meter_value201(sample: MeterSample, measurands: Sequence[str], context: str) -> dict[str, Any]:
    """One ``MeterValueType``: timestamp and its sampled values."""
    return {
        "timestamp": format_timestamp(sample.timestamp),
        "sampled_value": sampled_values201(sample, measurands, context),
    }


# --- the local authorization list ------------------------------------------------------------


@dataclass
class LocalList201:
    """SendLocalList / GetLocalListVersion semantics (D01, D02).

    ``entries`` maps the idToken string to its ``AuthorizationData`` (snake_case).
    """

    version: int = 0
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def update(
        self,
        version_number: int,
        update_type: str,
        items: Iterable[Mapping[str, Any]] | None,
        *,
        items_per_message: int,
        capacity: int,
        enabled: bool = True,
    ) -> str:
        """Accepted, Failed (disabled, too many items, over capacity) or VersionMismatch."""
        batch = list(items or [])
        if not enabled or len(batch) > items_per_message:
            return "Failed"
        if update_type == "Full":
            updated = {
                str(e["id_token"]["id_token"]): dict(e) for e in batch if e.get("id_token_info")
            }
        else:
            if version_number <= self.version:
                return "VersionMismatch"
            updated = dict(self.entries)
            for entry in batch:
                token = str(entry["id_token"]["id_token"])
                if entry.get("id_token_info"):
                    updated[token] = dict(entry)
                else:
                    updated.pop(token, None)
        if len(updated) > capacity:
            return "Failed"
        self.entries = updated
        self.version = version_number
        return "Accepted"

    def status_of(self, id_token: str) -> str | None:
        entry = self.entries.get(id_token)
        if entry is None:
            return None
        return str((entry.get("id_token_info") or {}).get("status"))


# --- charging profiles -----------------------------------------------------------------------


@dataclass
class InstalledProfile:
    evse_id: int
    profile: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.profile["id"])

    @property
    def purpose(self) -> str:
        return str(self.profile["charging_profile_purpose"])

    @property
    def stack_level(self) -> int:
        return int(self.profile["stack_level"])


@dataclass
class ChargingProfiles201:
    """SetChargingProfile / ClearChargingProfile / GetChargingProfiles (K01, K10, K09)."""

    max_stack_level: int = 8
    max_periods: int = 24
    installed: list[InstalledProfile] = field(default_factory=list)

    def install(
        self,
        evse_id: int,
        profile: Mapping[str, Any],
        *,
        evses: Iterable[int],
        transaction_of: Mapping[int, str | None],
    ) -> str:
        """Accepted or Rejected, checking what a station checks."""
        purpose = profile.get("charging_profile_purpose")
        stack = int(profile.get("stack_level", -1))
        if evse_id != 0 and evse_id not in set(evses):
            return "Rejected"
        if not 0 <= stack <= self.max_stack_level:
            return "Rejected"
        schedules = profile.get("charging_schedule") or []
        if not schedules or any(
            len(s.get("charging_schedule_period") or []) > self.max_periods for s in schedules
        ):
            return "Rejected"
        if purpose == "ChargingStationMaxProfile" and evse_id != 0:
            return "Rejected"
        if purpose == "TxProfile":
            running = transaction_of.get(evse_id)
            if evse_id == 0 or running is None:
                return "Rejected"
            wanted = profile.get("transaction_id")
            if wanted is not None and wanted != running:
                return "Rejected"
        if purpose == "ChargingStationExternalConstraints":
            return "Rejected"  # set by external systems only
        new_id = int(profile["id"])
        for other in self.installed:
            if (
                other.id != new_id
                and other.evse_id == evse_id
                and other.purpose == purpose
                and other.stack_level == stack
            ):
                return "Rejected"
        self.installed = [p for p in self.installed if p.id != new_id]
        self.installed.append(InstalledProfile(evse_id, dict(profile)))
        return "Accepted"

    def clear(
        self, profile_id: int | None = None, criteria: Mapping[str, Any] | None = None
    ) -> str:
        """Accepted when at least one profile matched, else Unknown."""
        criteria = criteria or {}

        def matches(p: InstalledProfile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            if criteria.get("evse_id") is not None and p.evse_id != criteria["evse_id"]:
                return False
            purpose = criteria.get("charging_profile_purpose")
            if purpose is not None and p.purpose != purpose:
                return False
            level = criteria.get("stack_level")
            return level is None or p.stack_level == level

        kept = [p for p in self.installed if not matches(p)]
        if len(kept) == len(self.installed):
            return "Unknown"
        self.installed = kept
        return "Accepted"

    def select(
        self, criterion: Mapping[str, Any], evse_id: int | None = None
    ) -> dict[int, list[dict[str, Any]]]:
        """GetChargingProfiles: matching profiles by EVSE id."""
        ids = criterion.get("charging_profile_id") or []
        purpose = criterion.get("charging_profile_purpose")
        level = criterion.get("stack_level")
        sources = criterion.get("charging_limit_source") or []
        out: dict[int, list[dict[str, Any]]] = {}
        for p in self.installed:
            if evse_id is not None and p.evse_id != evse_id:
                continue
            if ids and p.id not in ids:
                continue
            if purpose is not None and p.purpose != purpose:
                continue
            if level is not None and p.stack_level != level:
                continue
            if sources and "CSO" not in sources:
                continue
            out.setdefault(p.evse_id, []).append(p.profile)
        return out

    def end_transaction(self, evse_id: int) -> None:
        """TxProfiles end with their transaction."""
        self.installed = [
            p for p in self.installed if not (p.evse_id == evse_id and p.purpose == "TxProfile")
        ]

    def limit_w(self, evse_id: int, *, voltage: float, phases: int) -> float | None:
        """The power limit now: the first period's limit of the highest-stack profile of each
        purpose (TxProfile over TxDefaultProfile), capped by ChargingStationMaxProfile."""

        def first_limit(p: InstalledProfile) -> float:
            schedule = (p.profile.get("charging_schedule") or [{}])[0]
            periods = schedule.get("charging_schedule_period") or [{}]
            limit = float(periods[0].get("limit", 0))
            if schedule.get("charging_rate_unit") == "A":
                used = int(periods[0].get("number_phases") or phases)
                limit *= voltage * used
            return limit

        def top(purpose: str, evse_ids: tuple[int, ...]) -> InstalledProfile | None:
            candidates = [
                p for p in self.installed if p.purpose == purpose and p.evse_id in evse_ids
            ]
            return max(candidates, key=lambda p: (p.evse_id != 0, p.stack_level), default=None)

        limits = []
        chosen = top("TxProfile", (evse_id,)) or top("TxDefaultProfile", (evse_id, 0))
        if chosen is not None:
            limits.append(first_limit(chosen))
        station = top("ChargingStationMaxProfile", (0,))
        if station is not None:
            limits.append(first_limit(station))
        return min(limits) if limits else None
