"""What operators do to stations' master data, station groups and access
rules, on behalf of a :class:`~crm.access.Principal`.

Every method checks the principal's permission, validates, reads through
the storage's scoped queries (a row the user may not see is NotFound),
strips hidden fields, and announces changes that authorisation depends on
(owner, group, rules) to a :class:`StationChangeListener`, so the
authorisation cache reloads them.

Free of piccolo: the storage comes in as a :class:`StationStore`
(``csms.storage.access.PiccoloStationStore``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import msgspec

from crm.access import Principal, Visibility
from crm.errors import Conflict, InvalidInput, NotFound
from crm.fields import without_hidden
from crm.row_import import ImportRejected, check_columns, records_from_rows
from crm.validation import check_country, check_text, check_time_zone
from csms.domain.access_rules import ENTITY_SUBJECTS, Rule, check_rule
from csms.domain.credentials import (
    CredentialError,
    check_charge_point_id,
    check_secret,
    generate_secret,
    hash_secret,
)
from csms.domain.model import RegistrationStatus
from csms.domain.provisioning import STATION_COLUMNS, NewStation, station_from_row
from csms.domain.station_scope import station_in_scope

UNSET = msgspec.UNSET
UnsetType = msgspec.UnsetType


# The longest public key OCPP 2.0.1 carries (signedMeterValue.publicKey).
MAX_METER_PUBLIC_KEY = 2500
_HEX = re.compile(r"[0-9A-Fa-f]*")


def check_meter_public_key(text: str) -> str:
    """A meter's public key as stored: hex digits, whitespace and colons
    between them removed ("" clears it); InvalidInput otherwise."""
    key = re.sub(r"[\s:]", "", text)
    if not _HEX.fullmatch(key) or len(key) % 2:
        raise InvalidInput("the meter public key must be hex digits, two per byte")
    if len(key) > MAX_METER_PUBLIC_KEY:
        raise InvalidInput(f"the meter public key has at most {MAX_METER_PUBLIC_KEY} hex digits")
    return key


# -- answers and requests ------------------------------------------------------------


class ConnectorState(msgspec.Struct, frozen=True):
    connector_id: int
    status: str
    error_code: str
    info: str
    status_at: datetime | None


class Station(msgspec.Struct, frozen=True):
    """A charge point's master data and state. ``id`` is its number in the
    API; ``charge_point_id`` the identity in its websocket URL."""

    id: int
    charge_point_id: str
    description: str
    owner_entity_id: int | None
    station_group_id: int | None
    street: str
    postal_code: str
    city: str
    country: str
    latitude: str
    longitude: str
    time_zone: str
    registration_status: str
    connected: bool
    protocol: str
    vendor: str
    model: str
    firmware_version: str
    meter_type: str
    has_secret: bool
    last_boot_at: datetime | None
    last_seen_at: datetime | None
    created_at: datetime
    updated_at: datetime
    connectors: list[ConnectorState] = []
    # The public key of the station's meter (hex), for signed meter values.
    meter_public_key: str = ""
    # Served as OCPP 1.6 when it offers no subprotocol; firmware quirks tolerated.
    assume_ocpp16: bool = False
    leniency: list[str] = []
    # Hideable (crm.access.HIDEABLE_FIELDS["stations"]).
    serial_number: str | UnsetType = UNSET
    charge_box_serial_number: str | UnsetType = UNSET
    iccid: str | UnsetType = UNSET
    imsi: str | UnsetType = UNSET
    meter_serial_number: str | UnsetType = UNSET


class StationUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Fields to change; those left out stay. Coordinates are WGS 84 decimal
    degrees as text ("52.520008"); ``time_zone`` an IANA name.
    ``registration_status`` (Accepted, Pending, Rejected) answers the
    station's next BootNotification (``csms station accept / pend /
    reject``); ``secret`` stores a new basic-auth password without telling
    the charger, null lets it connect without one (``csms station
    set-secret / clear-secret``; to have a connected charger change it, POST
    .../security/basic-auth); ``assume_ocpp16`` and ``leniency`` as ``csms
    station set``."""

    owner_entity_id: int | UnsetType | None = UNSET
    station_group_id: int | UnsetType | None = UNSET
    description: str | UnsetType = UNSET
    street: str | UnsetType = UNSET
    postal_code: str | UnsetType = UNSET
    city: str | UnsetType = UNSET
    country: str | UnsetType = UNSET
    latitude: str | UnsetType = UNSET
    longitude: str | UnsetType = UNSET
    time_zone: str | UnsetType = UNSET
    # Hex digits ("" clears it).
    meter_public_key: str | UnsetType = UNSET
    registration_status: str | UnsetType = UNSET
    secret: str | UnsetType | None = UNSET
    assume_ocpp16: bool | UnsetType = UNSET
    leniency: list[str] | UnsetType = UNSET


