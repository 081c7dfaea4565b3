"""Hostile input on OCPP sockets (issue 14): values the database cannot hold,
frames that would poison a group commit, deep nesting, forged log lines and
protocol edge cases. Every test runs against a real node over websockets, on
SQLite and (CSMS_DATABASE_URL=postgresql://...) on PostgreSQL, where NUL and
over-long text are refused by the database itself."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from csms.bootstrap import Node
from csms.storage.stations import PiccoloStationAdmin
from tests.e2e.conftest import ocpp_url

NOW = "2026-11-22T10:00:00Z"
NUL = "\u0000"


async def _exchange(ws: ClientConnection, frame: str) -> list[Any]:
    await ws.send(frame)
    answer = json.loads(await ws.recv())
    assert isinstance(answer, list)
    return answer


async def _still_alive(ws: ClientConnection) -> None:
    answer = await _exchange(ws, json.dumps([2, "alive", "Heartbeat", {}]))
    assert answer[:2] == [3, "alive"]


@pytest.fixture
async def socket16(node: Node) -> AsyncIterator[ClientConnection]:
    await PiccoloStationAdmin().add("CP-HOSTILE")
    async with connect(f"{ocpp_url(node)}/CP-HOSTILE", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        yield ws


@pytest.fixture
async def socket201(node: Node) -> AsyncIterator[ClientConnection]:
    await PiccoloStationAdmin().add("CS-HOSTILE")
    async with connect(f"{ocpp_url(node)}/CS-HOSTILE", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        yield ws


def _start16(**fields: Any) -> dict[str, Any]:
    return {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": NOW, **fields}


# -- item 3: values the database cannot hold ---------------------------------

UNSTORABLE_16 = [
    ("StartTransaction", _start16(meterStart=9223372036854775808)),
    ("StartTransaction", _start16(connectorId=2**31)),
    ("StartTransaction", _start16(timestamp="9999-12-31T23:59:59-14:00")),
    ("StartTransaction", _start16(timestamp="0001-01-01T00:00:00+14:00")),
    ("StartTransaction", _start16(idTag="A" + NUL)),
    ("Authorize", {"idTag": NUL}),
    ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M" + NUL}),
    (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": "x" + NUL},
    ),
    (
        "StatusNotification",
        {"connectorId": 2**31, "errorCode": "NoError", "status": "Available"},
    ),
    (
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "12" + NUL}]}],
        },
    ),
    (
        "StopTransaction",
        {"transactionId": 1, "meterStop": -(2**63) - 1, "timestamp": NOW},
    ),
]


@pytest.mark.parametrize(("action", "payload"), UNSTORABLE_16)
async def test_16_unstorable_value_is_a_property_constraint_violation(
    socket16: ClientConnection, action: str, payload: dict[str, Any]
) -> None:
    """A 1.6 value the schema allows but storage cannot hold (an integer
    beyond its column, a date-time that leaves the years 1..9999 in UTC, NUL
    in a string) is answered PropertyConstraintViolation, not InternalError,
    and the socket keeps serving."""
    answer = await _exchange(socket16, json.dumps([2, "u1", action, payload]))
    assert answer[:3] == [4, "u1", "PropertyConstraintViolation"], answer
    assert answer[4]["keyword"] == "storable"
    await _still_alive(socket16)


def _event201(**fields: Any) -> dict[str, Any]:
    return {
        "eventType": "Started",
        "timestamp": NOW,
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-1"},
        **fields,
    }


UNSTORABLE_201 = [
    (
        "BootNotification",
        {"chargingStation": {"model": "M" + NUL, "vendorName": "V"}, "reason": "PowerUp"},
    ),
    (
        "StatusNotification",
        {"timestamp": NOW, "connectorStatus": "Available", "evseId": 2**31, "connectorId": 1},
    ),
    (
        "StatusNotification",
        {
            "timestamp": "9999-12-31T23:59:59-14:00",
            "connectorStatus": "Available",
            "evseId": 1,
            "connectorId": 1,
        },
    ),
    ("TransactionEvent", _event201(evse={"id": 2**31})),
    ("TransactionEvent", _event201(seqNo=2**31)),
    ("TransactionEvent", _event201(timestamp="0001-01-01T00:00:00+14:00")),
    ("TransactionEvent", _event201(idToken={"idToken": "A" + NUL, "type": "ISO14443"})),
    ("Authorize", {"idToken": {"idToken": NUL, "type": "ISO14443"}}),
    (
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": NOW,
                    "sampledValue": [{"value": 1.0, "unitOfMeasure": {"unit": "W" + NUL}}],
                }
            ],
        },
    ),
]


@pytest.mark.parametrize(("action", "payload"), UNSTORABLE_201)
async def test_201_unstorable_value_is_a_property_constraint_violation(
    socket201: ClientConnection, action: str, payload: dict[str, Any]
) -> None:
    """The same for 2.0.1 (evseId 2^31, a seqNo beyond 32 bits, date-times
    out of range, NUL in model, idToken or a unit): PropertyConstraintViolation,
    and the socket keeps serving."""
    answer = await _exchange(socket201, json.dumps([2, "u2", action, payload]))
    assert answer[:3] == [4, "u2", "PropertyConstraintViolation"], answer
    await _still_alive(socket201)


async def test_largest_storable_values_are_accepted(socket16: ClientConnection) -> None:
    """The edges themselves are stored: meterStart 2^63-1, connectorId 2^31-1
    and a date-time at the last second of year 9999 in UTC are accepted."""
    answer = await _exchange(
        socket16,
        json.dumps(
            [
                2,
                "edge",
                "StartTransaction",
                _start16(
                    meterStart=2**63 - 1, connectorId=2**31 - 1, timestamp="9999-12-31T23:59:59Z"
                ),
            ]
        ),
    )
    assert answer[0] == 3, answer
    assert answer[2]["idTagInfo"]["status"]


async def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# -- item 2: one frame never poisons a group commit -------------------------


async def test_hostile_frames_do_not_fail_their_neighbours_commit(node: Node) -> None:
    """A text frame "\\x00" (FormationViolation), an action name of 100
    characters (NotImplemented) and a message id of 100 characters
    (ProtocolError) each write a message-log row the database can hold (NUL
    escaped, id and action cut to their 64-character columns), so the calls
    of another charger committed beside them are stored, and so are those
    rows (on PostgreSQL the NUL or the long text failed the whole batch)."""
    admin = PiccoloStationAdmin()
    await admin.add("CP-POISON")
    await admin.add("CP-NEIGHBOUR")
    long_action = "A" * 100
    long_id = "i" * 100
    async with (
        connect(f"{ocpp_url(node)}/CP-POISON", subprotocols=["ocpp1.6"]) as bad,  # type: ignore[list-item]
        connect(f"{ocpp_url(node)}/CP-NEIGHBOUR", subprotocols=["ocpp1.6"]) as good,  # type: ignore[list-item]
    ):
        for frame in (
            "\x00",
            json.dumps([2, "p2", long_action, {}]),
            f'[2, "{long_id}", "X", {{}}]',
        ):
            await bad.send(frame)
        starts = [
            json.dumps([2, f"s{i}", "StartTransaction", _start16(idTag=f"N{i}", connectorId=i)])
            for i in range(1, 6)
        ]
        for frame in starts:
            await good.send(frame)
        answers = [json.loads(await bad.recv()) for _ in range(3)]
        started = [json.loads(await good.recv()) for _ in starts]
    assert [a[2] for a in answers] == ["FormationViolation", "NotImplemented", "ProtocolError"]
    assert all(a[0] == 3 for a in started), started

    from csms.tables import ChargingSession, OcppMessage, Station

    station = await Station.select(Station.id).where(Station.charge_point_id == "CP-POISON").first()
    assert station is not None

    async def logged() -> bool:
        rows = await OcppMessage.select().where(OcppMessage.station == station["id"]).run()
        return len(rows) >= 4

    await _wait_for(logged)
    rows = await OcppMessage.select().where(OcppMessage.station == station["id"]).run()
    payloads = [r["payload"] for r in rows]
    assert "\\u0000" in payloads
    assert all("\x00" not in p for p in payloads)
    assert {r["action"] for r in rows} >= {"A" * 64}
    assert all(len(r["unique_id"]) <= 64 and len(r["action"]) <= 64 for r in rows)
    assert await ChargingSession.count().run() == 5


# -- item 4: deep nesting ------------------------------------------------------

DEEP = 986
NESTED_FRAMES = [
    ("[" * DEEP, "-1"),
    ("[" * DEEP + "]" * DEEP, "-1"),
    ('[2, "n1", "Heartbeat", ' + "[" * DEEP + "]" * DEEP + "]", "n1"),
    ('[2, "n2", "DataTransfer", ' + '{"a":' * DEEP + "1" + "}" * DEEP + "]", "n2"),
    ('[2, "n3", "Authorize", {"idTag": ' + "[" * DEEP + "]" * DEEP + "}]", "n3"),
    ('[2, "n4", "StartTransaction", ' + '{"a":' * 20000 + "1" + "}" * 20000 + "]", "n4"),
]


@pytest.mark.parametrize(("frame", "message_id"), NESTED_FRAMES)
async def test_16_deep_nesting_is_a_callerror_and_the_connection_lives(
    socket16: ClientConnection, frame: str, message_id: str
) -> None:
    """Arrays or objects nested ~1,000 (or 20,000) deep, as the frame or as
    its payload, are answered with a CALLERROR (the message id when it can be
    read, else "-1"), not a close with 1011, and the socket keeps serving."""
    answer = await _exchange(socket16, frame)
    assert answer[0] == 4 and answer[1] == message_id, answer
    assert answer[2] in ("FormationViolation", "ProtocolError", "TypeConstraintViolation")
    await _still_alive(socket16)


@pytest.mark.parametrize(("frame", "message_id"), NESTED_FRAMES)
async def test_201_deep_nesting_is_a_callerror_and_the_connection_lives(
    socket201: ClientConnection, frame: str, message_id: str
) -> None:
    """The same on a 2.0.1 socket (DataTransfer's data is anyType there, so a
    deep value reaches the payload's own decoding)."""
    frame = frame.replace('"idTag": ', '"idToken": ')
    answer = await _exchange(socket201, frame)
    assert answer[0] == 4 and answer[1] == message_id, answer
    assert answer[2] in (
        "FormatViolation",
        "RpcFrameworkError",
        "TypeConstraintViolation",
        "PropertyConstraintViolation",
        "OccurrenceConstraintViolation",
    )
    await _still_alive(socket201)


# -- item 9a: an Ended always ends the session --------------------------------


def _energy(wh: int, timestamp: str, context: str) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": timestamp,
            "sampledValue": [
                {
                    "value": wh,
                    "context": context,
                    "measurand": "Energy.Active.Import.Register",
                    "unitOfMeasure": {"unit": "Wh"},
                }
            ],
        }
    ]


