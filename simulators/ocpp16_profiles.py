"""Charging profiles of a simulated OCPP 1.6 charge point (Smart Charging profile).

Profiles are kept as the ``ocpp`` library hands them to a handler: dicts with
snake_case keys (``charging_profile_id``, ``charging_schedule`` ...). The store
validates SetChargingProfile the way a charger does, clears profiles for
ClearChargingProfile, and evaluates the limit in force at a moment (used to cap
the simulated power) and the composite schedule for GetCompositeSchedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from simulators.common import format_timestamp, parse_timestamp

__all__ = ["ChargingProfiles16", "InstalledProfile", "plain_numbers"]

_RECURRENCE = {"Daily": timedelta(days=1), "Weekly": timedelta(days=7)}


def plain_numbers(value: Any) -> Any:
    """Replace the ``Decimal`` the ``ocpp`` library parses 1.6 profile numbers into by floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_numbers(v) for v in value]
    return value


def _maybe_time(value: Any) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) and value else None


@dataclass
class InstalledProfile:
    connector_id: int
    profile: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.profile["charging_profile_id"])

    @property
    def stack_level(self) -> int:
        return int(self.profile["stack_level"])

    @property
    def purpose(self) -> str:
        return str(self.profile["charging_profile_purpose"])

    @property
    def transaction_id(self) -> int | None:
        value = self.profile.get("transaction_id")
        return None if value is None else int(value)

    @property
    def schedule(self) -> dict[str, Any]:
        schedule: dict[str, Any] = self.profile["charging_schedule"]
        return schedule

    def _origin(self, at: datetime, relative_origin: datetime) -> datetime | None:
        """Start of the schedule (occurrence) that covers ``at``."""
        kind = self.profile.get("charging_profile_kind")
        start = _maybe_time(self.schedule.get("start_schedule"))
        if kind == "Relative":
            return relative_origin
        if kind == "Recurring":
            base = start or _maybe_time(self.profile.get("valid_from"))
            step = _RECURRENCE.get(str(self.profile.get("recurrency_kind")), timedelta(days=1))
            if base is None:
                return None
            if at < base:
                return base
            return base + step * math.floor((at - base) / step)
        return start or _maybe_time(self.profile.get("valid_from")) or relative_origin

    def limit_at(self, at: datetime, relative_origin: datetime, voltage: float) -> float | None:
        """The limit, in W, this profile sets at ``at``; None when it sets none then."""
        valid_from = _maybe_time(self.profile.get("valid_from"))
        valid_to = _maybe_time(self.profile.get("valid_to"))
        if (valid_from and at < valid_from) or (valid_to and at >= valid_to):
            return None
        origin = self._origin(at, relative_origin)
        if origin is None:
            return None
        offset = (at - origin).total_seconds()
        duration = self.schedule.get("duration")
        if offset < 0 or (duration is not None and offset >= duration):
            return None
        current = None
        for period in sorted(self.schedule["charging_schedule_period"], key=_start):
            if _start(period) <= offset:
                current = period
        if current is None:
            return None
        limit = float(current["limit"])
        if self.schedule.get("charging_rate_unit") == "A":
            limit *= voltage * int(current.get("number_phases") or 3)
        return limit

    def breakpoints(
        self, start: datetime, end: datetime, relative_origin: datetime
    ) -> set[datetime]:
        """Moments in (start, end) at which this profile's limit may change."""
        points: set[datetime] = set()
        for key in ("valid_from", "valid_to"):
            moment = _maybe_time(self.profile.get(key))
            if moment is not None:
                points.add(moment)
        step = _RECURRENCE.get(str(self.profile.get("recurrency_kind")), timedelta(days=1))
        origin = self._origin(start, relative_origin)
        while origin is not None and origin < end:
            points.add(origin)
            for period in self.schedule["charging_schedule_period"]:
                points.add(origin + timedelta(seconds=_start(period)))
            duration = self.schedule.get("duration")
            if duration is not None:
                points.add(origin + timedelta(seconds=float(duration)))
            if self.profile.get("charging_profile_kind") != "Recurring":
                break
            origin += step
        return {p for p in points if start < p < end}


def _start(period: dict[str, Any]) -> float:
    return float(period["start_period"])


