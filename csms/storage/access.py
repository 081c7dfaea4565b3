"""Stations' owners, groups and access rules in the database.

Two readers: :class:`PiccoloStationAccessSource` loads one station's access
for the authorisation cache (a charger asks, not a user: unscoped), and
:class:`PiccoloStationStore` serves the operators' service, every read of
theirs passed through :func:`crm.storage.scoping.scoped`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from piccolo.columns.combination import WhereRaw

from crm.access import NOTHING, Visibility
from crm.clock import utcnow
from crm.errors import Conflict
from crm.storage.entities import active_entities
from crm.storage.integrity import is_reference_violation, is_unique_violation
from crm.storage.scoping import scoped, visible_condition
from crm.storage.search import icontains
from crm.storage.tree import load_tree
from crm.tree import EntityTree
from csms import tables as t
from csms.domain.access_rules import Rule, RuleEffect, RuleSubject, StationAccess
from csms.domain.provisioning import NewStation
from csms.domain.station_admin import (
    AccessRule,
    ConnectorState,
    RuleTarget,
    Station,
    StationEvent,
    StationEventFilter,
    StationFilter,
    StationGroup,
    StationMessage,
    StationMessageFilter,
)
from csms.storage.database import write_transaction

log = logging.getLogger(__name__)

# Rows per statement in bulk work (well under SQLite's bound parameters).
_CHUNK = 500


def _rule(row: dict[str, Any]) -> Rule | None:
    try:
        return Rule(RuleEffect(row["effect"]), RuleSubject(row["subject"]), row["value"])
    except ValueError:
        log.warning("access rule %s is unreadable and ignored: %r", row.get("id"), row)
        return None


class PiccoloStationAccessSource:
    """What the authorisation cache loads: a station's owner, group and the
    rules of both (two indexed queries), and the entity tree."""

    async def station_access(self, station_pk: int) -> StationAccess | None:
        row = (
            await t.Station.select(t.Station.owner_entity, t.Station.station_group)
            .where(t.Station.id == station_pk)
            .first()
            .run()
        )
        if row is None:
            return None
        group = row["station_group"]
        condition: Any = t.AccessRule.station == station_pk
        if group is not None:
            condition = condition | (t.AccessRule.station_group == group)
        rows = (
            await t.AccessRule.select(
                t.AccessRule.id, t.AccessRule.effect, t.AccessRule.subject, t.AccessRule.value
            )
            .where(condition)
            .run()
        )
        rules = tuple(rule for rule in map(_rule, rows) if rule is not None)
        return StationAccess(station_pk, row["owner_entity"], group, rules)

    async def entity_tree(self) -> EntityTree:
        return await load_tree()


# -- the operators' side ----------------------------------------------------------


_HIDEABLE = ("serial_number", "charge_box_serial_number", "iccid", "imsi", "meter_serial_number")


def _station(row: dict[str, Any], connectors: list[dict[str, Any]]) -> Station:
    return Station(
        id=row["id"],
        charge_point_id=row["charge_point_id"],
        description=row["description"],
        owner_entity_id=row["owner_entity"],
        station_group_id=row["station_group"],
        street=row["street"],
        postal_code=row["postal_code"],
        city=row["city"],
        country=row["country"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        time_zone=row["time_zone"],
        registration_status=row["registration_status"],
        connected=bool(row["connected"]),
        protocol=row["protocol"],
        vendor=row["vendor"],
        model=row["model"],
        firmware_version=row["firmware_version"],
        meter_type=row["meter_type"],
        has_secret=bool(row["auth_secret_hash"]),
        meter_public_key=row["meter_public_key"],
        assume_ocpp16=bool(row["assume_ocpp16"]),
        leniency=sorted(flag for flag in row["leniency"].split(",") if flag),
        last_boot_at=row["last_boot_at"],
        last_seen_at=row["last_seen_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        connectors=[
            ConnectorState(
                connector_id=c["connector_id"],
                status=c["status"],
                error_code=c["error_code"],
                info=c["info"],
                status_at=c["status_at"],
            )
            for c in connectors
        ],
        **{name: row[name] for name in _HIDEABLE},
    )


def _group(row: dict[str, Any], count: int) -> StationGroup:
    return StationGroup(
        id=row["id"],
        owner_entity_id=row["owner_entity"],
        name=row["name"],
        description=row["description"],
        station_count=count,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _access_rule(row: dict[str, Any]) -> AccessRule:
    return AccessRule(
        id=row["id"],
        station_id=row["station"],
        station_group_id=row["station_group"],
        effect=row["effect"],
        subject=row["subject"],
        value=row["value"],
        note=row["note"],
        created_at=row["created_at"],
    )


def _station_conditions(filters: StationFilter) -> list[Any]:
    conditions: list[Any] = []
    if filters.q:
        text = filters.q.strip()
        conditions.append(
            icontains(t.Station.charge_point_id, text)
            | icontains(t.Station.description, text)
            | icontains(t.Station.city, text)
        )
    if filters.owner_entity_id is not None:
        conditions.append(t.Station.owner_entity == filters.owner_entity_id)
    if filters.station_group_id is not None:
        conditions.append(t.Station.station_group == filters.station_group_id)
    if filters.connected is not None:
        conditions.append(t.Station.connected == filters.connected)
    if filters.registration_status is not None:
        conditions.append(t.Station.registration_status == filters.registration_status)
    return conditions


def _rule_target_condition(target: RuleTarget) -> Any:
    if target.station_pk is not None:
        return t.AccessRule.station == target.station_pk
    if target.group_id is not None:
        return t.AccessRule.station_group == target.group_id
    return WhereRaw("1 = 0")


class PiccoloStationStore:
    """The storage of :class:`csms.domain.station_admin.StationAdmin`."""

    # stations

    async def _with_connectors(self, rows: list[dict[str, Any]]) -> list[Station]:
        by_station: dict[int, list[dict[str, Any]]] = {}
        if rows:
            connectors = (
                await t.Connector.select()
                .where(t.Connector.station.is_in([row["id"] for row in rows]))
                .order_by(t.Connector.connector_id)
                .run()
            )
            for connector in connectors:
                by_station.setdefault(connector["station"], []).append(connector)
        return [_station(row, by_station.get(row["id"], [])) for row in rows]

    async def list_stations(
        self, visibility: Visibility, filters: StationFilter, limit: int, offset: int
    ) -> tuple[list[Station], int]:
        query = scoped(t.Station.select(), t.Station.owner_entity, visibility)
        count = scoped(t.Station.count(), t.Station.owner_entity, visibility)
        for condition in _station_conditions(filters):
            query = query.where(condition)
            count = count.where(condition)
        rows = await query.order_by(t.Station.charge_point_id).limit(limit).offset(offset).run()
        return await self._with_connectors(rows), await count.run()

    async def get_station(self, visibility: Visibility, station_pk: int) -> Station | None:
        row = (
            await scoped(t.Station.select(), t.Station.owner_entity, visibility)
            .where(t.Station.id == station_pk)
            .first()
            .run()
        )
        return (await self._with_connectors([row]))[0] if row else None

    async def find_station(self, visibility: Visibility, charge_point_id: str) -> Station | None:
        row = (
            await scoped(t.Station.select(), t.Station.owner_entity, visibility)
            .where(t.Station.charge_point_id == charge_point_id)
            .first()
            .run()
        )
        return (await self._with_connectors([row]))[0] if row else None

    async def update_station(self, station_pk: int, values: dict[str, Any]) -> None:
        await (
            t.Station.update(
                {**values, "updated_at": utcnow()}  # type: ignore[dict-item]
            )
            .where(t.Station.id == station_pk)
            .run()
        )

    async def entity_active(self, entity_id: int) -> bool:
        return entity_id in await active_entities([entity_id])

    # station groups

    async def _counted(
        self, rows: list[dict[str, Any]], stations: Visibility
    ) -> list[StationGroup]:
        """The groups with how many of their stations the asker may see (a
        count of the others would tell what they cannot see)."""
        counts: dict[int, int] = {}
        if rows:
            members = await scoped(
                t.Station.select(t.Station.station_group).where(
                    t.Station.station_group.is_in([row["id"] for row in rows])
                ),
                t.Station.owner_entity,
                stations,
            ).run()
            for member in members:
                group = member["station_group"]
                counts[group] = counts.get(group, 0) + 1
        return [_group(row, counts.get(row["id"], 0)) for row in rows]

    async def list_groups(
        self,
        visibility: Visibility,
        q: str,
        owner_entity_id: int | None,
        limit: int,
        offset: int,
        stations: Visibility,
    ) -> tuple[list[StationGroup], int]:
        query = scoped(t.StationGroup.select(), t.StationGroup.owner_entity, visibility)
        count = scoped(t.StationGroup.count(), t.StationGroup.owner_entity, visibility)
        conditions: list[Any] = []
        if q:
            conditions.append(icontains(t.StationGroup.name, q))
        if owner_entity_id is not None:
            conditions.append(t.StationGroup.owner_entity == owner_entity_id)
        for condition in conditions:
            query = query.where(condition)
            count = count.where(condition)
        rows = (
            await query.order_by(t.StationGroup.name, t.StationGroup.id)
            .limit(limit)
            .offset(offset)
            .run()
        )
        return await self._counted(rows, stations), await count.run()

    async def get_group(
        self, visibility: Visibility, group_id: int, stations: Visibility = NOTHING
    ) -> StationGroup | None:
        row = (
            await scoped(t.StationGroup.select(), t.StationGroup.owner_entity, visibility)
            .where(t.StationGroup.id == group_id)
            .first()
            .run()
        )
        return (await self._counted([row], stations))[0] if row else None

    async def group_name_taken(
        self, owner_entity_id: int, name: str, except_id: int | None = None
    ) -> bool:
        query = t.StationGroup.exists().where(
            (t.StationGroup.owner_entity == owner_entity_id) & (t.StationGroup.name == name)
        )
        if except_id is not None:
            query = query.where(t.StationGroup.id != except_id)
        return bool(await query.run())

    async def create_group(self, owner_entity_id: int, name: str, description: str) -> int:
        now = utcnow()
        (row,) = (
            await t.StationGroup.insert(
                t.StationGroup(
                    owner_entity=owner_entity_id,
                    name=name,
                    description=description,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(t.StationGroup.id)
            .run()
        )
        return int(row["id"])

    async def update_group(self, group_id: int, values: dict[str, Any]) -> None:
        await (
            t.StationGroup.update(
                {**values, "updated_at": utcnow()}  # type: ignore[dict-item]
            )
            .where(t.StationGroup.id == group_id)
            .run()
        )

    async def delete_group(self, group_id: int) -> None:
        # Spelled out rather than left to the foreign keys' ON DELETE.
        await t.AccessRule.delete().where(t.AccessRule.station_group == group_id).run()
        await (
            t.Station.update({t.Station.station_group: None})
            .where(t.Station.station_group == group_id)
            .run()
        )
        await t.StationGroup.delete().where(t.StationGroup.id == group_id).run()

    async def group_station_pks(self, group_id: int) -> frozenset[int]:
        rows = await t.Station.select(t.Station.id).where(t.Station.station_group == group_id).run()
        return frozenset(row["id"] for row in rows)

    # access rules

    async def list_rules(self, target: RuleTarget) -> list[AccessRule]:
        rows = (
            await t.AccessRule.select()
            .where(_rule_target_condition(target))
            .order_by(t.AccessRule.id)
            .run()
        )
        return [_access_rule(row) for row in rows]

    async def rule_exists(self, target: RuleTarget, rule: Rule) -> bool:
        return bool(
            await t.AccessRule.exists()
            .where(
                _rule_target_condition(target)
                & (t.AccessRule.effect == rule.effect.value)
                & (t.AccessRule.subject == rule.subject.value)
                & (t.AccessRule.value == rule.value)
            )
            .run()
        )

    async def create_rule(self, target: RuleTarget, rule: Rule, note: str) -> AccessRule:
        (row,) = (
            await t.AccessRule.insert(
                t.AccessRule(
                    station=target.station_pk,
                    station_group=target.group_id,
                    effect=rule.effect.value,
                    subject=rule.subject.value,
                    value=rule.value,
                    note=note,
                    created_at=utcnow(),
                )
            )
            .returning(t.AccessRule.id)
            .run()
        )
        created = await t.AccessRule.select().where(t.AccessRule.id == row["id"]).first().run()
        assert created is not None
        return _access_rule(created)

    async def find_rule(
        self, visibility: Visibility, rule_id: int
    ) -> tuple[AccessRule, int | None] | None:
        station_owner = t.AccessRule.station.owner_entity
        group_owner = t.AccessRule.station_group.owner_entity
        query = scoped(
            t.AccessRule.select(
                *t.AccessRule.all_columns(),
                station_owner.as_alias("station_owner"),
                group_owner.as_alias("group_owner"),
            ),
            station_owner,
            visibility,
            also=visible_condition(group_owner, visibility),
        )
        row = await query.where(t.AccessRule.id == rule_id).first().run()
        if row is None:
            return None
        owner = row["station_owner"] if row["station"] is not None else row["group_owner"]
        return _access_rule(row), owner

    async def delete_rule(self, rule_id: int) -> None:
        await t.AccessRule.delete().where(t.AccessRule.id == rule_id).run()

    # registering and removing stations, their history

    async def charge_point_id_taken(self, charge_point_id: str) -> bool:
        return bool(
            await t.Station.exists().where(t.Station.charge_point_id == charge_point_id).run()
        )

    async def import_stations(
        self, owner_entity_id: int, stations: list[NewStation], skip_existing: bool
    ) -> tuple[list[int], list[str]]:
        wanted = [s.charge_point_id for s in stations]
        async with write_transaction():
            existing: set[str] = set()
            for start in range(0, len(wanted), _CHUNK):
                rows = (
                    await t.Station.select(t.Station.charge_point_id)
                    .where(t.Station.charge_point_id.is_in(wanted[start : start + _CHUNK]))
                    .run()
                )
                existing.update(row["charge_point_id"] for row in rows)
            if existing and not skip_existing:
                shown = sorted(existing)[:10]
                raise Conflict(
                    f"{len(existing)} station(s) exist already: {', '.join(shown)}"
                    + (" ..." if len(existing) > len(shown) else "")
                )
            now = utcnow()
            new = [
                t.Station(
                    charge_point_id=s.charge_point_id,
                    owner_entity=owner_entity_id,
                    auth_secret_hash=s.secret_hash,
                    registration_status=s.registration_status.value,
                    description=s.description,
                    assume_ocpp16=s.assume_ocpp16,
                    leniency=",".join(sorted(s.leniency)),
                    created_at=now,
                    updated_at=now,
                )
                for s in stations
                if s.charge_point_id not in existing
            ]
            created: list[int] = []
            for start in range(0, len(new), _CHUNK):
                rows = (
                    await t.Station.insert(*new[start : start + _CHUNK])
                    .returning(t.Station.id)
                    .run()
                )
                created.extend(int(row["id"]) for row in rows)
        return created, sorted(existing)

    async def create_station(self, values: dict[str, Any]) -> int | None:
        """The new station's key; None if its charge point id was taken
        meanwhile (a race between two creators)."""
        now = utcnow()
        try:
            (row,) = (
                await t.Station.insert(t.Station(**values, created_at=now, updated_at=now))
                .returning(t.Station.id)
                .run()
            )
        except Exception as error:
            if is_unique_violation(error):
                return None
            raise
        return int(row["id"])

    async def session_count(self, station_pk: int) -> int:
        return int(
            await t.ChargingSession.count().where(t.ChargingSession.station == station_pk).run()
        )

    async def delete_station(self, station_pk: int) -> bool:
        """False if a session now refers to it (started meanwhile)."""
        try:
            await t.Station.delete().where(t.Station.id == station_pk).run()
        except Exception as error:
            if is_reference_violation(error):
                return False
            raise
        return True

    async def list_events(
        self, station_pk: int, filters: StationEventFilter, limit: int, offset: int
    ) -> tuple[list[StationEvent], int]:
        conditions: list[Any] = [t.StationEvent.station == station_pk]
        if filters.kind:
            conditions.append(t.StationEvent.kind == filters.kind)
        if filters.since is not None:
            conditions.append(t.StationEvent.occurred_at >= filters.since)
        if filters.until is not None:
            conditions.append(t.StationEvent.occurred_at < filters.until)
        query = t.StationEvent.select(
            t.StationEvent.id, t.StationEvent.kind, t.StationEvent.occurred_at, t.StationEvent.data
        )
        count = t.StationEvent.count()
        for condition in conditions:
            query = query.where(condition)
            count = count.where(condition)
        rows = (
            await query.order_by(t.StationEvent.id, ascending=False)
            .limit(limit)
            .offset(offset)
            .run()
        )
        return [
            StationEvent(
                id=row["id"], kind=row["kind"], occurred_at=row["occurred_at"], data=_data(row)
            )
            for row in rows
        ], int(await count.run())

    async def list_messages(
        self, station_pk: int, filters: StationMessageFilter, limit: int, offset: int
    ) -> tuple[list[StationMessage], int]:
        conditions: list[Any] = [t.OcppMessage.station == station_pk]
        if filters.action:
            conditions.append(t.OcppMessage.action == filters.action)
        if filters.direction:
            conditions.append(t.OcppMessage.direction == filters.direction)
        if filters.since is not None:
            conditions.append(t.OcppMessage.logged_at >= filters.since)
        if filters.until is not None:
            conditions.append(t.OcppMessage.logged_at < filters.until)
        query = t.OcppMessage.select(
            t.OcppMessage.id,
            t.OcppMessage.logged_at,
            t.OcppMessage.direction,
            t.OcppMessage.message_type,
            t.OcppMessage.unique_id,
            t.OcppMessage.action,
            t.OcppMessage.payload,
        )
        count = t.OcppMessage.count()
        for condition in conditions:
            query = query.where(condition)
            count = count.where(condition)
        rows = (
            await query.order_by(t.OcppMessage.id, ascending=False)
            .limit(limit)
            .offset(offset)
            .run()
        )
        return [StationMessage(**row) for row in rows], int(await count.run())


def _data(row: dict[str, Any]) -> dict[str, Any]:
    value = row["data"]
    if isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except ValueError:
            return {"text": value}
    return value if isinstance(value, dict) else {"value": value}
