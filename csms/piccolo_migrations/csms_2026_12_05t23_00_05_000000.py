"""Keys for stored samples, the indexes that make writes idempotent, and the
rating queue's backfill.

- Every meter value gets its sample key (the formula of
  ``csms.domain.meter.sample_key`` at the time of writing, copied here so
  that this migration keeps meaning what it did); a 2.0.1 signedMeterValue
  that was kept as JSON text is split into its columns first. Rows that
  repeat an earlier row of their station (retransmitted MeterValues stored
  twice before) are deleted, the first kept; then ``(station, sample_key)``
  becomes unique.
- ``session_state_change`` is unique per session and seqNo.
- Every completed session is queued for rating.
"""

import hashlib
import json
from datetime import UTC, datetime

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import BigSerial, Integer, Text, Timestamptz, Varchar
from piccolo.engine.finder import engine_finder
from piccolo.table import Table

ID = "2026-12-05T23:00:05:000000"
VERSION = "1.38.0"
DESCRIPTION = "sample keys, idempotence indexes, rating queue backfill"

PAGE = 5_000

INDEXES = {
    "meter_value_sample_key": (
        'CREATE UNIQUE INDEX meter_value_sample_key ON "meter_value" ("station", "sample_key")'
    ),
    "session_state_change_session_seq": (
        'CREATE UNIQUE INDEX session_state_change_session_seq ON "session_state_change" '
        '("session", "seq_no")'
    ),
}


class MeterValue(Table, tablename="meter_value"):
    id = BigSerial(primary_key=True)
    station = Integer()
    connector_id = Integer()
    sampled_at = Timestamptz()
    value = Text()
    measurand = Varchar(length=64)
    phase = Varchar(length=8)
    unit = Varchar(length=16)
    context = Varchar(length=32)
    location = Varchar(length=16)
    format = Varchar(length=16)
    signed_data = Text()
    signing_method = Varchar(length=50)
    encoding_method = Varchar(length=50)
    public_key = Text()
    multiplier = Integer()
    sample_key = Varchar(length=32, null=True)


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC).isoformat()
    return moment.astimezone(UTC).isoformat()


def _key(row: dict) -> str:
    text = "\x1f".join(
        (
            str(row["connector_id"]),
            _utc_text(row["sampled_at"]),
            row["measurand"],
            row["phase"],
            row["location"],
            row["context"],
            row["format"],
            row["unit"],
            str(row["multiplier"] or 0),
            row["value"],
            row["signed_data"],
        )
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _split_signed(row: dict) -> None:
    """A 2.0.1 signedMeterValue stored as JSON text becomes its four fields."""
    text = row["signed_data"]
    if not text.startswith("{"):
        return
    try:
        signed = json.loads(text)
    except ValueError:
        return
    if not isinstance(signed, dict) or "signedMeterData" not in signed:
        return
    row["signed_data"] = str(signed.get("signedMeterData", ""))
    row["signing_method"] = str(signed.get("signingMethod", ""))
    row["encoding_method"] = str(signed.get("encodingMethod", ""))
    row["public_key"] = str(signed.get("publicKey", ""))


async def key_samples() -> None:
    engine = engine_finder()
    assert engine is not None
    last = 0
    while True:
        rows = (
            await MeterValue.select()
            .where((MeterValue.id > last) & MeterValue.sample_key.is_null())
            .order_by(MeterValue.id)
            .limit(PAGE)
        )
        if not rows:
            break
        async with engine.transaction():
            for row in rows:
                _split_signed(row)
                await MeterValue.update(
                    {
                        MeterValue.signed_data: row["signed_data"],
                        MeterValue.signing_method: row["signing_method"],
                        MeterValue.encoding_method: row["encoding_method"],
                        MeterValue.public_key: row["public_key"],
                        MeterValue.sample_key: _key(row),
                    }
                ).where(MeterValue.id == row["id"])
        last = rows[-1]["id"]
    # The first of each station's equal samples stays.
    await engine.run_ddl(
        'DELETE FROM "meter_value" WHERE "sample_key" IS NOT NULL AND "id" NOT IN'
        ' (SELECT MIN("id") FROM "meter_value" WHERE "sample_key" IS NOT NULL'
        ' GROUP BY "station", "sample_key")'
    )


async def create_indexes() -> None:
    engine = engine_finder()
    assert engine is not None
    for statement in INDEXES.values():
        await engine.run_ddl(statement)


async def queue_completed_sessions() -> None:
    engine = engine_finder()
    assert engine is not None
    now = datetime.now(UTC)
    await MeterValue.raw(
        'INSERT INTO "rating_queue" ("session", "completed_at", "enqueued_at")'
        ' SELECT "id", COALESCE("stopped_at", "updated_at"), {} FROM "charging_session"'
        ' WHERE "status" = \'completed\' ORDER BY "id"',
        now,
    )


async def drop_indexes() -> None:
    engine = engine_finder()
    assert engine is not None
    for name in INDEXES:
        await engine.run_ddl(f"DROP INDEX IF EXISTS {name}")
    await engine.run_ddl('DELETE FROM "rating_queue"')


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="csms", description=DESCRIPTION)
    manager.add_raw(key_samples)
    manager.add_raw(create_indexes)
    manager.add_raw(queue_completed_sessions)
    manager.add_raw_backwards(drop_indexes)
    return manager