# Firmware quirks a station may be tolerated for (csms.protocol.payloads.Leniency).
LENIENCY_FLAGS = frozenset(
    {
        "numbers_as_strings",
        "naive_timestamps_as_utc",
        "strings_as_numbers",
        "strings_as_booleans",
        "nulls_as_absent",
        "unknown_properties",
    }
)
SECURITY_PROFILES = (1, 2, 3)


class StationCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A station to register (``csms station add`` and ``csms station
    locate`` in one). ``charge_point_id``: the identity in its websocket URL
    (1 to 48 letters, digits and ``*-_=+|@.``). ``owner_entity_id``: default
    the entity you work in. ``secret``: its basic-auth password (16 to 40
    printable characters), or ``generate_secret`` to have one made and shown
    once in the answer; neither: the station connects without credentials
    until one is set. ``registration_status``: what its BootNotification is
    answered (Accepted, Pending or Rejected). ``leniency``: firmware quirks
    to tolerate (see LENIENCY_FLAGS)."""

    charge_point_id: str
    owner_entity_id: int | None = None
    station_group_id: int | None = None
    description: str = ""
    registration_status: str = "Accepted"
    secret: str | None = None
    generate_secret: bool = False
    security_profile: int = 1
    assume_ocpp16: bool = False
    leniency: list[str] = []
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""
    latitude: str = ""
    longitude: str = ""
    time_zone: str = "UTC"
    meter_public_key: str = ""


class CreatedStation(Station, frozen=True):
    """The station just registered; ``secret`` the generated password, shown
    this once (null unless ``generate_secret`` was asked for)."""

    secret: str | None = None


class StationImportResult(msgspec.Struct, frozen=True):
    """How many stations an import registered, and the charge point ids it
    left alone because they existed (with skip_existing)."""

    imported: int
    skipped: list[str]


class StationEvent(msgspec.Struct, frozen=True):
    """One entry of a station's history: boot, connected, disconnected,
    registered, firmware and diagnostics status, data transfer, ..."""

    id: int
    kind: str
    occurred_at: datetime
    data: dict[str, Any]


class StationEventFilter(msgspec.Struct, frozen=True):
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class StationMessage(msgspec.Struct, frozen=True):
    """One frame of a station's raw OCPP message log. ``direction``: in
    (charger to system) or out; ``message_type``: 2 call, 3 result, 4 error;
    ``payload`` its JSON text, null for a user who may not see every field of
    the station (a BootNotification carries its serial numbers)."""

    id: int
    logged_at: datetime
    direction: str
    message_type: int
    unique_id: str
    action: str
    payload: str | None


class StationMessageFilter(msgspec.Struct, frozen=True):
    action: str | None = None
    direction: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class StationFilter(msgspec.Struct, frozen=True):
    # Part of the charge point id, description or city.
    q: str = ""
    owner_entity_id: int | None = None
    station_group_id: int | None = None
    connected: bool | None = None
    registration_status: str | None = None


class StationGroup(msgspec.Struct, frozen=True):
    id: int
    owner_entity_id: int
    name: str
    description: str
    station_count: int
    created_at: datetime
    updated_at: datetime


class StationGroupCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    # Default: the entity the user works in.
    owner_entity_id: int | None = None
    description: str = ""


class StationGroupUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET


class AccessRule(msgspec.Struct, frozen=True):
    """A rule of one station (``station_id``) or of a station group."""

    id: int
    station_id: int | None
    station_group_id: int | None
    effect: str
    subject: str
    value: str
    note: str
    created_at: datetime


class AccessRuleCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``subject``: everyone, owner_entity, owner_subtree (no value); medium
    (a uid), media_group (a group id), issuing_entity, issuing_subtree (an
    entity id). ``effect``: allow or deny."""

    subject: str
    value: str = ""
    effect: str = "allow"
    note: str = ""