async def test_ended_with_a_seq_no_not_above_the_last_ends_the_session(
    socket201: ClientConnection,
) -> None:
    """Firmware that sends seqNo 0 on every TransactionEvent: the Ended still
    ends the session with the charger's 303 Wh (it was acknowledged and
    dropped, the session left open); the Updated's reading is kept; and the
    Ended sent again (a retransmission) changes nothing."""
    from csms.tables import ChargingSession, MeterValue

    def event(kind: str, timestamp: str, context: str, wh: int, **more: Any) -> str:
        payload = _event201(
            eventType=kind,
            timestamp=timestamp,
            seqNo=0,
            triggerReason="MeterValuePeriodic" if kind == "Updated" else "Authorized",
            transactionInfo={"transactionId": "tx-zero", **more.pop("info", {})},
            evse={"id": 1, "connectorId": 1},
            meterValue=_energy(wh, timestamp, context),
            **more,
        )
        return json.dumps([2, f"{kind}-{timestamp}", "TransactionEvent", payload])

    frames = [
        event("Started", "2026-11-22T10:00:00Z", "Transaction.Begin", 1000),
        event("Updated", "2026-11-22T10:10:00Z", "Sample.Periodic", 1150),
        event(
            "Ended",
            "2026-11-22T10:20:00Z",
            "Transaction.End",
            1303,
            info={"stoppedReason": "EVDisconnected"},
        ),
    ]
    for frame in frames:
        answer = await _exchange(socket201, frame)
        assert answer[0] == 3, answer
    sessions = await ChargingSession.select().where(
        ChargingSession.charger_transaction_id == "tx-zero"
    )
    assert len(sessions) == 1
    session = sessions[0]
    assert session["status"] == "completed"
    assert session["meter_start_wh"] == 1000
    assert session["meter_stop_wh"] == 1303
    assert session["stop_reason"] == "EVDisconnected"
    readings = await MeterValue.select(MeterValue.value).where(MeterValue.session == session["id"])
    assert sorted(float(r["value"]) for r in readings) == [1000, 1150, 1303]

    # The same Ended again: the very same event, nothing changes.
    answer = await _exchange(socket201, frames[2].replace("Ended-", "again-"))
    assert answer[0] == 3
    again = await ChargingSession.select().where(ChargingSession.id == session["id"]).first()
    assert again is not None
    assert (again["stopped_at"], again["meter_stop_wh"]) == (
        session["stopped_at"],
        session["meter_stop_wh"],
    )
    assert await MeterValue.count().where(MeterValue.session == session["id"]) == 3


