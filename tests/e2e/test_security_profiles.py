"""OCPP security profiles 2 and 3, certificates, basic-auth secrets and
security events, against a real node with real TLS sockets and
certificates made in the test."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from csms.bootstrap import Node
from csms.domain.credentials import hash_secret
from csms.gateway.tls import server_context
from csms.storage.security import PiccoloSecurityStore
from csms.storage.stations import PiccoloStationAdmin
from tests.e2e.conftest import StartNode
from tests.e2e.pki import Issued, TestCA, csr, make_pki
from tests.world import admin_token, bearer, make_entity

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    return make_pki(tmp_path)


@pytest.fixture
async def tls_node(start_node: StartNode, pki: dict[str, Any]) -> Node:
    ca: TestCA = pki["ca"]
    server: Issued = pki["server"]
    return await start_node(
        ocpp_tls_cert=str(server.cert),
        ocpp_tls_key=str(server.key),
        ocpp_tls_client_ca=str(ca.cert_file),
        ocpp_tls_port=0,
        ca_cert=str(ca.cert_file),
        ca_key=str(ca.key_file),
    )


async def add_station(cp: str, *, profile: int = 1, secret: str | None = SECRET) -> int:
    view = await PiccoloStationAdmin().add(cp, secret_hash=hash_secret(secret) if secret else "")
    assert view is not None
    pk = await station_pk(cp)
    await PiccoloSecurityStore().store_profile(pk, profile)
    return pk


async def station_pk(cp: str) -> int:
    from csms.tables import Station

    row = await Station.select(Station.id).where(Station.charge_point_id == cp).first().run()
    assert row is not None
    return int(row["id"])


def client_tls(pki: dict[str, Any], certificate: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca"].cert_file))
    if certificate is not None:
        context.load_cert_chain(str(certificate.cert), str(certificate.key))
    return context


def basic(cp: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{cp}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class RawStation:
    """A charge point speaking OCPP-J frames directly: calls it makes,
    and calls the CSMS makes to it, queued for the test to answer."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.answers: dict[str, asyncio.Future[Any]] = {}
        self.incoming: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.socket:
            message = json.loads(frame)
            if message[0] == 2:
                await self.incoming.put((message[1], message[2], message[3]))
            elif message[1] in self.answers:
                self.answers.pop(message[1]).set_result(message)

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        unique_id = f"t{next(self.ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.answers[unique_id] = future
        await self.socket.send(json.dumps([2, unique_id, action, payload]))
        answer = await future
        assert answer[0] == 3, answer
        return answer[2]

    async def next_call(self) -> tuple[str, str, dict[str, Any]]:
        return await self.incoming.get()

    async def reply(self, unique_id: str, payload: dict[str, Any]) -> None:
        await self.socket.send(json.dumps([3, unique_id, payload]))

    async def boot(self) -> str:
        answer = await self.call(
            "BootNotification", {"chargePointVendor": "Test", "chargePointModel": "TLS"}
        )
        return str(answer["status"])

    async def close(self) -> None:
        await self.socket.close()
        self.reader.cancel()


async def with_charger_answer(
    station: RawStation, request: Any, status: str = "Accepted"
) -> tuple[httpx.Response, str, dict[str, Any]]:
    """Runs the API ``request`` while the station answers the one call it
    causes with ``status``; the response, the call's action and payload."""

    async def answer() -> tuple[str, dict[str, Any]]:
        unique_id, action, payload = await station.next_call()
        await station.reply(unique_id, {"status": status})
        return action, payload

    charger = asyncio.create_task(answer())
    try:
        response = await request
    finally:
        if not charger.done():
            # An API answer without the call ever reaching the station.
            await asyncio.sleep(0)
    if not charger.done():
        charger.cancel()
        raise AssertionError(f"the station got no call; the API said {response.text}")
    action, payload = await charger
    return response, action, payload