# -- what the service needs from storage ---------------------------------------------------


class RuleTarget(msgspec.Struct, frozen=True):
    """A station or a station group, as the owner of rules."""

    station_pk: int | None = None
    group_id: int | None = None


class StationStore(Protocol):
    async def list_stations(
        self, visibility: Visibility, filters: StationFilter, limit: int, offset: int
    ) -> tuple[list[Station], int]: ...

    async def get_station(self, visibility: Visibility, station_pk: int) -> Station | None: ...

    async def find_station(
        self, visibility: Visibility, charge_point_id: str
    ) -> Station | None: ...

    async def update_station(self, station_pk: int, values: dict[str, Any]) -> None: ...

    async def entity_active(self, entity_id: int) -> bool: ...

    async def list_groups(
        self,
        visibility: Visibility,
        q: str,
        owner_entity_id: int | None,
        limit: int,
        offset: int,
        stations: Visibility,
    ) -> tuple[list[StationGroup], int]:
        """Groups with a count of their stations within ``stations``."""
        ...

    async def get_group(
        self, visibility: Visibility, group_id: int, stations: Visibility = ...
    ) -> StationGroup | None: ...

    async def group_name_taken(
        self, owner_entity_id: int, name: str, except_id: int | None = None
    ) -> bool: ...

    async def create_group(self, owner_entity_id: int, name: str, description: str) -> int: ...

    async def update_group(self, group_id: int, values: dict[str, Any]) -> None: ...

    async def delete_group(self, group_id: int) -> None: ...

    async def group_station_pks(self, group_id: int) -> frozenset[int]: ...

    async def list_rules(self, target: RuleTarget) -> list[AccessRule]: ...

    async def rule_exists(self, target: RuleTarget, rule: Rule) -> bool: ...

    async def create_rule(self, target: RuleTarget, rule: Rule, note: str) -> AccessRule: ...

    async def find_rule(
        self, visibility: Visibility, rule_id: int
    ) -> tuple[AccessRule, int | None] | None:
        """The rule and its owner entity (the station's or the group's), if
        that owner is visible."""
        ...

    async def delete_rule(self, rule_id: int) -> None: ...

    async def charge_point_id_taken(self, charge_point_id: str) -> bool: ...

    async def import_stations(
        self, owner_entity_id: int, stations: list[NewStation], skip_existing: bool
    ) -> tuple[list[int], list[str]]:
        """Registers the stations for the owner in one transaction: the new
        stations' keys and the charge point ids skipped because they exist.
        Without ``skip_existing`` an existing id raises Conflict and nothing
        is written."""
        ...

    async def create_station(self, values: dict[str, Any]) -> int | None:
        """Inserts a station with these column values; its primary key, or
        None if its charge point id was taken meanwhile."""
        ...

    async def session_count(self, station_pk: int) -> int: ...

    async def delete_station(self, station_pk: int) -> bool:
        """Deletes the station (its connectors, events, messages, rules go
        with it); False if a session refers to it now."""
        ...

    async def list_events(
        self, station_pk: int, filters: StationEventFilter, limit: int, offset: int
    ) -> tuple[list[StationEvent], int]:
        """Newest first."""
        ...

    async def list_messages(
        self, station_pk: int, filters: StationMessageFilter, limit: int, offset: int
    ) -> tuple[list[StationMessage], int]:
        """Newest first, payloads included."""
        ...


class ProfileCache(Protocol):
    """The gateway's cache of station profiles (``CachedStationDirectory``):
    a station created or removed is looked up afresh at its next connect."""

    def invalidate(self, charge_point_id: str) -> None: ...


class StationChangeListener(Protocol):
    def stations_changed(self, station_pks: frozenset[int] | None) -> None:
        """These stations' owner, group or access rules changed (None: every
        station)."""
        ...