# -- item 9b: a 1.6 remote stop only for the station's active session --------


async def test_16_remote_stop_of_a_session_not_the_stations_active_one_is_422(
    node: Node,
) -> None:
    """A 1.6 remote stop naming a session that does not exist, another
    station's session or a completed one of its own is 422 ``unsupported``
    with the reason, and nothing is sent to the charger (it was sent for any
    id, as 2.0.1 never did); the station's active session is still stopped."""
    from tests.e2e.test_remote_commands_v16 import world

    async with world(node, "CP-STOP-A") as a, world(node, "CP-STOP-B") as b:
        other = await b.cp.start_transaction(1, id_tag="B-TAG")
        done = await a.cp.start_transaction(1, id_tag="A-TAG")
        await a.cp.stop_transaction(done.transaction_id, 10)
        active = await a.cp.start_transaction(2, id_tag="A-TAG")
        for session_id, reason in (
            (999_999, "no transaction of station"),
            (2**31 - 1, "no transaction of station"),
            (other.transaction_id, "no transaction of station"),
            (done.transaction_id, "completed"),
        ):
            response = await a.command("remote-stop", {"session_id": session_id})
            assert response.status_code == 422, (session_id, response.text)
            body = response.json()
            assert body["result"] == "unsupported" and reason in body["reason"], body
        stopped = await a.answered("remote-stop", {"session_id": active.transaction_id})
        assert stopped["status"] == "Accepted"


