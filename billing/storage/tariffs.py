"""Tariffs, their versions and assignments, and community partners in the
database: :class:`PiccoloTariffs` (``billing.tariffs.ports.TariffStore``) for
the tariff service and :class:`PiccoloTariffLookup`
(``billing.tariffs.lookup.TariffLookup``) for the rater.

Reads on behalf of a user go through :func:`crm.storage.scoping.scoped` on
the owning entity (a tariff's and an assignment's ``owner_entity``, a
community partner row's ``entity``). The lookup is the one unscoped read:
the rater asks, not a user. Versions are only ever inserted.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from billing.storage.rows import id_chunks
from billing.tables import Cdr
from billing.tables import CommunityPartner as PartnerRow
from billing.tables import Tariff as TariffRow
from billing.tables import TariffAssignment as AssignmentTable
from billing.tables import TariffVersion as VersionRow
from billing.tariffs.assignments import AssignmentRow, Audience
from billing.tariffs.lookup import RatingTariffs, TariffVersionRow
from billing.tariffs.model import Tariff, parse_tariff
from billing.tariffs.records import (
    AssignmentFilter,
    CommunityPartner,
    TariffAssignment,
    TariffAssignmentCreate,
    TariffEntry,
    TariffFilter,
    TariffVersionEntry,
)
from crm.access import Visibility
from crm.errors import Conflict
from crm.storage.entities import active_entities
from crm.storage.integrity import is_unique_violation
from crm.storage.scoping import ids_in, scoped
from crm.storage.tree import load_tree
from crm.tree import EntityTree
from csms.storage.database import is_sqlite
from csms.tables import Station, StationGroup

# Parsed versions kept by a lookup (versions never change); past this the
# cache starts afresh.
CACHE_LIMIT = 10_000


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _write_transaction() -> Any:
    """A transaction that takes SQLite's write lock up front."""
    engine = TariffRow._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def tariff_entry(row: dict[str, Any]) -> TariffEntry:
    return TariffEntry(
        id=row["id"],
        owner_entity_id=row["owner_entity"],
        code=row["code"],
        name=row["name"],
        currency=row["currency"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def version_entry(row: dict[str, Any]) -> TariffVersionEntry:
    return TariffVersionEntry(
        id=row["id"],
        tariff_id=row["tariff"],
        valid_from=row["valid_from"],
        created_at=row["created_at"],
    )


def assignment_answer(row: dict[str, Any]) -> TariffAssignment:
    return TariffAssignment(
        id=row["id"],
        owner_entity_id=row["owner_entity"],
        tariff_id=row["tariff"],
        audience=Audience(row["audience"]),
        station_id=row["station"],
        station_group_id=row["station_group"],
        counterparty_entity_id=row["counterparty_entity"],
        priority=row["priority"],
        created_at=row["created_at"],
    )


def assignment_row(row: dict[str, Any]) -> AssignmentRow:
    return AssignmentRow(
        id=row["id"],
        owner_entity_id=row["owner_entity"],
        tariff_id=row["tariff"],
        audience=Audience(row["audience"]),
        station_id=row["station"],
        station_group_id=row["station_group"],
        counterparty_entity_id=row["counterparty_entity"],
        priority=row["priority"],
        created_at=row["created_at"],
    )


def partner_answer(row: dict[str, Any]) -> CommunityPartner:
    return CommunityPartner(
        id=row["id"],
        entity_id=row["entity"],
        partner_entity_id=row["partner_entity"],
        created_at=row["created_at"],
    )


def _tariffs_filtered(query: Any, filters: TariffFilter) -> Any:
    if filters.owner_entity_id is not None:
        query = query.where(TariffRow.owner_entity == filters.owner_entity_id)
    if filters.code is not None:
        query = query.where(TariffRow.code == filters.code)
    return query


def _assignments_filtered(query: Any, filters: AssignmentFilter) -> Any:
    if filters.owner_entity_id is not None:
        query = query.where(AssignmentTable.owner_entity == filters.owner_entity_id)
    if filters.tariff_id is not None:
        query = query.where(AssignmentTable.tariff == filters.tariff_id)
    if filters.audience is not None:
        query = query.where(AssignmentTable.audience == filters.audience.value)
    return query


def _partners_filtered(query: Any, entity_id: int | None) -> Any:
    return query if entity_id is None else query.where(PartnerRow.entity == entity_id)


class PiccoloTariffs:
    """Tariffs as the tariff service uses them."""

    # -- tariffs and versions ------------------------------------------------------

    async def page(
        self, visibility: Visibility, filters: TariffFilter, *, limit: int, offset: int
    ) -> tuple[list[TariffEntry], int]:
        rows = (
            await _tariffs_filtered(
                scoped(TariffRow.select(), TariffRow.owner_entity, visibility), filters
            )
            .order_by(TariffRow.id)
            .limit(limit)
            .offset(offset)
            .run()
        )
        total = await _tariffs_filtered(
            scoped(TariffRow.count(), TariffRow.owner_entity, visibility), filters
        ).run()
        return [tariff_entry(row) for row in rows], int(total)

    async def get(self, tariff_id: int, visibility: Visibility) -> TariffEntry | None:
        query = TariffRow.select().where(TariffRow.id == tariff_id)
        row = await scoped(query, TariffRow.owner_entity, visibility).first().run()
        return tariff_entry(row) if row else None

    async def by_code(self, owner_entity_id: int, code: str) -> TariffEntry | None:
        row = (
            await TariffRow.select()
            .where((TariffRow.owner_entity == owner_entity_id) & (TariffRow.code == code))
            .first()
            .run()
        )
        return tariff_entry(row) if row else None

    async def versions(self, tariff_id: int) -> list[TariffVersionEntry]:
        rows = (
            await VersionRow.select(
                VersionRow.id, VersionRow.tariff, VersionRow.valid_from, VersionRow.created_at
            )
            .where(VersionRow.tariff == tariff_id)
            .order_by(VersionRow.valid_from)
            .run()
        )
        return [version_entry(row) for row in rows]

    async def ocpi_at(
        self, tariff_id: int, when: datetime
    ) -> tuple[TariffVersionEntry, str] | None:
        row = (
            await VersionRow.select()
            .where((VersionRow.tariff == tariff_id) & (VersionRow.valid_from <= _utc(when)))
            .order_by(VersionRow.valid_from, ascending=False)
            .first()
            .run()
        )
        return (version_entry(row), row["ocpi"]) if row else None

    async def add(
        self,
        owner_entity_id: int,
        code: str,
        name: str,
        currency: str,
        valid_from: datetime,
        ocpi: str,
    ) -> tuple[TariffEntry, TariffVersionEntry]:
        now = datetime.now(UTC)
        try:
            async with _write_transaction():
                (tariff,) = (
                    await TariffRow.insert(
                        TariffRow(
                            owner_entity=owner_entity_id,
                            code=code,
                            name=name,
                            currency=currency,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    .returning(*TariffRow.all_columns())
                    .run()
                )
                (version,) = (
                    await VersionRow.insert(
                        VersionRow(
                            tariff=tariff["id"],
                            valid_from=_utc(valid_from),
                            ocpi=ocpi,
                            created_at=now,
                        )
                    )
                    .returning(
                        VersionRow.id,
                        VersionRow.tariff,
                        VersionRow.valid_from,
                        VersionRow.created_at,
                    )
                    .run()
                )
        except Exception as error:
            if is_unique_violation(error):
                raise Conflict(f"entity {owner_entity_id} has a tariff {code!r} already") from None
            raise
        return tariff_entry(tariff), version_entry(version)

    async def add_version(
        self, tariff_id: int, valid_from: datetime, ocpi: str, name: str | None
    ) -> TariffVersionEntry:
        now = datetime.now(UTC)
        try:
            async with _write_transaction():
                (version,) = (
                    await VersionRow.insert(
                        VersionRow(
                            tariff=tariff_id, valid_from=_utc(valid_from), ocpi=ocpi, created_at=now
                        )
                    )
                    .returning(
                        VersionRow.id,
                        VersionRow.tariff,
                        VersionRow.valid_from,
                        VersionRow.created_at,
                    )
                    .run()
                )
                values: dict[Any, Any] = {TariffRow.updated_at: now}
                if name is not None:
                    values[TariffRow.name] = name
                await TariffRow.update(values).where(TariffRow.id == tariff_id).run()
        except Exception as error:
            if is_unique_violation(error):
                raise Conflict(
                    f"tariff {tariff_id} has a version valid from "
                    f"{_utc(valid_from).isoformat()} already (versions are never changed)"
                ) from None
            raise
        return version_entry(version)

    async def references(self, tariff_id: int) -> tuple[int, int]:
        assignments = await AssignmentTable.count().where(AssignmentTable.tariff == tariff_id).run()
        versions = [
            row["id"]
            for row in await VersionRow.select(VersionRow.id)
            .where(VersionRow.tariff == tariff_id)
            .run()
        ]
        cdrs = await Cdr.count().where(Cdr.tariff_version.is_in(versions)).run() if versions else 0
        return int(assignments), int(cdrs)

    async def delete(self, tariff_id: int) -> None:
        async with _write_transaction():
            await VersionRow.delete().where(VersionRow.tariff == tariff_id).run()
            await TariffRow.delete().where(TariffRow.id == tariff_id).run()

    # -- assignments -----------------------------------------------------------------

    async def assignment_page(
        self, visibility: Visibility, filters: AssignmentFilter, *, limit: int, offset: int
    ) -> tuple[list[TariffAssignment], int]:
        rows = (
            await _assignments_filtered(
                scoped(AssignmentTable.select(), AssignmentTable.owner_entity, visibility), filters
            )
            .order_by(AssignmentTable.id)
            .limit(limit)
            .offset(offset)
            .run()
        )
        total = await _assignments_filtered(
            scoped(AssignmentTable.count(), AssignmentTable.owner_entity, visibility), filters
        ).run()
        return [assignment_answer(row) for row in rows], int(total)

    async def get_assignment(
        self, assignment_id: int, visibility: Visibility
    ) -> TariffAssignment | None:
        query = AssignmentTable.select().where(AssignmentTable.id == assignment_id)
        row = await scoped(query, AssignmentTable.owner_entity, visibility).first().run()
        return assignment_answer(row) if row else None

    async def add_assignment(
        self, owner_entity_id: int, data: TariffAssignmentCreate
    ) -> TariffAssignment:
        (row,) = (
            await AssignmentTable.insert(
                AssignmentTable(
                    owner_entity=owner_entity_id,
                    tariff=data.tariff_id,
                    audience=data.audience.value,
                    station=data.station_id,
                    station_group=data.station_group_id,
                    counterparty_entity=data.counterparty_entity_id,
                    priority=data.priority,
                    created_at=datetime.now(UTC),
                )
            )
            .returning(*AssignmentTable.all_columns())
            .run()
        )
        return assignment_answer(row)

    async def delete_assignment(self, assignment_id: int) -> None:
        await AssignmentTable.delete().where(AssignmentTable.id == assignment_id).run()

    # -- community partners ------------------------------------------------------------

    async def partner_page(
        self, visibility: Visibility, entity_id: int | None, *, limit: int, offset: int
    ) -> tuple[list[CommunityPartner], int]:
        rows = (
            await _partners_filtered(
                scoped(PartnerRow.select(), PartnerRow.entity, visibility), entity_id
            )
            .order_by(PartnerRow.id)
            .limit(limit)
            .offset(offset)
            .run()
        )
        total = await _partners_filtered(
            scoped(PartnerRow.count(), PartnerRow.entity, visibility), entity_id
        ).run()
        return [partner_answer(row) for row in rows], int(total)

    async def get_partner(self, partner_id: int, visibility: Visibility) -> CommunityPartner | None:
        query = PartnerRow.select().where(PartnerRow.id == partner_id)
        row = await scoped(query, PartnerRow.entity, visibility).first().run()
        return partner_answer(row) if row else None

    async def add_partner(self, entity_id: int, partner_entity_id: int) -> CommunityPartner:
        try:
            (row,) = (
                await PartnerRow.insert(
                    PartnerRow(
                        entity=entity_id,
                        partner_entity=partner_entity_id,
                        created_at=datetime.now(UTC),
                    )
                )
                .returning(*PartnerRow.all_columns())
                .run()
            )
        except Exception as error:
            if is_unique_violation(error):
                raise Conflict(
                    f"entity {entity_id} counts entity {partner_entity_id} as community already"
                ) from None
            raise
        return partner_answer(row)

    async def delete_partner(self, partner_id: int) -> None:
        await PartnerRow.delete().where(PartnerRow.id == partner_id).run()

    # -- checks ---------------------------------------------------------------------------

    async def active_entities(self, entity_ids: Iterable[int]) -> frozenset[int]:
        return await active_entities(entity_ids)

    async def tree(self) -> EntityTree:
        return await load_tree()

    async def station_owner(self, station_id: int) -> tuple[bool, int | None]:
        row = (
            await Station.select(Station.owner_entity).where(Station.id == station_id).first().run()
        )
        return (True, row["owner_entity"]) if row else (False, None)

    async def station_group_owner(self, group_id: int) -> tuple[bool, int | None]:
        row = (
            await StationGroup.select(StationGroup.owner_entity)
            .where(StationGroup.id == group_id)
            .first()
            .run()
        )
        return (True, row["owner_entity"]) if row else (False, None)


# By dialect (key: is it SQLite); the rows as piccolo's select gives them.
_ASSIGNMENTS_OF_OWNERS = {
    sqlite: "SELECT id, owner_entity, tariff, audience, station, station_group,"
    " counterparty_entity, priority, created_at FROM tariff_assignment"
    f" WHERE {ids_in('owner_entity', sqlite=sqlite)} ORDER BY id"
    for sqlite in (True, False)
}
_VERSIONS_OF_TARIFFS = {
    sqlite: 'SELECT v.id, v.tariff, v.valid_from, t.currency AS "tariff.currency"'
    " FROM tariff_version v JOIN tariff t ON t.id = v.tariff"
    f" WHERE {ids_in('v.tariff', sqlite=sqlite)} ORDER BY v.valid_from, v.id"
    for sqlite in (True, False)
}


class PiccoloTariffLookup:
    """What the rater reads, unscoped (the rater asks, not a user); each
    version's OCPI text is parsed once."""

    def __init__(self) -> None:
        self._parsed: dict[int, Tariff] = {}

    async def rating_tariffs(self, owner_entity_ids: Collection[int]) -> RatingTariffs:
        """Every batch of a rating pass asks this for hundreds of sellers:
        the statements are written once and take their ids as one JSON
        parameter (piccolo's ``is_in`` built a parameter per id, in Python,
        and took as long as running the query)."""
        sqlite = is_sqlite()
        assignments: dict[tuple[int, str], list[AssignmentRow]] = {}
        owners = sorted(set(owner_entity_ids))
        if owners:
            assigned = await AssignmentTable.raw(
                _ASSIGNMENTS_OF_OWNERS[sqlite], json.dumps(owners)
            ).run()
            for row in assigned:
                assignment = assignment_row(row)
                key = (assignment.owner_entity_id, assignment.audience.value)
                assignments.setdefault(key, []).append(assignment)
        tariff_ids = sorted({a.tariff_id for found in assignments.values() for a in found})
        rows: list[dict[str, Any]] = []
        if tariff_ids:
            rows = await VersionRow.raw(_VERSIONS_OF_TARIFFS[sqlite], json.dumps(tariff_ids)).run()
        # The OCPI text only of versions not parsed yet (a version never
        # changes): every batch of a month's rating names the same few
        # hundred tariffs, and reading their text again cost more than
        # the rest of the batch's reads.
        parsed = {row["id"]: self._parsed.get(row["id"]) for row in rows}
        unparsed = sorted(version_id for version_id, found in parsed.items() if found is None)
        for chunk in id_chunks(unparsed):
            texts = (
                await VersionRow.select(VersionRow.id, VersionRow.ocpi)
                .where(VersionRow.id.is_in(chunk))
                .run()
            )
            for text in texts:
                parsed[text["id"]] = self._parse(text["id"], text["ocpi"])
        versions: dict[int, list[TariffVersionRow]] = {tariff_id: [] for tariff_id in tariff_ids}
        for row in rows:
            versions[row["tariff"]].append(self._version_row(row["tariff"], row, parsed[row["id"]]))
        return RatingTariffs(assignments=assignments, versions=versions)

    def _parse(self, version_id: int, text: Any) -> Tariff:
        if len(self._parsed) >= CACHE_LIMIT:
            self._parsed.clear()
        tariff = self._parsed[version_id] = parse_tariff(text)
        return tariff

    def _version_row(
        self, tariff_id: int, row: dict[str, Any], tariff: Tariff | None = None
    ) -> TariffVersionRow:
        """A version row; its tariff as given, else parsed (once) from the
        row's OCPI text."""
        tariff = tariff or self._parsed.get(row["id"]) or self._parse(row["id"], row["ocpi"])
        return TariffVersionRow(
            id=row["id"],
            tariff_id=tariff_id,
            valid_from=row["valid_from"],
            tariff=tariff,
            currency=row["tariff.currency"],
        )

    async def assignments_for(self, owner_entity_id: int, audience: str) -> list[AssignmentRow]:
        rows = (
            await AssignmentTable.select()
            .where(
                (AssignmentTable.owner_entity == owner_entity_id)
                & (AssignmentTable.audience == Audience(audience).value)
            )
            .order_by(AssignmentTable.id)
            .run()
        )
        return [assignment_row(row) for row in rows]

    async def version_at(self, tariff_id: int, when: datetime) -> TariffVersionRow | None:
        row = (
            await VersionRow.select(
                VersionRow.id,
                VersionRow.valid_from,
                VersionRow.ocpi,
                VersionRow.tariff.currency,
            )
            .where((VersionRow.tariff == tariff_id) & (VersionRow.valid_from <= _utc(when)))
            .order_by(VersionRow.valid_from, ascending=False)
            .first()
            .run()
        )
        if row is None:
            return None
        return self._version_row(tariff_id, row)

    async def version_rows(self, tariff_id: int) -> list[TariffVersionRow]:
        rows = (
            await VersionRow.select(
                VersionRow.id,
                VersionRow.valid_from,
                VersionRow.ocpi,
                VersionRow.tariff.currency,
            )
            .where(VersionRow.tariff == tariff_id)
            .order_by(VersionRow.valid_from)
            .run()
        )
        return [self._version_row(tariff_id, row) for row in rows]

    async def community_of(self, entity_id: int) -> set[int]:
        tree = await load_tree()
        rows = (
            await PartnerRow.select(PartnerRow.partner_entity)
            .where(PartnerRow.entity == entity_id)
            .run()
        )
        own = set(tree.subtree(entity_id)) if entity_id in tree else {entity_id}
        return own | {row["partner_entity"] for row in rows}


async def station_id_of(charge_point_id: str) -> int | None:
    """The id of the station with this charge point id (the CLI names
    stations so)."""
    row = (
        await Station.select(Station.id)
        .where(Station.charge_point_id == charge_point_id)
        .first()
        .run()
    )
    return int(row["id"]) if row else None