class ChargingProfiles16:
    """The profiles installed on a charge point, with the checks of SetChargingProfile."""

    def __init__(self, *, max_stack_level: int = 8, max_profiles: int = 16, max_periods: int = 24):
        self.max_stack_level = max_stack_level
        self.max_profiles = max_profiles
        self.max_periods = max_periods
        self.installed: list[InstalledProfile] = []

    def install(
        self,
        connector_id: int,
        profile: dict[str, Any],
        *,
        connectors: int,
        transaction_id: int | None,
    ) -> str:
        """SetChargingProfile: returns Accepted or Rejected.

        ``transaction_id`` is the transaction running on the connector, if any.
        """
        profile = plain_numbers(profile)
        purpose = profile.get("charging_profile_purpose")
        periods = profile.get("charging_schedule", {}).get("charging_schedule_period", [])
        if not 0 <= connector_id <= connectors:
            return "Rejected"
        if purpose == "ChargePointMaxProfile" and connector_id != 0:
            return "Rejected"
        if purpose == "TxProfile":
            if connector_id == 0 or transaction_id is None:
                return "Rejected"
            if profile.get("transaction_id") not in (None, transaction_id):
                return "Rejected"
            profile["transaction_id"] = transaction_id
        if not 0 <= int(profile.get("stack_level", 0)) <= self.max_stack_level:
            return "Rejected"
        if not periods or len(periods) > self.max_periods:
            return "Rejected"
        new = InstalledProfile(connector_id, profile)
        kept = [
            p
            for p in self.installed
            if p.id != new.id
            and not (
                p.connector_id == connector_id
                and p.purpose == new.purpose
                and p.stack_level == new.stack_level
            )
        ]
        if len(kept) >= self.max_profiles:
            return "Rejected"
        self.installed = [*kept, new]
        return "Accepted"

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> str:
        """ClearChargingProfile: returns Accepted when something was removed, else Unknown."""

        def matches(p: InstalledProfile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (connector_id is None or p.connector_id == connector_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        before = len(self.installed)
        self.installed = [p for p in self.installed if not matches(p)]
        return "Accepted" if len(self.installed) < before else "Unknown"

    def end_transaction(self, connector_id: int) -> None:
        """TxProfiles end with their transaction."""
        self.installed = [
            p
            for p in self.installed
            if not (p.connector_id == connector_id and p.purpose == "TxProfile")
        ]

    def _prevailing(
        self, candidates: list[InstalledProfile], at: datetime, origin: datetime, voltage: float
    ) -> float | None:
        for profile in sorted(candidates, key=lambda p: p.stack_level, reverse=True):
            limit = profile.limit_at(at, origin, voltage)
            if limit is not None:
                return limit
        return None

    def limit_w(
        self,
        connector_id: int,
        at: datetime,
        *,
        transaction_id: int | None = None,
        transaction_start: datetime | None = None,
        voltage: float = 230.0,
    ) -> float | None:
        """The power limit, in W, in force on a connector at ``at``; None if unlimited."""
        origin = transaction_start or at
        limits: list[float] = []
        station_max = self._prevailing(
            [p for p in self.installed if p.purpose == "ChargePointMaxProfile"], at, origin, voltage
        )
        if station_max is not None:
            limits.append(station_max)
        if connector_id > 0:
            tx_limit = None
            if transaction_id is not None:
                tx_limit = self._prevailing(
                    [
                        p
                        for p in self.installed
                        if p.purpose == "TxProfile"
                        and p.connector_id == connector_id
                        and p.transaction_id in (None, transaction_id)
                    ],
                    at,
                    origin,
                    voltage,
                )
            for where in (connector_id, 0):
                if tx_limit is not None:
                    break
                tx_limit = self._prevailing(
                    [
                        p
                        for p in self.installed
                        if p.purpose == "TxDefaultProfile" and p.connector_id == where
                    ],
                    at,
                    origin,
                    voltage,
                )
            if tx_limit is not None:
                limits.append(tx_limit)
        return min(limits) if limits else None

    def composite(
        self,
        connector_id: int,
        start: datetime,
        duration: int,
        *,
        unit: str | None = None,
        transaction_id: int | None = None,
        transaction_start: datetime | None = None,
        voltage: float = 230.0,
        phases: int = 3,
        hardware_limit_w: float = 22_000.0,
    ) -> dict[str, Any]:
        """The composite schedule for GetCompositeSchedule (snake_case, limits to 0.1)."""
        unit = unit or "W"
        end = start + timedelta(seconds=duration)
        origin = transaction_start or start
        points = {start}
        for profile in self.installed:
            points |= profile.breakpoints(start, end, origin)
        periods: list[dict[str, Any]] = []
        for moment in sorted(points):
            limit = self.limit_w(
                connector_id,
                moment,
                transaction_id=transaction_id,
                transaction_start=transaction_start,
                voltage=voltage,
            )
            watts = hardware_limit_w if limit is None else min(limit, hardware_limit_w)
            value = watts / (voltage * phases) if unit == "A" else watts
            value = round(value, 1)
            if periods and periods[-1]["limit"] == value:
                continue
            periods.append(
                {
                    "start_period": int((moment - start).total_seconds()),
                    "limit": value,
                    "number_phases": phases,
                }
            )
        return {
            "duration": duration,
            "start_schedule": format_timestamp(start),
            "charging_rate_unit": unit,
            "charging_schedule_period": periods,
        }
