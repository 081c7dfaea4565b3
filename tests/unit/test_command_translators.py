"""The translators of remote commands: every command becomes, in each OCPP
version, a call whose payload the official schema accepts, or Unsupported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from csms.commands import model as m
from csms.commands.outcomes import Answered, Unsupported
from csms.protocol.outgoing import OutgoingCall
from csms.protocol.payloads import PayloadCodec, v16, v201
from csms.protocol.payloads._official import OfficialSchema
from csms.protocol.v16.calls import Calls16
from csms.protocol.v201.calls import Calls201, id_token_type

pytestmark = pytest.mark.backend_independent

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PROFILE = m.ChargingProfile(
    profile_id=7,
    stack_level=1,
    purpose="TxProfile",
    kind="Absolute",
    session_id=42,
    valid_from=NOW,
    valid_to=NOW + timedelta(hours=2),
    schedule=m.ChargingSchedule(
        rate_unit="W",
        periods=(m.SchedulePeriod(0, 11000.0, 3), m.SchedulePeriod(600, 3700.5)),
        duration=3600,
        start_schedule=NOW,
        min_charging_rate=1000.0,
    ),
)
MAX_PROFILE = msgspec.structs.replace(PROFILE, purpose="ChargePointMaxProfile", session_id=None)

# One of every command, with every field given.
EVERY_COMMAND: list[m.Command] = [
    m.RemoteStart(id_tag="04A1B2C3", connector_id=1, charging_profile=PROFILE),
    m.RemoteStart(id_tag="driver-app-user"),
    m.RemoteStop(session_id=42),
    m.Reset(kind="soft"),
    m.Reset(kind="hard"),
    m.UnlockConnector(connector_id=2),
    m.ChangeAvailability(connector_id=0, operative=False),
    m.ChangeAvailability(connector_id=1, operative=True),
    m.GetConfiguration(keys=("HeartbeatInterval",)),
    m.GetConfiguration(),
    m.ChangeConfiguration(key="HeartbeatInterval", value="60"),
    m.GetVariables(
        variables=(
            m.VariableRef("OCPPCommCtrlr", "HeartbeatInterval"),
            m.VariableRef("EVSE", "Power", "MaxSet", "x", "y", 1, 1),
        )
    ),
    m.SetVariables(variables=(m.VariableSetting("OCPPCommCtrlr", "HeartbeatInterval", "60"),)),
    m.GetBaseReport(report="SummaryInventory", request_id=5),
    m.TriggerMessage(message="StatusNotification", connector_id=1),
    m.TriggerMessage(message="BootNotification"),
    m.TriggerMessage(message="DiagnosticsStatusNotification"),
    m.TriggerMessage(message="SignChargePointCertificate"),
    m.ClearCache(),
    m.GetLocalListVersion(),
    m.SendLocalList(
        version=3,
        update="differential",
        entries=(
            m.LocalListEntry("04A1B2C3", "Accepted", NOW, "GROUP1"),
            m.LocalListEntry("REMOVED"),
        ),
    ),
    m.SendLocalList(version=1),
    m.ReserveNow(
        reservation_id=9, connector_id=1, id_tag="04A1B2C3", expires_at=NOW, parent_id="G"
    ),
    m.CancelReservation(reservation_id=9),
    m.SetChargingProfile(connector_id=1, profile=PROFILE),
    m.SetChargingProfile(connector_id=0, profile=MAX_PROFILE),
    m.ClearChargingProfile(profile_id=7, connector_id=1, purpose="TxProfile", stack_level=1),
    m.ClearChargingProfile(),
    m.UpdateFirmware(location="https://files.example/fw.bin", retrieve_at=NOW, retries=3),
    m.UpdateFirmware(
        location="https://files.example/fw.bin",
        retrieve_at=NOW,
        retries=3,
        retry_interval=60,
        signing_certificate="-----BEGIN CERTIFICATE-----",
        signature="c2ln",
        install_at=NOW,
        request_id=11,
    ),
    m.GetDiagnostics(location="https://files.example/up", start=NOW, stop=NOW, retries=1),
    m.GetLog(location="https://files.example/up", log_type="SecurityLog", request_id=12),
    m.InstallCertificate(certificate_type="CSMSRootCertificate", certificate="PEM"),
    m.CertificateSigned(certificate_chain="PEM", certificate_type="ChargingStationCertificate"),
    m.GetInstalledCertificateIds(),
    m.DeleteCertificate("SHA256", "aa", "bb", "01"),
    m.SetNetworkProfile(
        configuration_slot=1,
        profile=m.NetworkConnectionProfile(
            ocpp_csms_url="wss://csms.example/ocpp", security_profile=2
        ),
    ),
    m.SetBasicAuthPassword(password="0123456789abcdef0123"),
    m.GetCompositeSchedule(connector_id=1, duration=3600, rate_unit="W"),
    m.DataTransfer(vendor_id="com.example", message_id="hello", data={"a": 1}),
    m.DataTransfer(vendor_id="com.example", data="text"),
]

ONLY_201 = (m.GetVariables, m.SetVariables, m.GetBaseReport, m.SetNetworkProfile)
ONLY_16 = (m.GetConfiguration, m.ChangeConfiguration)


class KnownTransactions:
    async def charger_transaction_id(self, charge_point_id: str, session_id: int) -> str | None:
        return f"tx-{session_id}" if session_id == 42 else None


def official_findings(version: str, action: str, payload: bytes) -> list[str]:
    module = v16 if version == "1.6" else v201
    schema = OfficialSchema(module.SCHEMA_DIR, module.REQUEST_SCHEMA.format(action=action))
    return [found.description for found in schema.findings(schema.load(payload))]


def test_every_command_is_in_the_union() -> None:
    """The list above holds one of every command of the union."""
    kinds = {type(command) for command in EVERY_COMMAND}
    assert kinds == set(m.Command.__args__)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: type(c).__name__)
async def test_16_payload_passes_the_official_schema(command: m.Command) -> None:
    """A 1.6 translation encodes to a payload the official 1.6 schema and the
    codec accept; only the 2.0.1 device-model calls are Unsupported."""
    codec = PayloadCodec("1.6")
    call = await Calls16().translate("CP", command)
    if isinstance(command, ONLY_201):
        assert isinstance(call, Unsupported)
        return
    assert isinstance(call, OutgoingCall), call
    payload = codec.encode(call.request)
    assert official_findings("1.6", call.action, payload) == []
    codec.decode_request(call.action, payload)


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: type(c).__name__)
async def test_201_payload_passes_the_official_schema(command: m.Command) -> None:
    """A 2.0.1 translation encodes to a payload the official 2.0.1 schema and
    the codec accept; only GetConfiguration/ChangeConfiguration are
    Unsupported."""
    codec = PayloadCodec("2.0.1")
    call = await Calls201(KnownTransactions()).translate("CP", command)
    if isinstance(command, ONLY_16):
        assert isinstance(call, Unsupported)
        return
    assert isinstance(call, OutgoingCall), call
    payload = codec.encode(call.request)
    assert official_findings("2.0.1", call.action, payload) == []
    codec.decode_request(call.action, payload)


async def test_201_remote_stop_sends_the_chargers_transaction_id() -> None:
    """RemoteStop of our session 42 asks the 2.0.1 charger to stop its own
    transaction id for that session."""
    call = await Calls201(KnownTransactions()).translate("CP", m.RemoteStop(session_id=42))
    assert isinstance(call, OutgoingCall)
    assert call.action == "RequestStopTransaction"
    assert call.request.transaction_id == "tx-42"  # type: ignore[attr-defined]


async def test_201_remote_stop_of_an_unknown_session_is_unsupported() -> None:
    """A session the station has no transaction id for is not sent."""
    outcome = await Calls201(KnownTransactions()).translate("CP", m.RemoteStop(session_id=7))
    assert isinstance(outcome, Unsupported)
    assert "session 7" in outcome.reason


async def test_16_remote_stop_sends_our_session_id() -> None:
    """On 1.6 the transactionId is the session id."""
    call = await Calls16().translate("CP", m.RemoteStop(session_id=42))
    assert isinstance(call, OutgoingCall)
    assert call.request == v16.RemoteStopTransactionRequest(transaction_id=42)


@pytest.mark.parametrize(("kind", "expected"), [("soft", "OnIdle"), ("hard", "Immediate")])
async def test_201_reset_kinds(kind: str, expected: str) -> None:
    """Soft reset is OnIdle, hard is Immediate."""
    call = await Calls201(KnownTransactions()).translate("CP", m.Reset(kind=kind))  # type: ignore[arg-type]
    assert isinstance(call, OutgoingCall)
    assert call.request.type == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("id_tag", "expected"),
    [("04A1B2C3", "ISO14443"), ("04A1B2C3D4E5F6", "ISO14443"), ("app-user-17", "Central")],
)
def test_201_id_token_type(id_tag: str, expected: str) -> None:
    """UID-like tags are ISO14443 tokens, anything else Central."""
    assert id_token_type(id_tag) == expected


async def test_201_get_diagnostics_is_get_log_of_a_diagnostics_log() -> None:
    """GetDiagnostics on 2.0.1 is GetLog(DiagnosticsLog), and the answer
    carries the request id it was sent with."""
    call = await Calls201(KnownTransactions()).translate(
        "CP", m.GetDiagnostics(location="https://x/up")
    )
    assert isinstance(call, OutgoingCall)
    assert call.action == "GetLog"
    assert call.request.log_type == "DiagnosticsLog"  # type: ignore[attr-defined]
    answer = call.read(v201.GetLogResponse(status="Accepted", filename="d.log"))
    assert answer == Answered(
        status="Accepted",
        data={"filename": "d.log", "request_id": call.request.request_id},  # type: ignore[attr-defined]
    )


async def test_16_get_configuration_answer_is_plain_data() -> None:
    """A GetConfiguration answer lists the keys (snake_case) and unknown keys."""
    call = await Calls16().translate("CP", m.GetConfiguration(keys=("A", "B")))
    assert isinstance(call, OutgoingCall)
    answer = call.read(
        v16.GetConfigurationResponse(
            configuration_key=[v16.KeyValue(key="A", readonly=False, value="1")],
            unknown_key=["B"],
        )
    )
    assert answer == Answered(
        status=None,
        data={
            "configuration": [{"key": "A", "readonly": False, "value": "1"}],
            "unknown_keys": ["B"],
        },
    )


def test_commands_cross_the_bus_unchanged() -> None:
    """Every command encodes to JSON and decodes as the Command union to itself."""
    for command in EVERY_COMMAND:
        data = msgspec.json.encode(command)
        assert msgspec.json.decode(data, type=m.Command) == command
