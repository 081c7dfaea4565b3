"""Database tables of the OCPP core (piccolo app ``csms``).

Only storage modules import this. Times are ``Timestamptz`` (UTC); meter
readings keep the exact text the charger sent, so nothing is lost to floats.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    BigSerial,
    Boolean,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from crm.tables import Entity


class StationGroup(Table, tablename="station_group"):
    """Stations an operator manages together, e.g. for shared access rules."""

    id = Serial(primary_key=True)
    owner_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=False, index=True
    )
    name = Varchar(length=100)
    description = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Station(Table, tablename="station"):
    """A charge point, known by the identity in its websocket URL."""

    id = Serial(primary_key=True)
    charge_point_id = Varchar(length=255, unique=True)
    # The owning entity ("Inhaber"); none for a station that registered
    # itself and waits for an operator.
    owner_entity = ForeignKey(references=Entity, on_delete=OnDelete.restrict, null=True, index=True)
    station_group = ForeignKey(
        references=StationGroup, on_delete=OnDelete.set_null, null=True, index=True
    )
    description = Text(default="")
    street = Varchar(length=200, default="")
    postal_code = Varchar(length=20, default="")
    city = Varchar(length=100, default="")
    # ISO 3166-1 alpha-2
    country = Varchar(length=2, default="")
    # WGS 84 decimal degrees as text (OCPI's format), exact as entered.
    latitude = Varchar(length=12, default="")
    longitude = Varchar(length=12, default="")
    # IANA name: tariffs and billing see the station's sessions in it.
    time_zone = Varchar(length=64, default="UTC")
    vendor = Varchar(length=50, default="")
    model = Varchar(length=50, default="")
    serial_number = Varchar(length=50, default="")
    charge_box_serial_number = Varchar(length=50, default="")
    firmware_version = Varchar(length=50, default="")
    iccid = Varchar(length=20, default="")
    imsi = Varchar(length=20, default="")
    meter_type = Varchar(length=25, default="")
    meter_serial_number = Varchar(length=25, default="")
    # Accepted, Pending or Rejected: what BootNotification answers.
    registration_status = Varchar(length=16, default="Accepted")
    # "hmac-sha256$<salt>$<digest>", empty when no secret is set.
    auth_secret_hash = Varchar(length=160, default="")
    # Old firmware that offers no websocket subprotocol is served as 1.6.
    assume_ocpp16 = Boolean(default=False)
    # Names of payload leniency flags for known firmware quirks, comma separated.
    leniency = Varchar(length=255, default="")
    # OCPP security profile: 1 basic auth over ws, 2 TLS + basic auth, 3 TLS +
    # a client certificate whose subject CN is the charge point id.
    security_profile = Integer(default=1)
    # The public key of the station's (Eichrecht) meter, hex as the vendor
    # prints it: what billing checks signed meter values against.
    meter_public_key = Text(default="")
    # The secret before the last change sent to the station; still admitted
    # until the station has connected once with the new one.
    previous_auth_secret_hash = Varchar(length=160, default="")
    protocol = Varchar(length=16, default="")
    connected = Boolean(default=False)
    connected_node = Varchar(length=64, default="")
    last_boot_at = Timestamptz(null=True, default=None)
    last_seen_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Connector(Table, tablename="connector"):
    """The latest status of one connector (0 is the station itself)."""

    id = Serial(primary_key=True)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False)
    connector_id = Integer()
    status = Varchar(length=32, default="Unknown")
    error_code = Varchar(length=32, default="NoError")
    info = Varchar(length=50, default="")
    vendor_id = Varchar(length=255, default="")
    vendor_error_code = Varchar(length=50, default="")
    # The time the charger gave for the status; older reports never
    # overwrite newer ones.
    status_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()
    # Unique (station, connector_id): an index created in the migration,
    # because SQLite cannot add a table constraint after the fact.


class ConnectorStatusChange(Table, tablename="connector_status_change"):
    """Every status a charger reported, in the order it reported them."""

    id = BigSerial(primary_key=True)
    # Not indexed alone: (station, connector_id, reported_at) is (see its migration).
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False)
    connector_id = Integer()
    status = Varchar(length=32)
    error_code = Varchar(length=32, default="NoError")
    info = Varchar(length=50, default="")
    vendor_id = Varchar(length=255, default="")
    vendor_error_code = Varchar(length=50, default="")
    reported_at = Timestamptz()
    received_at = Timestamptz()


class ChargingSession(Table, tablename="charging_session"):
    """A transaction: its id is the OCPP 1.6 transactionId."""

    id = Serial(primary_key=True)
    station = ForeignKey(references=Station, on_delete=OnDelete.restrict, null=False, index=True)
    connector_id = Integer()
    id_tag = Varchar(length=36, index=True)
    parent_id_tag = Varchar(length=36, default="")
    # The authorisation answer given at the start (Accepted, Invalid, ...).
    start_auth_status = Varchar(length=20, default="")
    reservation_id = Integer(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    meter_start_wh = BigInt(null=True, default=None)
    stopped_at = Timestamptz(null=True, default=None)
    meter_stop_wh = BigInt(null=True, default=None)
    stop_reason = Varchar(length=32, default="")
    stop_id_tag = Varchar(length=36, default="")
    # active or completed
    status = Varchar(length=16, default="active", index=True)
    # charger: the charger stopped it; rule:<name>: a rule closed it.
    closed_by = Varchar(length=64, default="")
    # True when the system never saw the start (StopTransaction came first).
    started_offline = Boolean(default=False)
    # The transaction id the charger used when it differs from ours (a stop
    # for a transaction the system never saw).
    charger_transaction_id = Varchar(length=64, default="")
    # Identifies a StartTransaction so a retransmission is the same session
    # (2.0.1: the station and the charger's transactionId).
    start_key = Varchar(length=64, null=True, default=None, unique=True)
    # OCPP 2.0.1: the seqNo of the last TransactionEvent applied (a repeat is
    # not applied twice) and the chargingState it reported.
    last_seq_no = Integer(null=True, default=None)
    charging_state = Varchar(length=20, default="")
    # The medium that authorised the session as it was at the start (copied
    # from the authorisation cache, never updated after): its id, issuing
    # entity, bill-to and owner contacts. Null when the id tag named no
    # medium. Plain ids, not foreign keys: a snapshot, and the hot path's
    # insert checks no CRM table.
    medium_id = Integer(null=True, default=None)
    issuing_entity_id = Integer(null=True, default=None)
    bill_to_contact_id = Integer(null=True, default=None)
    owner_contact_id = Integer(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class MeterValue(Table, tablename="meter_value"):
    """One sampled value, exactly as the charger reported it."""

    id = BigSerial(primary_key=True)
    # Not indexed alone: the unique key below has it (see its migration).
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False)
    connector_id = Integer()
    # Indexed together with received_at (see the composite-index migration).
    session = ForeignKey(references=ChargingSession, on_delete=OnDelete.cascade, null=True)
    # The transactionId the charger sent with the value, if any.
    reported_transaction_id = BigInt(null=True, default=None)
    sampled_at = Timestamptz()
    value = Text()
    measurand = Varchar(length=64, default="Energy.Active.Import.Register")
    phase = Varchar(length=8, default="")
    unit = Varchar(length=20, default="")  # 2.0.1 UnitOfMeasureType.unit: 20
    context = Varchar(length=32, default="")
    location = Varchar(length=16, default="")
    # Raw or SignedData (1.6); signed meter data stays as sent.
    format = Varchar(length=16, default="")
    # Signed meter data exactly as sent: 1.6 the value of a SignedData
    # sample, 2.0.1 signedMeterValue.signedMeterData.
    signed_data = Text(default="")
    # OCPP 2.0.1 signedMeterValue: signingMethod, encodingMethod, publicKey.
    signing_method = Varchar(length=50, default="")
    encoding_method = Varchar(length=50, default="")
    public_key = Text(default="")
    # OCPP 2.0.1 unitOfMeasure.multiplier: the reading is value x 10^multiplier unit.
    multiplier = Integer(default=0)
    # What makes a sample the same sample (csms.domain.meter.sample_key):
    # unique with the station (and sampled_at, which the key contains, first:
    # new entries land on the index's last pages), so a retransmitted
    # MeterValues is stored once.
    # Null only for rows a migration could not key.
    sample_key = Varchar(length=32, null=True, default=None)
    received_at = Timestamptz()


class SessionStateChange(Table, tablename="session_state_change"):
    """OCPP 2.0.1: each change of a session's chargingState, with the time of
    the TransactionEvent that reported it: the session's charging / parking
    timeline (1.6 has it in connector_status_change). An event repeating
    the state the session is in adds no row. Unique (session, seq_no) in the
    migration."""

    id = BigSerial(primary_key=True)
    session = ForeignKey(references=ChargingSession, on_delete=OnDelete.cascade, null=False)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False, index=True)
    # The EVSE (the domain's connector) of the session when the event came.
    connector_id = Integer()
    # Charging, SuspendedEV, SuspendedEVSE, EVConnected or Idle.
    charging_state = Varchar(length=20)
    # The event's timestamp (the charger's clock) and seqNo.
    changed_at = Timestamptz()
    seq_no = Integer()
    received_at = Timestamptz()


class RatingQueue(Table, tablename="rating_queue"):
    """Completed sessions waiting to be rated (a transactional outbox): a
    row is inserted in the transaction that completes the session, on every
    path; billing takes rows in batches and deletes them in the transaction
    that writes the CDRs."""

    id = BigSerial(primary_key=True)
    session = ForeignKey(
        references=ChargingSession, on_delete=OnDelete.cascade, null=False, unique=True
    )
    # The session's stop time (the charger's clock, or the rule's).
    completed_at = Timestamptz()
    # When the row was written (the system's clock).
    enqueued_at = Timestamptz()
    # 0 when queued, one more each time the session completes anew while
    # its row waits (a charger's stop replacing a rule's): the rater
    # removes only the revision it rated, so a newer one is rated again.
    revision = Integer(default=0)


class StationEvent(Table, tablename="station_event"):
    """Boot, connection and notification history of a station."""

    id = BigSerial(primary_key=True)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False, index=True)
    kind = Varchar(length=48, index=True)
    occurred_at = Timestamptz()
    received_at = Timestamptz()
    data = JSON(default="{}")


class OcppMessage(Table, tablename="ocpp_message"):
    """The raw OCPP message log: every call a charger sent and each answer."""

    id = BigSerial(primary_key=True)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False, index=True)
    # in: charger to system; out: system to charger
    direction = Varchar(length=3)
    message_type = Integer()
    unique_id = Varchar(length=64)
    action = Varchar(length=64, default="")
    payload = Text()
    logged_at = Timestamptz(index=True)


class AccessRule(Table, tablename="access_rule"):
    """Who may charge at a station or at every station of a group.

    A deny that matches refuses; else an allow that matches admits; a station
    with no allow rules at all admits every valid medium (public).
    """

    id = Serial(primary_key=True)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=True, index=True)
    station_group = ForeignKey(
        references=StationGroup, on_delete=OnDelete.cascade, null=True, index=True
    )
    # allow or deny
    effect = Varchar(length=5, default="allow")
    # everyone, owner_entity, owner_subtree, medium, media_group,
    # issuing_entity, issuing_subtree
    subject = Varchar(length=16)
    # The medium uid, the group id or the entity id the subject names.
    value = Varchar(length=36, default="")
    note = Varchar(length=255, default="")
    created_at = Timestamptz()


class SecurityEvent(Table, tablename="security_event"):
    """A SecurityEventNotification (1.6 security extension, 2.0.1)."""

    id = BigSerial(primary_key=True)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False, index=True)
    # The type the station sent (e.g. FirmwareUpdated, InvalidCsmsCertificate).
    type = Varchar(length=50)
    timestamp = Timestamptz()
    tech_info = Varchar(length=255, default="")
    received_at = Timestamptz()


class LocalListState(Table, tablename="local_list_state"):
    """What a station's local authorisation list holds, as the station last
    acknowledged it (written only after it answered Accepted)."""

    id = Serial(primary_key=True)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False, unique=True)
    version = Integer(default=0)
    # The entries as JSON text: [{"id_tag", "status", "expires_at", "parent_id"}].
    entries = Text(default="[]")
    # Most entries per SendLocalList this station takes; null: the setting.
    items_per_message = Integer(null=True, default=None)
    updated_at = Timestamptz()


class FirmwareFile(Table, tablename="firmware_file"):
    """A firmware image operators uploaded for chargers to download."""

    id = Serial(primary_key=True)
    owner_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=False, index=True
    )
    filename = Varchar(length=255)
    description = Text(default="")
    size = BigInt()
    sha256 = Varchar(length=64)
    # The unguessable part of the download URL.
    token = Varchar(length=64, unique=True)
    # The file's path under CSMS_FILES_DIR.
    stored_as = Varchar(length=255)
    created_at = Timestamptz()


class UploadSlot(Table, tablename="upload_slot"):
    """Where one station may upload diagnostics or logs until it expires."""

    id = Serial(primary_key=True)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False, index=True)
    # diagnostics or security
    kind = Varchar(length=16)
    token = Varchar(length=64, unique=True)
    request_id = Integer()
    created_at = Timestamptz()
    expires_at = Timestamptz()


class StationUpload(Table, tablename="station_upload"):
    """A file a station uploaded into one of its slots."""

    id = Serial(primary_key=True)
    slot = ForeignKey(references=UploadSlot, on_delete=OnDelete.cascade, null=False, index=True)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False, index=True)
    kind = Varchar(length=16)
    filename = Varchar(length=255)
    size = BigInt()
    sha256 = Varchar(length=64)
    stored_as = Varchar(length=255)
    received_at = Timestamptz(index=True)


class StationVariable(Table, tablename="station_variable"):
    """A station's device model (OCPP 2.0.1 NotifyReport): one row per
    attribute of a variable of a component, upserted per key (unique index in
    the device-model index migration)."""

    id = BigSerial(primary_key=True)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=False, index=True)
    component = Varchar(length=50)
    component_instance = Varchar(length=50, default="")
    # 0: the component is not on an EVSE / connector.
    evse_id = Integer(default=0)
    connector_id = Integer(default=0)
    variable = Varchar(length=50)
    variable_instance = Varchar(length=50, default="")
    # Actual, Target, MinSet or MaxSet
    attribute_type = Varchar(length=8, default="Actual")
    value = Text(null=True, default=None)
    # ReadOnly, WriteOnly or ReadWrite
    mutability = Varchar(length=10, default="")
    data_type = Varchar(length=20, default="")
    unit = Varchar(length=16, default="")
    updated_at = Timestamptz()
