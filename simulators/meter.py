"""An electricity meter and the EV behind it, independent of any OCPP version.

The model integrates power over time into an energy register (Wh) and a battery
state of charge. Each OCPP version turns a :class:`MeterSample` into its own
sampled-value format (see ``simulators.ocpp16.sampled_values``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from simulators.common import utc_now

__all__ = ["MeterModel", "MeterSample"]


@dataclass(frozen=True, slots=True)
class MeterSample:
    """What the meter reads at one moment."""

    timestamp: datetime
    energy_wh: int
    """The import register, whole Wh, never decreasing."""
    power_w: float
    current_a: tuple[float, ...]
    """Current per phase (L1, L2, L3 for a three-phase meter)."""
    voltage_v: tuple[float, ...]
    """Phase-to-neutral voltage per phase."""
    soc_percent: float | None
    """State of charge of the EV, None when no EV is plugged in."""
    offered_w: float
    """The power the charge point offers the EV (after limits)."""
    frequency_hz: float = 50.0
    temperature_c: float = 25.0


@dataclass
class MeterModel:
    """A meter on one connector: an energy register plus the EV's battery.

    ``energy_wh`` keeps growing across sessions, like the register of a real
    meter. ``set_power`` chooses the power drawn from now on (the EV stops
    drawing once its battery is full); ``advance`` integrates it.
    """

    energy_wh: float = 0.0
    voltage_v: float = 230.0
    phases: int = 3
    battery_wh: float = 60_000.0
    soc_percent: float | None = None
    power_w: float = 0.0
    offered_w: float = 0.0

    def __post_init__(self) -> None:
        if self.phases not in (1, 2, 3):
            raise ValueError("phases must be 1, 2 or 3")
        if self.energy_wh < 0:
            raise ValueError("the energy register cannot be negative")

    @property
    def register_wh(self) -> int:
        """The register as a meter reports it: whole Wh, rounded down."""
        return int(self.energy_wh)

    @property
    def ev_full(self) -> bool:
        return self.soc_percent is not None and self.soc_percent >= 100.0

    def plug_in(self, soc_percent: float = 20.0, battery_wh: float | None = None) -> None:
        """An EV arrives with the given state of charge."""
        self.soc_percent = max(0.0, min(100.0, soc_percent))
        if battery_wh is not None:
            self.battery_wh = battery_wh
        self.power_w = 0.0

    def unplug(self) -> None:
        self.soc_percent = None
        self.power_w = 0.0
        self.offered_w = 0.0

    def set_power(self, requested_w: float, offered_w: float | None = None) -> float:
        """Draw ``requested_w`` (capped at ``offered_w``) from now on; returns the actual power.

        A full battery draws nothing.
        """
        offered = requested_w if offered_w is None else offered_w
        self.offered_w = max(0.0, offered)
        power = max(0.0, min(requested_w, self.offered_w))
        if self.ev_full:
            power = 0.0
        self.power_w = power
        return power

    def advance(self, seconds: float) -> float:
        """Let ``seconds`` pass at the current power; returns the energy added, in Wh.

        When the battery fills up during the interval, only the energy that fits is
        added and the power drops to zero.
        """
        if seconds <= 0 or self.power_w <= 0:
            return 0.0
        added = self.power_w * seconds / 3600.0
        if self.soc_percent is not None and self.battery_wh > 0:
            room = (100.0 - self.soc_percent) / 100.0 * self.battery_wh
            if added >= room:
                added = max(0.0, room)
                self.soc_percent = 100.0
                self.power_w = 0.0
            else:
                self.soc_percent += added / self.battery_wh * 100.0
        self.energy_wh += added
        return added

    def current_per_phase(self) -> float:
        """Amperes on each phase for the current power (balanced load)."""
        if self.power_w <= 0:
            return 0.0
        return self.power_w / (self.voltage_v * self.phases)

    def sample(self, timestamp: datetime | None = None) -> MeterSample:
        """Read the meter."""
        amps = round(self.current_per_phase(), 2)
        return MeterSample(
            timestamp=timestamp or utc_now(),
            energy_wh=self.register_wh,
            power_w=round(self.power_w, 1),
            current_a=(amps,) * self.phases,
            voltage_v=(round(self.voltage_v, 1),) * self.phases,
            soc_percent=None if self.soc_percent is None else round(self.soc_percent, 1),
            offered_w=round(self.offered_w, 1),
        )