async def with_charger_answers(
    station: RawStation, request: Any, answers: list[dict[str, Any]]
) -> tuple[httpx.Response, list[tuple[str, dict[str, Any]]]]:
    """Runs the API ``request`` while the station answers the calls it
    causes, in order, with ``answers``; the response and the calls."""

    async def answer() -> list[tuple[str, dict[str, Any]]]:
        calls = []
        for payload in answers:
            unique_id, action, sent = await station.next_call()
            await station.reply(unique_id, payload)
            calls.append((action, sent))
        return calls

    charger = asyncio.create_task(answer())
    response = await request
    await asyncio.sleep(0)
    if not charger.done():
        charger.cancel()
        raise AssertionError(f"the station got too few calls; the API said {response.text}")
    return response, await charger


async def open_station(
    url: str,
    headers: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    protocol: str = "ocpp1.6",
) -> RawStation:
    socket = await connect(url, subprotocols=[protocol], additional_headers=headers, ssl=tls)  # type: ignore[list-item]
    return RawStation(socket)


async def refused(
    url: str, headers: dict[str, str] | None = None, tls: ssl.SSLContext | None = None
) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as caught:
        await connect(url, subprotocols=["ocpp1.6"], additional_headers=headers, ssl=tls)  # type: ignore[list-item]
    response = caught.value.response
    return response.status_code, response.body.decode()


def wss(node: Node, cp: str) -> str:
    return f"wss://127.0.0.1:{node.ocpp_tls_port}/ocpp/{cp}"


def ws(node: Node, cp: str) -> str:
    return f"ws://127.0.0.1:{node.ocpp_port}/ocpp/{cp}"


@pytest.fixture
async def api(tls_node: Node) -> AsyncIterator[httpx.AsyncClient]:
    entity = await make_entity("Operator")
    token = await admin_token(entity)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{tls_node.http_port}/api/v1",
        headers=bearer(token),
        timeout=30,
    ) as client:
        yield client


# -- profile 2 -------------------------------------------------------------------------------


async def test_profile2_station_over_wss_with_basic_auth_is_served(
    tls_node: Node, pki: dict[str, Any]
) -> None:
    """A profile-2 station connecting over TLS with its basic-auth secret is
    admitted and its BootNotification answered."""
    await add_station("CP-2", profile=2)
    station = await open_station(wss(tls_node, "CP-2"), basic("CP-2", SECRET), client_tls(pki))
    try:
        assert await station.boot() == "Accepted"
    finally:
        await station.close()


async def test_profile2_station_on_plain_ws_is_refused(tls_node: Node) -> None:
    """A profile-2 station on the plain ws port is refused with 403, even
    with the right secret, and counted by reason in the metrics."""
    await add_station("CP-2", profile=2)
    status, body = await refused(ws(tls_node, "CP-2"), basic("CP-2", SECRET))
    assert status == 403
    assert "requires TLS" in body
    assert (
        'csms_ocpp_handshakes_refused_total{reason="tls_required"} 1.0'
        in tls_node.metrics.exposition().decode()
    )


async def test_profile2_station_over_wss_without_credentials_gets_401(
    tls_node: Node, pki: dict[str, Any]
) -> None:
    """TLS alone is not enough for profile 2: no basic auth is 401."""
    await add_station("CP-2", profile=2)
    status, _ = await refused(wss(tls_node, "CP-2"), None, client_tls(pki))
    assert status == 401


# -- profile 3 -------------------------------------------------------------------------------


async def test_profile3_station_with_its_bound_certificate_is_served(
    tls_node: Node, pki: dict[str, Any]
) -> None:
    """A profile-3 station presenting a certificate of the CSMS's CA whose CN
    is its charge point id is admitted without basic auth."""
    await add_station("CP-3", profile=3)
    station = await open_station(wss(tls_node, "CP-3"), None, client_tls(pki, pki["good"]))
    try:
        assert await station.boot() == "Accepted"
    finally:
        await station.close()


