"""Security of OCPP 2.0.1 stations: certificates, security events, the
basic-auth password and raising the security profile, against a real node
with real TLS sockets and certificates made in the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from csms.bootstrap import Node
from tests.e2e.conftest import StartNode
from tests.e2e.pki import Issued, TestCA, csr, make_pki
from tests.e2e.test_security_profiles import (
    SECRET,
    RawStation,
    add_station,
    basic,
    client_tls,
    open_station,
    refused,
    with_charger_answers,
    ws,
    wss,
)
from tests.world import admin_token, bearer, make_entity

PUBLIC_WSS_URL = "wss://csms.example.com:9443/ocpp/"


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
        ocpp_public_wss_url=PUBLIC_WSS_URL,
    )


@pytest.fixture
async def api(tls_node: Node) -> AsyncIterator[httpx.AsyncClient]:
    token = await admin_token(await make_entity("Operator"))
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{tls_node.http_port}/api/v1", headers=bearer(token), timeout=30
    ) as client:
        yield client


async def booted_201(node: Node, cp: str) -> RawStation:
    station = await open_station(ws(node, cp), basic(cp, SECRET), protocol="ocpp2.0.1")
    answer = await station.call(
        "BootNotification",
        {"chargingStation": {"model": "TLS", "vendorName": "Test"}, "reason": "PowerUp"},
    )
    assert answer["status"] == "Accepted"
    return station


def set_variable_result(component: str, variable: str, status: str) -> dict[str, Any]:
    return {
        "setVariableResult": [
            {
                "attributeStatus": status,
                "component": {"name": component},
                "variable": {"name": variable},
            }
        ]
    }


async def test_sign_certificate_201_sends_back_a_chain_from_the_ca(
    tls_node: Node,
    pki: dict[str, Any],
) -> None:
    """A 2.0.1 SignCertificate for a ChargingStationCertificate with the
    station's id as CN is Accepted and followed by CertificateSigned of that
    type, with a certificate issued by the configured CA."""
    await add_station("CS-1")
    station = await booted_201(tls_node, "CS-1")
    try:
        answer = await station.call(
            "SignCertificate",
            {"csr": csr("CS-1"), "certificateType": "ChargingStationCertificate"},
        )
        unique_id, action, payload = await station.next_call()
        await station.reply(unique_id, {"status": "Accepted"})
    finally:
        await station.close()
    assert answer == {"status": "Accepted"}
    assert action == "CertificateSigned"
    assert payload["certificateType"] == "ChargingStationCertificate"
    leaf = x509.load_pem_x509_certificates(payload["certificateChain"].encode())[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CS-1"
    leaf.verify_directly_issued_by(pki["ca"].certificate)


async def test_v2g_certificate_requests_are_rejected(tls_node: Node) -> None:
    """The CSMS's CA signs charging station certificates only: a CSR for a
    V2GCertificate is Rejected."""
    await add_station("CS-1")
    station = await booted_201(tls_node, "CS-1")
    try:
        answer = await station.call(
            "SignCertificate", {"csr": csr("CS-1"), "certificateType": "V2GCertificate"}
        )
    finally:
        await station.close()
    assert answer == {"status": "Rejected"}


async def test_security_event_201_is_stored(tls_node: Node, api: httpx.AsyncClient) -> None:
    """A 2.0.1 SecurityEventNotification is answered and listed by the API."""
    pk = await add_station("CS-1")
    station = await booted_201(tls_node, "CS-1")
    try:
        answer = await station.call(
            "SecurityEventNotification",
            {
                "type": "InvalidCsmsCertificate",
                "timestamp": datetime(2026, 2, 1, tzinfo=UTC).isoformat(),
            },
        )
    finally:
        await station.close()
    assert answer == {}
    page = (await api.get(f"/stations/{pk}/security-events")).json()
    assert [(e["type"], e["tech_info"]) for e in page["items"]] == [("InvalidCsmsCertificate", "")]


async def test_new_basic_auth_password_201(tls_node: Node, api: httpx.AsyncClient) -> None:
    """For a 2.0.1 station the new secret goes as SetVariables
    SecurityCtrlr.BasicAuthPassword, in clear (it travels inside the
    station's own connection), and connects once accepted."""
    pk = await add_station("CS-1")
    station = await booted_201(tls_node, "CS-1")
    try:
        response, calls = await with_charger_answers(
            station,
            api.post(f"/stations/{pk}/security/basic-auth", json={}),
            [set_variable_result("SecurityCtrlr", "BasicAuthPassword", "Accepted")],
        )
    finally:
        await station.close()
    result = response.json()
    assert result["stored"] is True
    [(action, sent)] = calls
    assert action == "SetVariables"
    [data] = sent["setVariableData"]
    assert data["component"]["name"] == "SecurityCtrlr"
    assert data["variable"]["name"] == "BasicAuthPassword"
    assert data["attributeValue"] == result["secret"]
    again = await open_station(
        ws(tls_node, "CS-1"), basic("CS-1", result["secret"]), protocol="ocpp2.0.1"
    )
    await again.close()


async def test_raising_the_profile_201_sends_the_network_profile_and_resets(
    tls_node: Node,
    pki: dict[str, Any],
    api: httpx.AsyncClient,
) -> None:
    """Raising a 2.0.1 station to profile 2 sends SetNetworkProfile with the
    public wss URL, makes that slot the first priority, resets the station,
    and from then on it is refused on ws and admitted over wss."""
    pk = await add_station("CS-1")
    station = await booted_201(tls_node, "CS-1")
    try:
        response, calls = await with_charger_answers(
            station,
            api.post(f"/stations/{pk}/security/profile", json={"profile": 2}),
            [
                {"status": "Accepted"},
                set_variable_result("OCPPCommCtrlr", "NetworkConfigurationPriority", "Accepted"),
                {"status": "Accepted"},
            ],
        )
    finally:
        await station.close()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] is True and body["security_profile"] == 2
    (network, profile), (variables, priority), (reset, kind) = calls
    assert network == "SetNetworkProfile"
    assert profile["connectionData"]["ocppCsmsUrl"] == PUBLIC_WSS_URL
    assert profile["connectionData"]["securityProfile"] == 2
    assert variables == "SetVariables"
    [data] = priority["setVariableData"]
    assert data["variable"]["name"] == "NetworkConfigurationPriority"
    assert data["attributeValue"] == str(profile["configurationSlot"])
    assert (reset, kind) == ("Reset", {"type": "OnIdle"})
    status, _ = await refused(ws(tls_node, "CS-1"), basic("CS-1", SECRET))
    assert status == 403
    secure = await open_station(
        wss(tls_node, "CS-1"), basic("CS-1", SECRET), client_tls(pki), protocol="ocpp2.0.1"
    )
    await secure.close()


async def test_a_refused_network_profile_stores_nothing(
    tls_node: Node, api: httpx.AsyncClient
) -> None:
    """If the station rejects the network profile, nothing more is sent and
    the stored profile stays 1."""
    pk = await add_station("CS-1")
    station = await booted_201(tls_node, "CS-1")
    try:
        response, calls = await with_charger_answers(
            station,
            api.post(f"/stations/{pk}/security/profile", json={"profile": 2}),
            [{"status": "Rejected"}],
        )
        # Nothing else was sent: a Heartbeat is answered with nothing queued.
        await station.call("Heartbeat", {})
        assert station.incoming.empty()
    finally:
        await station.close()
    body = response.json()
    assert body["stored"] is False and body["security_profile"] == 1
    assert [action for action, _ in calls] == ["SetNetworkProfile"]
    assert (await api.get(f"/stations/{pk}/security")).json()["security_profile"] == 1
