"""The device model of a simulated OCPP 2.0.1 charging station.

Components and variables with their attributes and characteristics (OCPP 2.0.1
part 2, appendix 2), with the semantics of GetVariables, SetVariables and
GetBaseReport: unknown components and variables, write-only and read-only
variables, value checks against data type and limits, reboot-required variables,
and the report data of the three base reports. Free of I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MEASURANDS",
    "DeviceModel201",
    "Variable",
]

MEASURANDS: tuple[str, ...] = (
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

Key = tuple[str, str | None, int | None, int | None, str, str | None]
"""(component, component instance, evse id, connector id, variable, variable instance)"""


@dataclass
class Variable:
    component: str
    name: str
    value: str
    data_type: str = "string"
    """string, decimal, integer, dateTime, boolean, OptionList, SequenceList, MemberList"""
    mutability: str = "ReadWrite"
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    instance: str | None = None
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = None
    reboot_required: bool = False
    persistent: bool = True
    constant: bool = False
    check: Callable[[str, str], bool] | None = None
    """Extra check (old value, new value) -> acceptable."""
    summary: bool = False
    """Part of the SummaryInventory (availability and problems)."""

    @property
    def key(self) -> Key:
        return (
            self.component,
            self.component_instance,
            self.evse_id,
            self.connector_id,
            self.name,
            self.instance,
        )

    def component_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.component}
        if self.component_instance is not None:
            out["instance"] = self.component_instance
        if self.evse_id is not None:
            evse: dict[str, Any] = {"id": self.evse_id}
            if self.connector_id is not None:
                evse["connector_id"] = self.connector_id
            out["evse"] = evse
        return out

    def variable_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.instance is not None:
            out["instance"] = self.instance
        return out

    def report_data(self) -> dict[str, Any]:
        attribute: dict[str, Any] = {
            "type": "Actual",
            "mutability": self.mutability,
            "persistent": self.persistent,
            "constant": self.constant,
        }
        if self.mutability != "WriteOnly":
            attribute["value"] = self.value
        characteristics: dict[str, Any] = {
            "data_type": self.data_type,
            "supports_monitoring": False,
        }
        if self.unit is not None:
            characteristics["unit"] = self.unit
        if self.min_limit is not None:
            characteristics["min_limit"] = self.min_limit
        if self.max_limit is not None:
            characteristics["max_limit"] = self.max_limit
        if self.values_list is not None:
            characteristics["values_list"] = self.values_list
        return {
            "component": self.component_dict(),
            "variable": self.variable_dict(),
            "variable_attribute": [attribute],
            "variable_characteristics": characteristics,
        }


def _no_downgrade(old: str, new: str) -> bool:
    return int(new) >= int(old)


def _password_ok(_old: str, new: str) -> bool:
    # OCPP 2.0.1: 16 to 40 characters (A00.FR.205: passwordString)
    return 16 <= len(new) <= 40 and all(32 < ord(c) < 127 for c in new)


def default_variables(
    evses: Mapping[int, int], *, vendor: str = "SimVendor", model: str = "Sim-201"
) -> list[Variable]:
    """The variables of a station with ``evses`` (EVSE id -> number of connectors)."""
    ro, rw, wo = "ReadOnly", "ReadWrite", "WriteOnly"
    measurands = ",".join(MEASURANDS)
    v = Variable
    out = [
        # the station itself
        v(
            "ChargingStation",
            "AvailabilityState",
            "Available",
            "OptionList",
            ro,
            values_list="Available,Occupied,Reserved,Unavailable,Faulted",
            summary=True,
        ),
        v("ChargingStation", "Available", "true", "boolean", ro, summary=True),
        v("ChargingStation", "Model", model, "string", ro),
        v("ChargingStation", "VendorName", vendor, "string", ro),
        v("ChargingStation", "SupplyPhases", "3", "integer", ro),
        # communication
        v("OCPPCommCtrlr", "HeartbeatInterval", "300", "integer", rw, unit="s", min_limit=0),
        v(
            "OCPPCommCtrlr",
            "NetworkConfigurationPriority",
            "0",
            "SequenceList",
            rw,
            reboot_required=True,
        ),
        v("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "3", "integer", rw, min_limit=1),
        v("OCPPCommCtrlr", "OfflineThreshold", "60", "integer", rw, unit="s", min_limit=0),
        v(
            "OCPPCommCtrlr",
            "MessageAttempts",
            "3",
            "integer",
            rw,
            instance="TransactionEvent",
            min_limit=0,
        ),
        v(
            "OCPPCommCtrlr",
            "MessageAttemptInterval",
            "60",
            "integer",
            rw,
            instance="TransactionEvent",
            unit="s",
            min_limit=0,
        ),
        v(
            "OCPPCommCtrlr",
            "MessageTimeout",
            "30",
            "integer",
            rw,
            instance="Default",
            unit="s",
            min_limit=1,
        ),
        v("OCPPCommCtrlr", "ResetRetries", "2", "integer", rw, min_limit=0),
        v("OCPPCommCtrlr", "WebSocketPingInterval", "30", "integer", rw, unit="s", min_limit=0),
        v("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", "true", "boolean", rw),
        v(
            "OCPPCommCtrlr",
            "FileTransferProtocols",
            "HTTP,HTTPS",
            "MemberList",
            ro,
            values_list="FTP,FTPS,HTTP,HTTPS,SFTP",
        ),
        # security
        v("SecurityCtrlr", "BasicAuthPassword", "", "string", wo, max_limit=40, check=_password_ok),
        v(
            "SecurityCtrlr",
            "SecurityProfile",
            "1",
            "integer",
            ro,
            min_limit=0,
            max_limit=3,
            check=_no_downgrade,
        ),
        v("SecurityCtrlr", "OrganizationName", vendor, "string", rw),
        v("SecurityCtrlr", "Identity", "", "string", ro),
        v("SecurityCtrlr", "CertificateEntries", "0", "integer", ro),
        v("SecurityCtrlr", "MaxCertificateChainSize", "10000", "integer", ro),
        # authorisation
        v("AuthCtrlr", "Enabled", "true", "boolean", rw),
        v("AuthCtrlr", "AuthorizeRemoteStart", "true", "boolean", rw),
        v("AuthCtrlr", "LocalAuthorizeOffline", "true", "boolean", rw),
        v("AuthCtrlr", "LocalPreAuthorize", "false", "boolean", rw),
        v("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "false", "boolean", rw),
        v("AuthCacheCtrlr", "Enabled", "true", "boolean", rw),
        v("AuthCacheCtrlr", "Available", "true", "boolean", ro),
        v("LocalAuthListCtrlr", "Enabled", "true", "boolean", rw),
        v("LocalAuthListCtrlr", "Available", "true", "boolean", ro),
        v("LocalAuthListCtrlr", "Entries", "0", "integer", ro),
        v("LocalAuthListCtrlr", "ItemsPerMessage", "100", "integer", ro),
        v("LocalAuthListCtrlr", "BytesPerMessage", "65536", "integer", ro),
        v("LocalAuthListCtrlr", "Storage", "1000", "integer", ro, unit="items"),
        # transactions
        v("TxCtrlr", "EVConnectionTimeOut", "120", "integer", rw, unit="s", min_limit=0),
        v("TxCtrlr", "StopTxOnEVSideDisconnect", "true", "boolean", rw),
        v("TxCtrlr", "StopTxOnInvalidId", "true", "boolean", rw),
        v(
            "TxCtrlr",
            "TxStartPoint",
            "PowerPathClosed",
            "MemberList",
            rw,
            values_list="ParkingBayOccupancy,EVConnected,Authorized,DataSigned,PowerPathClosed,"
            "EnergyTransfer",
        ),
        v(
            "TxCtrlr",
            "TxStopPoint",
            "EVConnected,Authorized",
            "MemberList",
            rw,
            values_list="ParkingBayOccupancy,EVConnected,Authorized,PowerPathClosed,EnergyTransfer",
        ),
        # metering
        v("SampledDataCtrlr", "Enabled", "true", "boolean", rw),
        v(
            "SampledDataCtrlr",
            "TxStartedMeasurands",
            "Energy.Active.Import.Register",
            "MemberList",
            rw,
            values_list=measurands,
        ),
        v(
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
            "MemberList",
            rw,
            values_list=measurands,
        ),
        v("SampledDataCtrlr", "TxUpdatedInterval", "60", "integer", rw, unit="s", min_limit=0),
        v(
            "SampledDataCtrlr",
            "TxEndedMeasurands",
            "Energy.Active.Import.Register",
            "MemberList",
            rw,
            values_list=measurands,
        ),
        v("SampledDataCtrlr", "TxEndedInterval", "0", "integer", rw, unit="s", min_limit=0),
        v(
            "AlignedDataCtrlr",
            "Measurands",
            "Energy.Active.Import.Register",
            "MemberList",
            rw,
            values_list=measurands,
        ),
        v("AlignedDataCtrlr", "Interval", "0", "integer", rw, unit="s", min_limit=0),
        # device data
        v("DeviceDataCtrlr", "ItemsPerMessage", "20", "integer", ro, instance="GetReport"),
        v("DeviceDataCtrlr", "ItemsPerMessage", "50", "integer", ro, instance="GetVariables"),
        v("DeviceDataCtrlr", "ItemsPerMessage", "50", "integer", ro, instance="SetVariables"),
        v("DeviceDataCtrlr", "BytesPerMessage", "65536", "integer", ro, instance="GetReport"),
        v("DeviceDataCtrlr", "BytesPerMessage", "65536", "integer", ro, instance="GetVariables"),
        v("DeviceDataCtrlr", "BytesPerMessage", "65536", "integer", ro, instance="SetVariables"),
        # reservations, smart charging, clock
        v("ReservationCtrlr", "Enabled", "true", "boolean", rw),
        v("ReservationCtrlr", "NonEvseSpecific", "true", "boolean", ro),
        v("SmartChargingCtrlr", "Enabled", "true", "boolean", rw),
        v("SmartChargingCtrlr", "Entries", "0", "integer", ro, instance="ChargingProfiles"),
        v("SmartChargingCtrlr", "ProfileStackLevel", "8", "integer", ro),
        v("SmartChargingCtrlr", "PeriodsPerSchedule", "24", "integer", ro),
        v("SmartChargingCtrlr", "RateUnit", "A,W", "MemberList", ro, values_list="A,W"),
        v(
            "ClockCtrlr",
            "TimeSource",
            "Heartbeat",
            "SequenceList",
            rw,
            values_list="Heartbeat,NTP,GPS,RealTimeClock,MobileNetwork,RadioTimeTransmitter",
        ),
        v("FirmwareCtrlr", "FirmwareVersion", "1.0", "string", ro),
    ]
    for evse_id, connectors in sorted(evses.items()):
        out += [
            v(
                "EVSE",
                "AvailabilityState",
                "Available",
                "OptionList",
                ro,
                evse_id=evse_id,
                values_list="Available,Occupied,Reserved,Unavailable,Faulted",
                summary=True,
            ),
            v("EVSE", "Available", "true", "boolean", ro, evse_id=evse_id, summary=True),
            v("EVSE", "Power", "22000", "decimal", ro, evse_id=evse_id, unit="W", max_limit=22000),
            v("EVSE", "SupplyPhases", "3", "integer", ro, evse_id=evse_id),
        ]
        for connector_id in range(1, connectors + 1):
            out += [
                v(
                    "Connector",
                    "AvailabilityState",
                    "Available",
                    "OptionList",
                    ro,
                    evse_id=evse_id,
                    connector_id=connector_id,
                    values_list="Available,Occupied,Reserved,Unavailable,Faulted",
                    summary=True,
                ),
                v(
                    "Connector",
                    "Available",
                    "true",
                    "boolean",
                    ro,
                    evse_id=evse_id,
                    connector_id=connector_id,
                    summary=True,
                ),
                v(
                    "Connector",
                    "ConnectorType",
                    "cType2",
                    "string",
                    ro,
                    evse_id=evse_id,
                    connector_id=connector_id,
                ),
            ]
    return out


def _evse_of(component: Mapping[str, Any]) -> tuple[int | None, int | None]:
    evse = component.get("evse") or {}
    return evse.get("id"), evse.get("connector_id")


@dataclass
class DeviceModel201:
    """Variables by key, with OCPP's get / set / report semantics.

    ``overrides`` maps ``"Component.Variable"`` or ``"Component.Variable[Instance]"``
    to a value (read-only variables included: that is how a station is "built").
    """

    variables: dict[Key, Variable] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        evses: Mapping[int, int],
        overrides: Mapping[str, str] | None = None,
        **kwargs: str,
    ) -> DeviceModel201:
        model = cls({v.key: v for v in default_variables(evses, **kwargs)})
        for name, value in (overrides or {}).items():
            model.set_value(name, str(value))
        return model

    # --- the station's own access ----------------------------------------------------

    def find(
        self,
        component: str,
        name: str,
        *,
        instance: str | None = None,
        evse_id: int | None = None,
        connector_id: int | None = None,
        component_instance: str | None = None,
    ) -> Variable | None:
        return self.variables.get(
            (component, component_instance, evse_id, connector_id, name, instance)
        )

    @staticmethod
    def _parse_name(dotted: str) -> tuple[str, str, str | None]:
        instance = None
        if dotted.endswith("]") and "[" in dotted:
            dotted, instance = dotted[:-1].split("[", 1)
        component, name = dotted.split(".", 1)
        return component, name, instance

    def get(self, dotted: str, default: str = "") -> str:
        """``get("OCPPCommCtrlr.HeartbeatInterval")``, ``get("X.Y[Instance]")``."""
        component, name, instance = self._parse_name(dotted)
        variable = self.find(component, name, instance=instance)
        return default if variable is None else variable.value

    def get_int(self, dotted: str, default: int = 0) -> int:
        try:
            return int(float(self.get(dotted, str(default)) or default))
        except ValueError:
            return default

    def get_bool(self, dotted: str, default: bool = False) -> bool:
        value = self.get(dotted, "")
        return default if not value else value.strip().lower() == "true"

    def get_list(self, dotted: str) -> list[str]:
        return [item.strip() for item in self.get(dotted).split(",") if item.strip()]

    def set_value(
        self,
        dotted: str,
        value: str,
        *,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> None:
        """Set without checks (the station's own bookkeeping); unknown ones are added."""
        component, name, instance = self._parse_name(dotted)
        variable = self.find(
            component, name, instance=instance, evse_id=evse_id, connector_id=connector_id
        )
        if variable is None:
            variable = Variable(
                component,
                name,
                value,
                instance=instance,
                evse_id=evse_id,
                connector_id=connector_id,
            )
            self.variables[variable.key] = variable
        variable.value = value

    # --- GetVariables / SetVariables -----------------------------------------------------

    def _lookup(
        self, component: Mapping[str, Any], variable: Mapping[str, Any]
    ) -> tuple[Variable | None, str]:
        evse_id, connector_id = _evse_of(component)
        name = component.get("name")
        comp_instance = component.get("instance")
        known_component = any(
            v.component == name
            and v.component_instance == comp_instance
            and (evse_id is None or v.evse_id == evse_id)
            and (connector_id is None or v.connector_id == connector_id)
            for v in self.variables.values()
        )
        if not known_component:
            return None, "UnknownComponent"
        key: Any = (
            name,
            comp_instance,
            evse_id,
            connector_id,
            variable.get("name"),
            variable.get("instance"),
        )
        found = self.variables.get(key)
        if found is None:
            return None, "UnknownVariable"
        return found, "Accepted"

    def get_variables(self, requests: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """GetVariablesResult entries (snake_case) for GetVariableData entries."""
        results = []
        for request in requests:
            component, variable = request["component"], request["variable"]
            attribute_type = request.get("attribute_type") or "Actual"
            result: dict[str, Any] = {
                "attribute_type": attribute_type,
                "component": component,
                "variable": variable,
            }
            found, status = self._lookup(component, variable)
            if found is not None and attribute_type != "Actual":
                status = "NotSupportedAttributeType"
            elif found is not None and found.mutability == "WriteOnly":
                status = "Rejected"
            elif found is not None:
                result["attribute_value"] = found.value
            result["attribute_status"] = status
            results.append(result)
        return results

    def set_variables(
        self, requests: Iterable[Mapping[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[Variable]]:
        """SetVariablesResult entries, and the variables whose value changed."""
        results = []
        changed: list[Variable] = []
        for request in requests:
            component, variable = request["component"], request["variable"]
            attribute_type = request.get("attribute_type") or "Actual"
            value = str(request.get("attribute_value", ""))
            result: dict[str, Any] = {
                "attribute_type": attribute_type,
                "component": component,
                "variable": variable,
            }
            found, status = self._lookup(component, variable)
            if found is not None:
                if attribute_type != "Actual":
                    status = "NotSupportedAttributeType"
                elif found.mutability == "ReadOnly" or not self.valid(found, value):
                    status = "Rejected"
                else:
                    found.value = self.normalise(found, value)
                    changed.append(found)
                    status = "RebootRequired" if found.reboot_required else "Accepted"
            result["attribute_status"] = status
            results.append(result)
        return results, changed

    @staticmethod
    def valid(variable: Variable, value: str) -> bool:
        text = value.strip()
        kind = variable.data_type
        if kind in ("integer", "decimal"):
            try:
                number = int(text) if kind == "integer" else float(text)
            except ValueError:
                return False
            if variable.min_limit is not None and number < variable.min_limit:
                return False
            if variable.max_limit is not None and number > variable.max_limit:
                return False
        elif kind == "boolean":
            if text.lower() not in ("true", "false"):
                return False
        elif kind in ("OptionList", "MemberList", "SequenceList"):
            items = [i.strip() for i in text.split(",") if i.strip()]
            allowed = None
            if variable.values_list is not None:
                allowed = {i.strip() for i in variable.values_list.split(",")}
            if kind == "OptionList" and len(items) != 1:
                return False
            if allowed is not None and any(i not in allowed for i in items):
                return False
        elif (
            kind == "string" and variable.max_limit is not None and len(value) > variable.max_limit
        ):
            return False
        if variable.check is not None:
            try:
                return variable.check(variable.value, text)
            except ValueError:
                return False
        return True

    @staticmethod
    def normalise(variable: Variable, value: str) -> str:
        if variable.data_type == "integer":
            return str(int(value.strip()))
        if variable.data_type == "boolean":
            return value.strip().lower()
        if variable.data_type in ("OptionList", "MemberList", "SequenceList"):
            return ",".join(i.strip() for i in value.split(",") if i.strip())
        return value

    # --- reports ---------------------------------------------------------------------

    def base_report(self, report_base: str) -> list[dict[str, Any]] | None:
        """ReportData entries of a base report; None for a base we do not know."""
        if report_base == "FullInventory":
            chosen = list(self.variables.values())
        elif report_base == "ConfigurationInventory":
            chosen = [v for v in self.variables.values() if v.mutability != "ReadOnly"]
        elif report_base == "SummaryInventory":
            chosen = [v for v in self.variables.values() if v.summary]
        else:
            return None
        return [v.report_data() for v in chosen]