async def test_profile3_certificate_of_another_station_is_refused(
    tls_node: Node, pki: dict[str, Any]
) -> None:
    """A valid client certificate whose CN names another station is refused
    (403): the certificate is bound to the identity in the URL."""
    await add_station("CP-3", profile=3)
    status, body = await refused(wss(tls_node, "CP-3"), None, client_tls(pki, pki["wrong_cn"]))
    assert status == 403
    assert "subject CN" in body


async def test_profile3_without_certificate_is_refused(tls_node: Node, pki: dict[str, Any]) -> None:
    """A profile-3 station without a client certificate is refused (403),
    even with the right basic-auth secret."""
    await add_station("CP-3", profile=3)
    status, body = await refused(wss(tls_node, "CP-3"), basic("CP-3", SECRET), client_tls(pki))
    assert status == 403
    assert "client certificate" in body


async def test_profile3_certificate_of_another_ca_fails_the_tls_handshake(
    tls_node: Node, pki: dict[str, Any]
) -> None:
    """A client certificate that does not chain to the configured client CA
    ends the TLS handshake; no websocket is opened."""
    await add_station("CP-3", profile=3)
    # The same client with the station's own certificate connects.
    good = await open_station(wss(tls_node, "CP-3"), None, client_tls(pki, pki["good"]))
    await good.close()
    # With TLS 1.2 the server ends the handshake (the client sees the alert
    # or the reset that follows it).
    tls = client_tls(pki, pki["other_ca"])
    tls.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await connect(wss(tls_node, "CP-3"), subprotocols=["ocpp1.6"], ssl=tls)  # type: ignore[list-item]
    # With TLS 1.3 the client's side of the handshake is done before the
    # server checks: the connection ends before any HTTP answer.
    with pytest.raises(InvalidMessage):
        await connect(
            wss(tls_node, "CP-3"),
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            ssl=client_tls(pki, pki["other_ca"]),
        )


async def test_tls_listener_speaks_tls_1_2_and_nothing_older(
    tls_node: Node, pki: dict[str, Any]
) -> None:
    """A client capped at TLS 1.2 connects to the wss listener, whose
    context refuses anything older than 1.2 (OpenSSL's own defaults refuse
    1.0/1.1 on this host already, so the setting is checked directly)."""
    await add_station("CP-1", profile=1, secret=None)
    capped = client_tls(pki)
    capped.maximum_version = ssl.TLSVersion.TLSv1_2
    station = await open_station(wss(tls_node, "CP-1"), None, capped)
    try:
        assert await station.boot() == "Accepted"
    finally:
        await station.close()
    server: Issued = pki["server"]
    context = server_context(str(server.cert), str(server.key))
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2


# -- certificates --------------------------------------------------------------------------