# -- item 9c: charge point ids limited to OCPP's characters -----------------

REFUSED_IDS = ["..", ".", "%25", "%3Cscript%3E", "%F0%9F%94%8C", "a%20b", "A" * 49, "a%3Ab"]


@pytest.mark.parametrize("path_id", REFUSED_IDS)
async def test_id_outside_ocpp_characters_is_refused_in_accept_mode(
    start_node: Any, path_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With CSMS_UNKNOWN_STATIONS=accept, an id that is not 1..48 characters
    of OCPP's identifierString (``..``, ``%``, ``<script>``, an emoji, a
    blank, 49 characters, a colon) is refused at the handshake with HTTP 400
    and a log line, and no station is registered."""
    from websockets.exceptions import InvalidStatus

    from csms.tables import Station

    node = await start_node(unknown_stations="accept")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{ocpp_url(node)}/{path_id}", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 400
    assert await Station.count() == 0
    assert any("refused" in r.getMessage() for r in caplog.records)


async def test_id_of_ocpp_characters_is_registered_in_accept_mode(start_node: Any) -> None:
    """An id of the allowed characters (48 of them) is still registered."""
    from csms.tables import Station

    node = await start_node(unknown_stations="accept")
    name = "DE*ABC-E_1=2+3|4@5." + "x" * 29
    async with connect(f"{ocpp_url(node)}/{name}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await _still_alive(ws)
    assert await Station.exists().where(Station.charge_point_id == name)


def test_station_add_refuses_ids_outside_ocpp_characters(db: None) -> None:
    """``csms station add`` refuses the same ids (exit 1, with the reason)."""
    from tests.e2e.test_cli import csms

    for bad in ("..", "<script>", "\U0001f50c", "%", "A" * 49):
        result = csms("station", "add", bad)
        assert result.returncode == 1, (bad, result.stdout)
        assert "charge point id" in result.stderr
    assert csms("station", "add", "CP-OK.1").returncode == 0


# -- item 8: no forged log lines -----------------------------------------------


def _no_forged_lines(caplog: pytest.LogCaptureFixture, marker: str) -> None:
    """Every log record is one line, and the charger's text is in it (escaped)."""
    messages = [r.getMessage() for r in caplog.records]
    assert any(marker in m for m in messages), messages
    forged = [m for m in messages if "\n" in m or "\r" in m]
    assert not forged, forged


