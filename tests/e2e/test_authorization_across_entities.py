"""Acceptance: a charger of entity A's station authorises a medium issued by
entity B only if A's access rules allow it, and blocking the medium counts
at the next Authorize, without a restart. A real node, a real OCPP 1.6
charger, the operators' REST API over HTTP."""

from __future__ import annotations

import httpx

from csms.bootstrap import Node
from csms.domain.model import AuthorizationStatus
from csms.storage.stations import PiccoloStationAdmin
from simulators.ocpp16 import connect16
from tests.e2e.conftest import ocpp_url
from tests.world import admin_token, bearer, make_entity


async def test_rules_and_blocking_count_at_the_next_authorize(node: Node) -> None:
    """Invalid while A's station admits only A's own media; Accepted once an
    allow rule for issuer B is added through the API; Blocked once the
    medium is blocked through the API: each at the very next Authorize."""
    operator = await make_entity("Operator")
    a = await make_entity("A", parent=operator)
    b = await make_entity("B", parent=operator)
    token = await admin_token(operator)
    await PiccoloStationAdmin().add("CP-A")

    async with (
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{node.http_port}/api/v1", headers=bearer(token)
        ) as api,
        connect16(ocpp_url(node), "CP-A") as charger,
    ):
        station = (await api.get("/stations", params={"q": "CP-A"})).json()["items"][0]
        owned = await api.patch(f"/stations/{station['id']}", json={"owner_entity_id": a})
        assert owned.status_code == 200, owned.text
        only_own = await api.post(
            f"/stations/{station['id']}/access-rules", json={"subject": "owner_entity"}
        )
        assert only_own.status_code == 201, only_own.text
        medium = await api.post("/media", json={"uid": "CARD-B", "issuing_entity_id": b})
        assert medium.status_code == 201, medium.text

        assert (await charger.boot(vendor="Acme", model="AC-22")).status == "Accepted"
        assert (await charger.authorize("CARD-B"))["status"] == "Invalid"
        # The domain's answer is 2.0.1's NotAtThisLocation; 1.6 spells it Invalid.
        verdict = await node.authorizer.authorize("CARD-B", station_pk=station["id"])
        assert verdict.status is AuthorizationStatus.NOT_AT_THIS_LOCATION

        partner = await api.post(
            f"/stations/{station['id']}/access-rules",
            json={"subject": "issuing_entity", "value": str(b), "note": "roaming partner B"},
        )
        assert partner.status_code == 201, partner.text
        assert (await charger.authorize("CARD-B"))["status"] == "Accepted"

        blocked = await api.patch(f"/media/{medium.json()['id']}", json={"status": "blocked"})
        assert blocked.status_code == 200, blocked.text
        assert (await charger.authorize("CARD-B"))["status"] == "Blocked"
        started = await charger.start_transaction(1, id_tag="CARD-B", meter_start=0)
        assert started.id_tag_info["status"] == "Blocked"

    # Without the API's announcements the cache would have answered from
    # what it loaded first: one load of the medium per change, no more.
    assert node.authorizer.loads["media"] == 2