async def test_sign_certificate_sends_back_a_chain_from_the_ca(
    tls_node: Node, pki: dict[str, Any]
) -> None:
    """SignCertificate with a CSR for the station's own id is Accepted, and
    the station then receives CertificateSigned with a certificate for that
    id issued by the configured CA, followed by the CA's certificate."""
    await add_station("CP-1", profile=1)
    station = await open_station(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    try:
        assert await station.boot() == "Accepted"
        assert await station.call("SignCertificate", {"csr": csr("CP-1")}) == {"status": "Accepted"}
        unique_id, action, payload = await station.next_call()
        await station.reply(unique_id, {"status": "Accepted"})
    finally:
        await station.close()
    assert action == "CertificateSigned"
    leaf, issuer = x509.load_pem_x509_certificates(payload["certificateChain"].encode())
    ca: x509.Certificate = pki["ca"].certificate
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-1"
    assert leaf.issuer == ca.subject and issuer == ca
    leaf.verify_directly_issued_by(ca)


async def test_sign_certificate_for_another_identity_is_rejected(
    tls_node: Node, pki: dict[str, Any]
) -> None:
    """A CSR whose subject CN is not the station's charge point id is
    Rejected, and nothing is sent afterwards."""
    await add_station("CP-1", profile=1)
    station = await open_station(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    try:
        assert await station.boot() == "Accepted"
        answer = await station.call("SignCertificate", {"csr": csr("CP-SOMEONE-ELSE")})
        # A Heartbeat answered after it shows nothing was queued in between.
        await station.call("Heartbeat", {})
        assert station.incoming.empty()
    finally:
        await station.close()
    assert answer == {"status": "Rejected"}


async def test_install_certificate_sends_the_csms_root(
    tls_node: Node, pki: dict[str, Any], api: httpx.AsyncClient
) -> None:
    """POST /stations/{id}/certificates without a certificate installs the
    CSMS CA's own certificate as the 1.6 CentralSystemRootCertificate, and
    the charger's answer comes back."""
    pk = await add_station("CP-1", profile=1)
    station = await open_station(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    try:
        assert await station.boot() == "Accepted"

        response, action, payload = await with_charger_answer(
            station, api.post(f"/stations/{pk}/certificates", json={})
        )
    finally:
        await station.close()
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == {"result": "answered", "status": "Accepted", "data": {}}
    assert action == "InstallCertificate"
    assert payload["certificateType"] == "CentralSystemRootCertificate"
    assert x509.load_pem_x509_certificate(payload["certificate"].encode()) == pki["ca"].certificate


# -- basic-auth secret ------------------------------------------------------------------------


async def test_new_secret_is_admitted_and_the_old_one_until_the_station_used_the_new(
    tls_node: Node, api: httpx.AsyncClient
) -> None:
    """POST .../security/basic-auth sends AuthorizationKey (the hex of a new
    secret); once accepted the answer shows the secret once, the old secret
    still connects until the station has connected with the new one, then
    only the new one does."""
    pk = await add_station("CP-1", profile=1)
    station = await open_station(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    try:
        assert await station.boot() == "Accepted"

        response, action, sent = await with_charger_answer(
            station, api.post(f"/stations/{pk}/security/basic-auth", json={})
        )
    finally:
        await station.close()
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["stored"] is True
    new = result["secret"]
    assert action == "ChangeConfiguration" and sent["key"] == "AuthorizationKey"
    assert bytes.fromhex(sent["value"]).decode() == new
    assert 16 <= len(new) <= 20

    old_again = await open_station(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    await old_again.close()
    with_new = await open_station(ws(tls_node, "CP-1"), basic("CP-1", new))
    await with_new.close()
    status, _ = await refused(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    assert status == 401
    state = (await api.get(f"/stations/{pk}/security")).json()
    assert state["has_secret"] is True and state["previous_secret_admitted"] is False


async def test_refused_secret_keeps_the_old_one(tls_node: Node, api: httpx.AsyncClient) -> None:
    """A station that rejects the new secret keeps its old one, and the
    answer shows no secret."""
    pk = await add_station("CP-1", profile=1)
    station = await open_station(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    try:
        assert await station.boot() == "Accepted"

        response, _, _ = await with_charger_answer(
            station,
            api.post(f"/stations/{pk}/security/basic-auth", json={"secret": "another-secret-123"}),
            "Rejected",
        )
    finally:
        await station.close()
    result = response.json()
    assert result["stored"] is False and result["secret"] is None
    status, _ = await refused(ws(tls_node, "CP-1"), basic("CP-1", "another-secret-123"))
    assert status == 401
    again = await open_station(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    await again.close()


# -- raising the profile -------------------------------------------------------------------


async def test_raising_the_profile_moves_the_station_to_wss(
    tls_node: Node, pki: dict[str, Any], api: httpx.AsyncClient
) -> None:
    """POST .../security/profile {"profile": 2} sends ChangeConfiguration
    SecurityProfile 2; once accepted the station is refused on ws and
    admitted over wss with its secret."""
    pk = await add_station("CP-1", profile=1)
    station = await open_station(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    try:
        assert await station.boot() == "Accepted"

        response, action, sent = await with_charger_answer(
            station, api.post(f"/stations/{pk}/security/profile", json={"profile": 2})
        )
    finally:
        await station.close()
    assert response.status_code == 200, response.text
    assert response.json()["stored"] is True
    assert (action, sent) == ("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"})
    status, _ = await refused(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    assert status == 403
    secure = await open_station(wss(tls_node, "CP-1"), basic("CP-1", SECRET), client_tls(pki))
    await secure.close()


async def test_lowering_the_profile_by_command_is_refused(
    tls_node: Node, api: httpx.AsyncClient
) -> None:
    """The command path only raises: asking a profile-2 station for 1 is 400
    and nothing is stored; the operator's direct PUT may lower it."""
    pk = await add_station("CP-1", profile=2)
    response = await api.post(f"/stations/{pk}/security/profile", json={"profile": 1})
    assert response.status_code == 400
    assert "only raise" in response.json()["detail"]
    assert (await api.get(f"/stations/{pk}/security")).json()["security_profile"] == 2
    lowered = await api.put(f"/stations/{pk}/security", json={"security_profile": 1})
    assert lowered.status_code == 200 and lowered.json()["security_profile"] == 1


# -- security events ---------------------------------------------------------------------------


async def test_security_events_are_stored_and_listed(
    tls_node: Node, api: httpx.AsyncClient
) -> None:
    """SecurityEventNotification is answered and stored; the API lists the
    station's events newest first, paginated."""
    pk = await add_station("CP-1", profile=1)
    station = await open_station(ws(tls_node, "CP-1"), basic("CP-1", SECRET))
    try:
        assert await station.boot() == "Accepted"
        for minute, kind in ((1, "FirmwareUpdated"), (2, "TamperDetectionActivated")):
            stamp = datetime(2026, 1, 1, 12, minute, tzinfo=UTC).isoformat()
            answer = await station.call(
                "SecurityEventNotification",
                {"type": kind, "timestamp": stamp, "techInfo": f"info {minute}"},
            )
            assert answer == {}
    finally:
        await station.close()
    page = (await api.get(f"/stations/{pk}/security-events", params={"limit": 1})).json()
    assert page["total"] == 2
    assert [(e["type"], e["tech_info"]) for e in page["items"]] == [
        ("TamperDetectionActivated", "info 2")
    ]
    rest = (await api.get(f"/stations/{pk}/security-events", params={"offset": 1})).json()
    assert [e["type"] for e in rest["items"]] == ["FirmwareUpdated"]


async def test_security_events_of_a_station_out_of_scope_are_not_found(
    tls_node: Node,
) -> None:
    """A user who cannot see a station gets 404 for its security events."""
    from tests.world import make_group, make_user, token_for

    pk = await add_station("CP-1", profile=1)
    owner = await make_entity("Owner")
    await PiccoloStationAdmin().update("CP-1", owner_entity=owner)
    stranger_entity = await make_entity("Stranger")
    group = await make_group(stranger_entity, scope="own", permissions=("*",))
    user = await make_user([stranger_entity], [group])
    token = await token_for(user, stranger_entity)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{tls_node.http_port}/api/v1", headers=bearer(token)
    ) as client:
        response = await client.get(f"/stations/{pk}/security-events")
    assert response.status_code == 404


async def test_commands_need_the_command_permission(tls_node: Node) -> None:
    """A user who may read but not command stations sees the station's
    security state but gets 403 for a new secret."""
    from tests.world import make_group, make_user, token_for

    pk = await add_station("CP-1", profile=1)
    entity = await make_entity("Readers")
    group = await make_group(entity, scope="all", permissions=("stations:read",))
    token = await token_for(await make_user([entity], [group]), entity)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{tls_node.http_port}/api/v1", headers=bearer(token)
    ) as client:
        state = await client.get(f"/stations/{pk}/security")
        change = await client.post(f"/stations/{pk}/security/basic-auth", json={})
    assert state.status_code == 200 and state.json()["security_profile"] == 1
    assert change.status_code == 403