async def test_charge_point_id_with_cr_lf_writes_no_forged_log_line(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    """``/ocpp/a%0d%0aX-Injected:%201`` is refused, and its log line shows the
    id escaped on one line (it wrote a forged "X-Injected: 1" line)."""
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus):
        async with connect(f"{ocpp_url(node)}/a%0d%0aX-Injected:%201", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass
    _no_forged_lines(caplog, "X-Injected")


async def test_charger_text_in_log_lines_is_escaped(
    socket16: ClientConnection, socket201: ClientConnection, caplog: pytest.LogCaptureFixture
) -> None:
    """A message id, a transaction id and a close reason with CR/LF, all the
    charger's text, are logged escaped on one line each."""
    caplog.set_level(logging.INFO)
    await socket16.send(json.dumps([3, "id\r\nX-Injected: 1", {}]))
    await _still_alive(socket16)
    payload = _event201(eventType="Updated", transactionInfo={"transactionId": "t\nX-Injected: 2"})
    answer = await _exchange(socket201, json.dumps([2, "e1", "TransactionEvent", payload]))
    assert answer[0] == 3, answer
    await socket201.close(1000, "bye\nX-Injected: 3")

    async def closed_logged() -> bool:
        return "X-Injected: 3" in caplog.text

    await _wait_for(closed_logged)
    for number in (1, 2, 3):
        _no_forged_lines(caplog, f"X-Injected: {number}")


async def test_sql_sink_and_memory_twin_agree_on_late_events(db: None) -> None:
    """Both write sinks: an Updated not above the last seqNo is a repeat (its
    sample still kept), an Ended not above it completes the open session
    with its reading, and that Ended again is a repeat."""
    from datetime import UTC, datetime, timedelta

    from csms.domain.model import Sample
    from csms.domain.writes import StoreNewStation, StoreTransactionEvent, WriteGroup
    from csms.storage.database import current_engine
    from csms.storage.memory import MemoryStore, MemoryWriteSink
    from csms.storage.writes import PiccoloWriteSink
    from csms.tables import ChargingSession, MeterValue

    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

    def event(kind: str, minutes: int, wh: int) -> WriteGroup:
        at = t0 + timedelta(minutes=minutes)
        return WriteGroup(
            (
                StoreTransactionEvent(
                    station_pk=1,
                    charger_transaction_id="tx",
                    event_type=kind,
                    seq_no=0,
                    timestamp=at,
                    received_at=at,
                    connector_id=1,
                    begin=(at, wh) if kind == "Started" else None,
                    meter_stop_wh=wh if kind == "Ended" else None,
                    samples=(Sample(sampled_at=at, value=str(wh), unit="Wh"),),
                ),
            )
        )

    batches = [
        [WriteGroup((StoreNewStation("CP-1", "Accepted", t0),))],
        [event("Started", 0, 1000)],
        [event("Updated", 10, 1150)],
        [event("Ended", 20, 1303)],
        [event("Ended", 20, 1303)],
    ]
    sql = PiccoloWriteSink(current_engine())
    memory = MemoryWriteSink(MemoryStore())
    try:
        expected = [await sql.apply(batch) for batch in batches]
    finally:
        await sql.close()
    assert [await memory.apply(batch) for batch in batches] == expected
    repeated = [result[0][0].repeated for result in expected[1:]]  # type: ignore[union-attr]
    assert repeated == [False, True, False, True]
    row = await ChargingSession.select().first()
    assert row is not None and (row["status"], row["meter_stop_wh"]) == ("completed", 1303)
    assert await MeterValue.count() == 3
    (session,) = memory.store.sessions.values()
    assert (session.status, session.meter_stop_wh) == ("completed", 1303)


async def test_security_event_text_is_logged_escaped(
    socket16: ClientConnection, caplog: pytest.LogCaptureFixture
) -> None:
    """A 1.6 SecurityEventNotification whose type and techInfo carry CR/LF is
    logged on one line."""
    caplog.set_level(logging.INFO)
    payload = {"type": "X\nX-Injected: 4", "timestamp": NOW, "techInfo": "t\r\nX-Injected: 5"}
    answer = await _exchange(socket16, json.dumps([2, "s1", "SecurityEventNotification", payload]))
    assert answer[0] == 3, answer
    for number in (4, 5):
        _no_forged_lines(caplog, f"X-Injected: {number}")


# -- found by the fuzzer (tests/e2e/test_ocpp_fuzz.py) -----------------------

SURROGATE_FRAMES = [
    '[2, "s1", "Authorize", "\\ud800"]',
    '[2, "s1", "Authorize", {"idTag": "a\\udfffb"}]',
    '[2, "s1", "Heartbeat", {"x": ["\\udc00\\ud800"]}]',
]


@pytest.mark.parametrize("frame", SURROGATE_FRAMES)
async def test_lone_surrogate_escape_is_answered_with_the_message_id(
    socket16: ClientConnection, socket201: ClientConnection, frame: str
) -> None:
    """A CALL whose payload has a lone surrogate escape (JSON by RFC 8259,
    refused by the decoder) is answered FormationViolation/FormatViolation
    with its message id, not "-1" (found by the fuzzer), on both versions;
    the socket keeps serving."""
    for ws, code in ((socket16, "FormationViolation"), (socket201, "FormatViolation")):
        answer = await _exchange(ws, frame)
        assert answer[:3] == [4, "s1", code], answer
        await _still_alive(ws)


async def test_201_unit_of_twenty_characters_is_stored(socket201: ClientConnection) -> None:
    """A 2.0.1 sample's unitOfMeasure.unit may have 20 characters (the
    schema's maxLength): it is stored as sent. On PostgreSQL its 16-character
    column refused it, so the charger got InternalError (found by the
    fuzzer)."""
    from csms.tables import MeterValue

    unit = "U" * 20
    payload = {
        "evseId": 1,
        "meterValue": [
            {"timestamp": NOW, "sampledValue": [{"value": 1.5, "unitOfMeasure": {"unit": unit}}]}
        ],
    }
    answer = await _exchange(socket201, json.dumps([2, "unit20", "MeterValues", payload]))
    assert answer[:2] == [3, "unit20"], answer
    assert await MeterValue.count().where(MeterValue.unit == unit) == 1


async def test_201_energy_register_beyond_64_bit_wh_is_a_property_constraint_violation(
    socket201: ClientConnection,
) -> None:
    """A TransactionEvent whose energy register is a number the schema allows
    but whose Wh are beyond the 64-bit meter columns (2.96e39) is answered
    PropertyConstraintViolation; on PostgreSQL it failed its batch and was
    answered InternalError (found by the fuzzer)."""
    payload = _event201(meterValue=_energy(1, NOW, "Transaction.Begin"))
    payload["meterValue"][0]["sampledValue"][0]["value"] = 2.96e39
    answer = await _exchange(socket201, json.dumps([2, "huge", "TransactionEvent", payload]))
    assert answer[:3] == [4, "huge", "PropertyConstraintViolation"], answer
    await _still_alive(socket201)


async def test_201_a_register_multiplier_no_decimal_holds_is_not_an_internal_error(
    socket201: ClientConnection,
) -> None:
    """A 2.0.1 energy register whose multiplier is beyond any decimal
    exponent (found by the fuzzer: ``Decimal.scaleb`` raised and the call was
    answered InternalError) is not read as a register and the call is
    answered; one whose multiplier makes it merely vast is refused as not
    storable; the connection lives on."""
    for unique_id, multiplier, expected in (
        ("exp", 2_000_000_000, 3),
        ("vast", 40, 4),
    ):
        payload = _event201(meterValue=_energy(1, NOW, "Transaction.Begin"))
        sampled = payload["meterValue"][0]["sampledValue"][0]
        sampled["unitOfMeasure"] = {"unit": "Wh", "multiplier": multiplier}
        frame = json.dumps([2, unique_id, "TransactionEvent", payload])
        answer = await _exchange(socket201, frame)
        assert answer[:2] == [expected, unique_id], answer
        if expected == 4:
            assert answer[2] == "PropertyConstraintViolation", answer
    await _still_alive(socket201)