class IgnoreStationChanges:
    """For tools that change stations with no running node to tell (the CLI
    before the bus, tests)."""

    def stations_changed(self, station_pks: frozenset[int] | None) -> None:
        return None


# -- validation -------------------------------------------------------------------------

_DEGREES = re.compile(r"-?\d{1,3}(\.\d{1,8})?")
_TEXT_LIMITS = {
    "description": 2000,
    "street": 200,
    "postal_code": 20,
    "city": 100,
}


def check_coordinate(text: str, name: str, limit: int) -> str:
    """Decimal degrees as text within ±``limit``, or InvalidInput; empty clears."""
    text = text.strip()
    if not text:
        return ""
    if not _DEGREES.fullmatch(text):
        raise InvalidInput(
            f"{name} is decimal degrees like 52.520008 (up to 8 decimals), not {text!r}"
        )
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits decimals only
        raise InvalidInput(f"{name} is not a number: {text!r}") from None
    if not -limit <= value <= limit:
        raise InvalidInput(f"{name} must be between -{limit} and {limit}, not {text}")
    return text


def check_station_text(name: str, text: str) -> str:
    return check_text(name, text, _TEXT_LIMITS[name])


def _group_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("a station group needs a name")
    if len(name) > 100:
        raise InvalidInput(f"a station group's name has at most 100 characters, got {len(name)}")
    return name


# -- the service ----------------------------------------------------------------------------


# What the gateway's cached profile of a station holds.
_PROFILE_FIELDS = frozenset(
    {"registration_status", "auth_secret_hash", "assume_ocpp16", "leniency"}
)


def _field(name: str, error: Exception) -> InvalidInput:
    """InvalidInput whose message names the field (as the API's 400s do)."""
    text = str(error)
    return InvalidInput(text if text.startswith(name) else f"{name}: {text}")


def check_leniency(flags: list[str]) -> frozenset[str]:
    chosen = frozenset(flag.strip().lower() for flag in flags if flag.strip())
    unknown = sorted(chosen - LENIENCY_FLAGS)
    if unknown:
        raise InvalidInput(
            f"leniency: unknown flag {unknown[0]!r}; the flags are "
            f"{', '.join(sorted(LENIENCY_FLAGS))}"
        )
    return chosen


def check_registration_status(text: str) -> RegistrationStatus:
    try:
        return RegistrationStatus(text.strip().capitalize())
    except ValueError:
        raise InvalidInput(
            f"registration_status is one of {', '.join(RegistrationStatus)}, not {text!r}"
        ) from None


@dataclass(slots=True)
class StationAdmin:
    store: StationStore
    changes: StationChangeListener
    # The gateway's profile cache on a node (None: no gateway in this process).
    profiles: ProfileCache | None = None

    # stations

    def _shown(self, principal: Principal, station: Station) -> Station:
        return without_hidden(
            station, principal.row_hidden_fields("stations", station.owner_entity_id)
        )

    async def _station(self, principal: Principal, station_pk: int) -> Station:
        station = await self.store.get_station(principal.visible("stations"), station_pk)
        if station is None:
            raise NotFound(f"there is no station {station_pk}")
        return station

    async def list_stations(
        self, principal: Principal, filters: StationFilter, *, limit: int, offset: int
    ) -> tuple[list[Station], int]:
        principal.require("stations", "read")
        if filters.registration_status is not None:
            try:
                status = RegistrationStatus(filters.registration_status.capitalize())
            except ValueError:
                raise InvalidInput(
                    "registration_status is one of "
                    f"{', '.join(RegistrationStatus)}, not {filters.registration_status!r}"
                ) from None
            filters = msgspec.structs.replace(filters, registration_status=status.value)
        stations, total = await self.store.list_stations(
            principal.visible("stations"), filters, limit, offset
        )
        return [self._shown(principal, s) for s in stations], total

    async def get_station(self, principal: Principal, station_pk: int) -> Station:
        principal.require("stations", "read")
        return self._shown(principal, await self._station(principal, station_pk))

    async def find_station(self, principal: Principal, charge_point_id: str) -> Station:
        principal.require("stations", "read")
        station = await self.store.find_station(principal.visible("stations"), charge_point_id)
        if station is None:
            raise NotFound(f"there is no station {charge_point_id!r}")
        return self._shown(principal, station)

    async def update_station(
        self, principal: Principal, station_pk: int, data: StationUpdate
    ) -> Station:
        principal.require("stations", "update")
        station = await self._station(principal, station_pk)
        principal.require_entity("stations", "update", station.owner_entity_id)
        values: dict[str, Any] = {}
        if data.owner_entity_id is not UNSET and data.owner_entity_id != station.owner_entity_id:
            new_owner = data.owner_entity_id
            if new_owner is not None and new_owner not in principal.tree:
                raise InvalidInput(f"there is no entity {new_owner}")
            # Both the old owner (checked above) and the new one.
            principal.require_entity("stations", "update", new_owner)
            if new_owner is not None and not await self.store.entity_active(new_owner):
                raise InvalidInput(f"entity {new_owner} is deactivated; it cannot own stations")
            values["owner_entity"] = new_owner
        if data.station_group_id is not UNSET and data.station_group_id != station.station_group_id:
            group_id = data.station_group_id
            if group_id is not None:
                group = await self.store.get_group(principal.visible("station_groups"), group_id)
                if group is None:
                    raise InvalidInput(f"there is no station group {group_id}")
            values["station_group"] = group_id
        for name in ("description", "street", "postal_code", "city"):
            text = getattr(data, name)
            if text is not UNSET:
                values[name] = check_station_text(name, text)
        if data.country is not UNSET:
            values["country"] = check_country(data.country)
        if data.latitude is not UNSET:
            values["latitude"] = check_coordinate(data.latitude, "latitude", 90)
        if data.longitude is not UNSET:
            values["longitude"] = check_coordinate(data.longitude, "longitude", 180)
        latitude = values.get("latitude", station.latitude)
        longitude = values.get("longitude", station.longitude)
        if bool(latitude) != bool(longitude):
            raise InvalidInput("give latitude and longitude together (or clear both)")
        if data.time_zone is not UNSET:
            values["time_zone"] = check_time_zone(data.time_zone)
        if data.meter_public_key is not UNSET:
            values["meter_public_key"] = check_meter_public_key(data.meter_public_key)
        if data.registration_status is not UNSET:
            status = check_registration_status(data.registration_status)
            values["registration_status"] = status.value
        if data.secret is not UNSET:
            if data.secret is None:
                values["auth_secret_hash"] = ""
            else:
                try:
                    values["auth_secret_hash"] = hash_secret(check_secret(data.secret))
                except CredentialError as error:
                    raise _field("secret", error) from None
            # A secret the operator sets replaces any still admitted from a
            # change sent to the station.
            values["previous_auth_secret_hash"] = ""
        if data.assume_ocpp16 is not UNSET:
            values["assume_ocpp16"] = data.assume_ocpp16
        if data.leniency is not UNSET:
            values["leniency"] = ",".join(sorted(check_leniency(data.leniency)))
        if values:
            await self.store.update_station(station_pk, values)
            if "owner_entity" in values or "station_group" in values:
                self.changes.stations_changed(frozenset({station_pk}))
            if self.profiles is not None and values.keys() & _PROFILE_FIELDS:
                self.profiles.invalidate(station.charge_point_id)
        return await self.get_station(principal, station_pk)

    async def create_station(self, principal: Principal, data: StationCreate) -> CreatedStation:
        """Registers a station for ``data.owner_entity_id`` (default: the
        active entity): ``stations:create`` on that entity. Bad input is
        InvalidInput naming the field; a taken charge point id is Conflict."""
        principal.require("stations", "create")
        owner = data.owner_entity_id or principal.active_entity_id
        # Unknown and invisible entities get the same answer: ids leak nothing.
        if owner not in principal.tree:
            raise InvalidInput(f"owner_entity_id: there is no entity {owner}")
        try:
            principal.require_entity("stations", "create", owner)
        except InvalidInput as error:
            raise _field("owner_entity_id", error) from None
        if not await self.store.entity_active(owner):
            raise InvalidInput(
                f"owner_entity_id: entity {owner} is deactivated; it cannot own stations"
            )
        try:
            charge_point_id = check_charge_point_id(data.charge_point_id)
        except CredentialError as error:
            raise _field("charge_point_id", error) from None
        values: dict[str, Any] = {
            "charge_point_id": charge_point_id,
            "owner_entity": owner,
            "registration_status": check_registration_status(data.registration_status).value,
            "assume_ocpp16": data.assume_ocpp16,
            "leniency": ",".join(sorted(check_leniency(data.leniency))),
        }
        if data.station_group_id is not None:
            group = await self.store.get_group(
                principal.visible("station_groups"), data.station_group_id
            )
            if group is None:
                raise InvalidInput(
                    f"station_group_id: there is no station group {data.station_group_id}"
                )
            if group.owner_entity_id != owner:
                raise InvalidInput(
                    f"station_group_id: station group {group.id} belongs to entity "
                    f"{group.owner_entity_id}, not to the station's owner {owner}"
                )
            values["station_group"] = group.id
        for name in ("description", "street", "postal_code", "city"):
            values[name] = check_station_text(name, getattr(data, name))
        values["country"] = check_country(data.country) if data.country else ""
        try:
            values["time_zone"] = check_time_zone(data.time_zone)
        except InvalidInput as error:
            raise _field("time_zone", error) from None
        values["latitude"] = check_coordinate(data.latitude, "latitude", 90)
        values["longitude"] = check_coordinate(data.longitude, "longitude", 180)
        if bool(values["latitude"]) != bool(values["longitude"]):
            raise InvalidInput("latitude: give latitude and longitude together")
        try:
            values["meter_public_key"] = check_meter_public_key(data.meter_public_key)
        except InvalidInput as error:
            raise _field("meter_public_key", error) from None
        if data.security_profile not in SECURITY_PROFILES:
            raise InvalidInput(
                f"security_profile: a security profile is 1, 2 or 3, not {data.security_profile}"
            )
        values["security_profile"] = data.security_profile
        if data.secret is not None and data.generate_secret:
            raise InvalidInput("secret: give a secret or generate_secret, not both")
        shown = generate_secret() if data.generate_secret else None
        secret = shown or data.secret
        if secret:
            try:
                values["auth_secret_hash"] = hash_secret(check_secret(secret))
            except CredentialError as error:
                raise _field("secret", error) from None
        taken = Conflict(f"charge_point_id: station {charge_point_id!r} exists already")
        if await self.store.charge_point_id_taken(charge_point_id):
            raise taken
        station_pk = await self.store.create_station(values)
        if station_pk is None:
            raise taken
        if self.profiles is not None:
            self.profiles.invalidate(charge_point_id)
        self.changes.stations_changed(frozenset({station_pk}))
        station = await self.get_station(principal, station_pk)
        return CreatedStation(**msgspec.structs.asdict(station), secret=shown)

    async def import_stations(
        self,
        principal: Principal,
        header: list[str],
        rows: list[dict[str, str | None]],
        *,
        owner_entity_id: int | None = None,
        skip_existing: bool = False,
    ) -> StationImportResult:
        """Registers many stations from a table's rows (``csms station
        import``: columns charge_point_id, secret, description, status,
        assume_ocpp16, lenient) for the owner (default: the active entity).
        All or nothing: ImportRejected (InvalidInput) names every line."""
        principal.require("stations", "create")
        owner = owner_entity_id or principal.active_entity_id
        if owner not in principal.tree:
            raise InvalidInput(f"owner_entity_id: there is no entity {owner}")
        try:
            principal.require_entity("stations", "create", owner)
        except InvalidInput as error:
            raise _field("owner_entity_id", error) from None
        if not await self.store.entity_active(owner):
            raise InvalidInput(
                f"owner_entity_id: entity {owner} is deactivated; it cannot own stations"
            )

        def parse(values: Any) -> NewStation:
            station = station_from_row(values, hash_secret)
            check_leniency(list(station.leniency))
            return station

        try:
            check_columns(header, STATION_COLUMNS, "charge_point_id")
            stations = records_from_rows(rows, parse, lambda s: s.charge_point_id)
        except ImportRejected as error:
            raise InvalidInput(str(error)) from None
        if not stations:
            raise InvalidInput("the table has no stations (only a header line, or nothing)")
        created, skipped = await self.store.import_stations(owner, stations, skip_existing)
        if created:
            if self.profiles is not None:
                for station in stations:
                    self.profiles.invalidate(station.charge_point_id)
            self.changes.stations_changed(frozenset(created))
        return StationImportResult(imported=len(created), skipped=skipped)

    async def remove_station(self, principal: Principal, station_pk: int) -> Station:
        """Deletes a station that has no sessions (what ``csms station
        remove`` does): ``stations:delete`` on its owner, NotFound outside
        that scope; a station with sessions is kept for their history
        (Conflict: reject it instead). Answers the station as it was."""
        station = await station_in_scope(principal, "delete", station_pk, self.store.get_station)
        sessions = await self.store.session_count(station_pk)
        if sessions or not await self.store.delete_station(station_pk):
            raise Conflict(
                f"station {station.charge_point_id!r} has sessions; it is kept for their "
                "history. Reject it instead (registration_status Rejected) to keep it out."
            )
        if self.profiles is not None:
            self.profiles.invalidate(station.charge_point_id)
        self.changes.stations_changed(frozenset({station_pk}))
        return self._shown(principal, station)

    async def events(
        self,
        principal: Principal,
        station_pk: int,
        filters: StationEventFilter,
        *,
        limit: int,
        offset: int,
    ) -> tuple[list[StationEvent], int]:
        """The station's history, newest first (``stations:read``)."""
        await station_in_scope(principal, "read", station_pk, self.store.get_station)
        return await self.store.list_events(station_pk, filters, limit, offset)

    async def messages(
        self,
        principal: Principal,
        station_pk: int,
        filters: StationMessageFilter,
        *,
        limit: int,
        offset: int,
    ) -> tuple[list[StationMessage], int]:
        """The station's raw OCPP message log, newest first
        (``stations:read``); frames' text only for who sees every field of
        the station, as on its page."""
        station = await station_in_scope(principal, "read", station_pk, self.store.get_station)
        if filters.direction is not None and filters.direction not in ("in", "out"):
            raise InvalidInput(f"direction is in or out, not {filters.direction!r}")
        items, total = await self.store.list_messages(station_pk, filters, limit, offset)
        if principal.row_hidden_fields("stations", station.owner_entity_id):
            items = [msgspec.structs.replace(m, payload=None) for m in items]
        return items, total

    # station groups

    async def _group(self, principal: Principal, group_id: int) -> StationGroup:
        group = await self.store.get_group(
            principal.visible("station_groups"), group_id, principal.visible("stations")
        )
        if group is None:
            raise NotFound(f"there is no station group {group_id}")
        return group

    async def list_groups(
        self,
        principal: Principal,
        *,
        q: str = "",
        owner_entity_id: int | None = None,
        limit: int,
        offset: int,
    ) -> tuple[list[StationGroup], int]:
        principal.require("station_groups", "read")
        return await self.store.list_groups(
            principal.visible("station_groups"),
            q.strip(),
            owner_entity_id,
            limit,
            offset,
            principal.visible("stations"),
        )

    async def get_group(self, principal: Principal, group_id: int) -> StationGroup:
        principal.require("station_groups", "read")
        return await self._group(principal, group_id)

    async def create_group(self, principal: Principal, data: StationGroupCreate) -> StationGroup:
        principal.require("station_groups", "create")
        owner = data.owner_entity_id or principal.active_entity_id
        if owner not in principal.tree:
            raise InvalidInput(f"there is no entity {owner}")
        principal.require_entity("station_groups", "create", owner)
        name = _group_name(data.name)
        if await self.store.group_name_taken(owner, name):
            raise Conflict(f"entity {owner} has a station group named {name!r} already")
        group_id = await self.store.create_group(
            owner, name, check_station_text("description", data.description)
        )
        return await self._group(principal, group_id)

    async def update_group(
        self, principal: Principal, group_id: int, data: StationGroupUpdate
    ) -> StationGroup:
        principal.require("station_groups", "update")
        group = await self._group(principal, group_id)
        principal.require_entity("station_groups", "update", group.owner_entity_id)
        values: dict[str, Any] = {}
        if data.name is not UNSET:
            name = _group_name(data.name)
            if name != group.name and await self.store.group_name_taken(
                group.owner_entity_id, name, group_id
            ):
                raise Conflict(
                    f"entity {group.owner_entity_id} has a station group named {name!r} already"
                )
            values["name"] = name
        if data.description is not UNSET:
            values["description"] = check_station_text("description", data.description)
        if values:
            await self.store.update_group(group_id, values)
        return await self._group(principal, group_id)

    async def delete_group(self, principal: Principal, group_id: int) -> None:
        """Deletes the group and its rules; its stations stay, in no group."""
        principal.require("station_groups", "delete")
        group = await self._group(principal, group_id)
        principal.require_entity("station_groups", "delete", group.owner_entity_id)
        members = await self.store.group_station_pks(group_id)
        await self.store.delete_group(group_id)
        if members:
            self.changes.stations_changed(members)

    async def assign_group(
        self, principal: Principal, station_pk: int, group_id: int | None
    ) -> Station:
        return await self.update_station(
            principal, station_pk, StationUpdate(station_group_id=group_id)
        )

    # access rules

    async def _rule_target(
        self, principal: Principal, action: str, *, station_pk: int | None, group_id: int | None
    ) -> RuleTarget:
        """The station or group whose rules are asked for: NotFound unless the
        user sees it, Forbidden unless they may ``action`` its rules."""
        principal.require("access_rules", action)
        if station_pk is not None:
            owner: int | None = (await self._station(principal, station_pk)).owner_entity_id
            target = RuleTarget(station_pk=station_pk)
        else:
            assert group_id is not None
            owner = (await self._group(principal, group_id)).owner_entity_id
            target = RuleTarget(group_id=group_id)
        principal.require_entity("access_rules", action, owner)
        return target

    async def list_rules(
        self, principal: Principal, *, station_pk: int | None = None, group_id: int | None = None
    ) -> list[AccessRule]:
        target = await self._rule_target(
            principal, "read", station_pk=station_pk, group_id=group_id
        )
        return await self.store.list_rules(target)

    async def add_rule(
        self,
        principal: Principal,
        data: AccessRuleCreate,
        *,
        station_pk: int | None = None,
        group_id: int | None = None,
    ) -> AccessRule:
        target = await self._rule_target(
            principal, "create", station_pk=station_pk, group_id=group_id
        )
        rule = check_rule(data.effect, data.subject, data.value)
        if rule.subject in ENTITY_SUBJECTS:
            entity = rule.entity_id
            # Unknown and invisible entities get the same answer: ids leak nothing.
            if entity not in principal.tree or entity not in principal.visible("entities"):
                raise InvalidInput(f"there is no entity {entity}")
        note = data.note.strip()
        if len(note) > 255:
            raise InvalidInput(f"a rule's note has at most 255 characters, got {len(note)}")
        if await self.store.rule_exists(target, rule):
            raise Conflict(
                f"this {rule.effect} rule for {rule.subject} {rule.value} exists already"
            )
        created = await self.store.create_rule(target, rule, note)
        await self._announce(target)
        return created

    async def remove_rule(self, principal: Principal, rule_id: int) -> None:
        principal.require("access_rules", "delete")
        found = await self.store.find_rule(principal.visible("access_rules"), rule_id)
        if found is None:
            raise NotFound(f"there is no access rule {rule_id}")
        rule, owner = found
        principal.require_entity("access_rules", "delete", owner)
        await self.store.delete_rule(rule_id)
        await self._announce(RuleTarget(rule.station_id, rule.station_group_id))

    async def _announce(self, target: RuleTarget) -> None:
        if target.station_pk is not None:
            self.changes.stations_changed(frozenset({target.station_pk}))
        elif target.group_id is not None:
            members = await self.store.group_station_pks(target.group_id)
            if members:
                self.changes.stations_changed(members)
